package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/normalize"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/services/bus"
	"github.com/tousu/tousu/services/stages/batcher"
	"github.com/tousu/tousu/services/stages/routing"
	"github.com/tousu/tousu/services/stages/stagetest"
)

// newTestStage opens a router stage on the state file in dir.
func newTestStage(tb testing.TB, dir string, edit func(*normalize.DedupeConfig)) (*routing.Stage, *stagetest.RecordingWriter) {
	tb.Helper()
	w := &stagetest.RecordingWriter{}
	s, _ := newTestRouter(tb, dir, w, nil, edit)
	return s, w
}

// newTestRouter opens a router stage writing to w on the state file in
// dir, closed when the test ends.
func newTestRouter(tb testing.TB, dir string, w *stagetest.RecordingWriter, changelog routing.ChangelogReader, edit func(*normalize.DedupeConfig)) (*routing.Stage, *routing.History) {
	tb.Helper()
	cfg := stagetest.DedupeConfig(tb, edit)
	state, err := routing.OpenHistory(filepath.Join(dir, "router-history.db"), cfg, time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { state.Close() })
	e, err := stagetest.Engine()
	if err != nil {
		tb.Fatal(err)
	}
	s := routing.New(routing.Deps{Writer: w, Policy: stagetest.StubPolicy{}, Engine: func(string) *router.Engine { return e }, State: state, Changelog: changelog,
		Dedupe: cfg, MaxRecordBytes: router.DefaultMaxRecordBytes, Logger: zap.NewNop()})
	return s, state
}

// testPipeline is the router stages of several instances and the batcher
// on one recording broker: run hands complaints to the router owning
// their customer's partition, then delivers what the stages wrote (batch
// candidates to the batcher, case actions to the owning router) until
// nothing is left, as the consumers would. The routers read router.state
// from the recording broker too.
type testPipeline struct {
	w       *stagetest.RecordingWriter
	routers []*routing.Stage
	states  []*routing.History // the routers' state files
	batcher *batcher.Stage
	// owners gives the router instance owning each partition; a test
	// moves partitions by changing it, as a rebalance does.
	owners    []int
	delivered int    // messages of w handed on
	close     func() // closes the state files, as a stopped process does
}

// testPartitions is how many partitions the test pipeline's topics have.
const testPartitions = 4

// partitionOf is the partition of a key.
func partitionOf(key []byte) int {
	h := fnv.New32a()
	h.Write(key)
	return int(h.Sum32() % testPartitions)
}

// CatchUp implements routing.ChangelogReader over the recorded router.state
// messages; a record's offset is its place among its partition's.
func (p *testPipeline) CatchUp(_ context.Context, partition int, from int64, fn func(bus.Message) error) (int64, error) {
	var offset int64
	for _, m := range p.w.Msgs {
		if m.Topic != bus.TopicRouterState || partitionOf(m.PartitionKey) != partition {
			continue
		}
		if offset >= from {
			m.Partition, m.Offset = partition, offset
			if err := fn(m); err != nil {
				return offset, err
			}
		}
		offset++
	}
	return max(offset, from), nil
}

// newTestPipeline starts n router instances and a batcher, their state
// files under dir (the same dir gives a restarted pipeline).
func newTestPipeline(tb testing.TB, dir string, n int, edit func(*normalize.DedupeConfig)) *testPipeline {
	tb.Helper()
	p := &testPipeline{w: &stagetest.RecordingWriter{}}
	for i := range n {
		d := filepath.Join(dir, fmt.Sprint("router", i))
		if err := os.MkdirAll(d, 0o700); err != nil {
			tb.Fatal(err)
		}
		s, state := newTestRouter(tb, d, p.w, p, edit)
		p.routers = append(p.routers, s)
		p.states = append(p.states, state)
	}
	for i := range testPartitions {
		p.owners = append(p.owners, i%n)
	}
	cfg := stagetest.DedupeConfig(tb, edit)
	b, err := batcher.New(batcher.Deps{Writer: p.w, Path: filepath.Join(dir, "batcher.db"), Dedupe: cfg, MaxRecordBytes: router.DefaultMaxRecordBytes})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { b.Close() })
	p.batcher = b
	p.close = func() {
		for _, st := range p.states {
			st.Close()
		}
		b.Close()
	}
	return p
}

// owner is the router instance owning a customer key.
func (p *testPipeline) owner(key []byte) int { return p.owners[partitionOf(key)] }

// run hands each call's complaints to their routers, one batch per router
// and call, and settles after each call.
func (p *testPipeline) run(tb testing.TB, calls ...[]normalize.Complaint) {
	tb.Helper()
	for _, call := range calls {
		var msgs []bus.Message
		for _, c := range call {
			msgs = append(msgs, stagetest.MessageOf(tb, c))
		}
		if err := p.route(msgs); err != nil {
			tb.Fatal(err)
		}
		p.settle(tb)
	}
}

// route hands messages keyed by customer to their routers, in order.
func (p *testPipeline) route(msgs []bus.Message) error {
	byRouter := make([][]bus.Message, len(p.routers))
	for _, m := range msgs {
		m.Partition = partitionOf(m.Key)
		i := p.owners[m.Partition]
		byRouter[i] = append(byRouter[i], m)
	}
	for i, ms := range byRouter {
		if len(ms) == 0 {
			continue
		}
		if err := p.routers[i].Batch(context.Background(), ms); err != nil {
			return err
		}
	}
	return nil
}

// settle delivers the written batch candidates, case actions and
// forwarded complaints until the stages write none.
func (p *testPipeline) settle(tb testing.TB) {
	tb.Helper()
	for p.delivered < len(p.w.Msgs) {
		msgs := p.w.Msgs[p.delivered:]
		p.delivered = len(p.w.Msgs)
		var candidates, actions []bus.Message
		for _, m := range msgs {
			switch m.Topic {
			case bus.TopicBatch:
				candidates = append(candidates, m)
			case bus.TopicActions, bus.TopicNormalized: // replies forwarded to their sender's router
				actions = append(actions, m)
			}
		}
		if len(candidates) > 0 {
			if err := p.batcher.Batch(context.Background(), candidates); err != nil {
				tb.Fatal(err)
			}
		}
		if err := p.route(actions); err != nil {
			tb.Fatal(err)
		}
	}
}

func TestRouterStageRelatedComplaints(t *testing.T) {
	const signal = "手机信号差了三天，打电话总是断线，严重影响工作"
	const outage = "我们小区从今天早上开始手机完全没有信号，打不了电话也上不了网"
	a1 := stagetest.Complaint(1, 1, signal, 0)
	a2 := stagetest.Complaint(1, 2, signal, 10*time.Millisecond)
	b1 := stagetest.Complaint(2, 1, signal, 5*time.Millisecond)
	later := stagetest.Complaint(1, 3, signal, 3*24*time.Hour)
	other := stagetest.Complaint(1, 4, "营业厅工作人员态度很差，办理销户被推诿三次", time.Minute)
	anon1 := stagetest.Complaint(-1, 1, signal, 0)
	anon2 := stagetest.Complaint(-2, 1, signal, time.Millisecond)
	var batch []normalize.Complaint
	for i := range 4 {
		batch = append(batch, stagetest.Complaint(10+i, 1, outage, time.Duration(i)*time.Minute))
	}

	type want struct {
		refs      int // references on the case of the first complaint
		revision  int64
		duplicate int
		urgency   int
	}
	tests := []struct {
		name      string
		calls     [][]normalize.Complaint
		cases     int // distinct cases
		messages  int // case messages written
		first     want
		urges     int
		batches   int
		batchSize int // cases flagged with a batch
	}{
		{"duplicate 10ms later, same call", [][]normalize.Complaint{{a1, a2}}, 1, 1, want{2, 1, 1, 0}, 0, 0, 0},
		{"duplicate 10ms later, next call", [][]normalize.Complaint{{a1}, {a2}}, 1, 2, want{2, 2, 1, 0}, 0, 0, 0},
		{"duplicate arriving first", [][]normalize.Complaint{{a2}, {a1}}, 1, 2, want{2, 2, 1, 0}, 0, 0, 0},
		{"redelivered in one call", [][]normalize.Complaint{{a1, a1}}, 1, 1, want{1, 1, 0, 0}, 0, 0, 0},
		{"redelivered later", [][]normalize.Complaint{{a1}, {a2}, {a1, a2}, {a2}}, 1, 2, want{2, 2, 1, 0}, 0, 0, 0},
		{"different customers, same text", [][]normalize.Complaint{{a1, b1}}, 2, 2, want{1, 1, 0, 0}, 0, 0, 0},
		{"repeat on an open case", [][]normalize.Complaint{{a1}, {later}}, 1, 2, want{2, 2, 0, 1}, 1, 0, 0},
		{"repeat redelivered", [][]normalize.Complaint{{a1}, {later}, {later}}, 1, 2, want{2, 2, 0, 1}, 1, 0, 0},
		{"another matter", [][]normalize.Complaint{{a1, other}}, 2, 2, want{1, 1, 0, 0}, 0, 0, 0},
		{"anonymous complaints are never related", [][]normalize.Complaint{{anon1, anon2}}, 2, 2, want{1, 1, 0, 0}, 0, 0, 0},
		// Each case of a batch is written again when the batcher's flag
		// reaches its router.
		{"batch of four customers", [][]normalize.Complaint{{batch[0]}, {batch[1]}, {batch[2]}, {batch[3]}}, 4, 4 + 4, want{1, 2, 0, 0}, 0, 1, 4},
		{"batch in one call, redelivered", [][]normalize.Complaint{batch, batch}, 4, 4 + 4, want{1, 2, 0, 0}, 0, 1, 4},
		{"batch redelivered later", [][]normalize.Complaint{batch, batch[:2]}, 4, 4 + 4, want{1, 2, 0, 0}, 0, 1, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Two router instances: the customers of a batch are spread
			// over them, and the batcher joins their complaints.
			p := newTestPipeline(t, t.TempDir(), 2, nil)
			if tt.batchSize > 0 {
				owners := map[int]bool{}
				for _, c := range batch {
					owners[p.owner([]byte(c.Customer.Key))] = true
				}
				if len(owners) != 2 {
					t.Fatalf("the batch's customers are all on one router: %v", owners)
				}
			}
			p.run(t, tt.calls...)
			w := p.w
			cases, n := w.Cases(t)
			if len(cases) != tt.cases || n != tt.messages {
				t.Fatalf("%d cases in %d messages, want %d in %d: %+v", len(cases), n, tt.cases, tt.messages, cases)
			}
			first := tt.calls[0][0]
			var c router.Case
			for _, cs := range cases {
				if slices.Contains(cs.Complaints, first.ID) {
					c = cs
				}
			}
			got := want{len(c.References), c.Revision, c.Duplicates, c.Urgency}
			if got != tt.first {
				t.Errorf("case of the first complaint: %+v, want %+v (%+v)", got, tt.first, c)
			}
			if len(c.References) != len(c.Complaints) || len(c.Contacts) != len(c.References)-1 {
				t.Errorf("references %v, complaints %v, contacts %d", c.References, c.Complaints, len(c.Contacts))
			}
			var urges, batches int
			var batchID string
			for _, n := range w.Notices(t) {
				switch n.Kind {
				case router.NoticeUrge:
					urges++
					if n.Case != c.ID || n.Urgency != 1 || n.Route.Owner != "张三" || n.V != router.NoticeVersion {
						t.Errorf("urge %+v", n)
					}
				case router.NoticeBatch:
					batches++
					batchID = n.Batch
					if n.Customers != 3 || len(n.Cases) != 3 || n.Basis != router.BasisBatch {
						t.Errorf("batch notice %+v, want the three cases that formed it", n)
					}
				}
			}
			if urges != tt.urges || batches != tt.batches {
				t.Errorf("%d urges and %d batch notices, want %d and %d", urges, batches, tt.urges, tt.batches)
			}
			flagged := map[string]int{}
			for _, cs := range cases {
				if cs.Batch != "" {
					flagged[cs.Batch]++
				}
			}
			if tt.batchSize > 0 && (len(flagged) != 1 || flagged[batchID] != tt.batchSize) {
				t.Errorf("batch flags %v, want %d cases of the notice's batch %q", flagged, tt.batchSize, batchID)
			}
			if tt.batchSize == 0 && len(flagged) > 0 {
				t.Errorf("unexpected batch flags %v", flagged)
			}
		})
	}
}

func TestRouterStageRepeatAfterResolution(t *testing.T) {
	const text = "小区电梯坏了一个星期，物业一直说在修，老人上下楼很困难"
	p := newTestPipeline(t, t.TempDir(), 1, nil)
	state, w := p.states[0], p.w
	first := stagetest.Complaint(1, 1, text, 0)
	p.run(t, []normalize.Complaint{first})

	// Later, an agent resolves the case.
	resolve := router.Action{V: router.ActionVersion, ID: "a1", Case: first.Reference, Customer: first.Customer.Key,
		Kind: router.ActionResolve, Actor: "1001", At: stagetest.T0.Add(24 * time.Hour)}
	if err := p.route([]bus.Message{stagetest.ActionMessage(t, resolve)}); err != nil {
		t.Fatal(err)
	}
	if h, err := state.Load(context.Background(), first.Customer.Key); err != nil || h.Cases[0].State != normalize.CaseResolved {
		t.Fatalf("history after resolving: %+v %v", h, err)
	}

	again := stagetest.Complaint(1, 2, text, 5*24*time.Hour)
	p.run(t, []normalize.Complaint{again})
	cases, _ := w.Cases(t)
	c, ok := cases[again.Reference]
	if len(cases) != 2 || !ok || !slices.Equal(c.LinkedCases, []string{first.Reference}) || c.Revision != 1 {
		t.Fatalf("cases %+v, want a new case linked to %s", cases, first.Reference)
	}
	if old := cases[first.Reference]; old.Revision != 2 || len(old.References) != 1 {
		t.Errorf("the resolved case (revision 2) changed: %+v", old)
	}
	if i := slices.IndexFunc(c.Explanation, func(x router.Explanation) bool { return x.Field == "linked_case" }); i < 0 || !strings.Contains(c.Explanation[i].Basis, "一、㈡2⑵") {
		t.Errorf("explanation %+v", c.Explanation)
	}
	// A third complaint goes to the new, open case.
	third := stagetest.Complaint(1, 3, text, 5*24*time.Hour+time.Minute)
	p.run(t, []normalize.Complaint{third})
	cases, _ = w.Cases(t)
	if c := cases[again.Reference]; c.Revision != 2 || !slices.Contains(c.References, third.Reference) {
		t.Errorf("third complaint: %+v", c)
	}
}

// TestRouterStageRestart: routers and batcher restarted between the
// complaints of a batch go on with their state: a duplicate joins its
// case, and the third customer forms the batch with the first two.
func TestRouterStageRestart(t *testing.T) {
	const text = "物业擅自提高停车费，从每月200元涨到350元，没有经过业主大会表决"
	dir := t.TempDir()
	p := newTestPipeline(t, dir, 2, nil)
	p.run(t, []normalize.Complaint{stagetest.Complaint(1, 1, text, 0)}, []normalize.Complaint{stagetest.Complaint(2, 1, text, time.Minute)})
	p.close()

	p = newTestPipeline(t, dir, 2, nil)
	dup := stagetest.Complaint(1, 2, text, 2*time.Minute)
	third := stagetest.Complaint(3, 1, text, 3*time.Minute)
	p.run(t, []normalize.Complaint{dup, third})
	cases, _ := p.w.Cases(t)
	first := stagetest.Complaint(1, 1, text, 0).Reference
	c := cases[first]
	if c.Revision != 3 || !slices.Contains(c.References, dup.Reference) || c.Duplicates != 1 {
		t.Errorf("after restart, the duplicate (revision 2) and the batch flag (revision 3): %+v", c)
	}
	id := normalize.BatchID(stagetest.Complaint(1, 1, text, 0).ID)
	second := cases[stagetest.Complaint(2, 1, text, 0).Reference]
	if len(cases) != 3 || c.Batch != id || cases[third.Reference].Batch != id || second.Batch != id || second.Revision != 2 {
		t.Errorf("after restart, the cases written: %+v", cases)
	}
	if n := p.w.Notices(t); len(n) != 1 || n[0].Kind != router.NoticeBatch || n[0].Customers != 3 || len(n[0].Cases) != 3 || n[0].Batch != id {
		t.Errorf("notices %+v", n)
	}
}

// TestRouterStageFailedWriteChangesNothing: a router call and a batcher
// call whose broker write fails change no state; handled again, they give
// the same cases, revisions and one batch notice.
func TestRouterStageFailedWriteChangesNothing(t *testing.T) {
	const text = "手机信号差了三天，打电话总是断线，严重影响工作"
	p := newTestPipeline(t, t.TempDir(), 1, nil)
	s, w := p.routers[0], p.w
	ctx := context.Background()
	p.run(t, []normalize.Complaint{stagetest.Complaint(1, 1, text, 0), stagetest.Complaint(2, 1, text, 0)})
	w.Fail = errors.New("broker down")
	calls := []normalize.Complaint{stagetest.Complaint(1, 2, text, time.Second), stagetest.Complaint(3, 1, text, time.Second)}
	msgs := []bus.Message{stagetest.MessageOf(t, calls[0]), stagetest.MessageOf(t, calls[1])}
	if err := s.Batch(ctx, msgs); err == nil {
		t.Fatal("no error with the broker down")
	}
	w.Fail = nil
	if err := s.Batch(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	// The batcher's write fails once too.
	var candidates []bus.Message
	for _, m := range w.Msgs[p.delivered:] {
		if m.Topic == bus.TopicBatch {
			candidates = append(candidates, m)
		}
	}
	w.Fail = errors.New("broker down")
	if err := p.batcher.Batch(ctx, candidates); err == nil {
		t.Fatal("batcher: no error with the broker down")
	}
	w.Fail = nil
	p.settle(t)

	cases, n := w.Cases(t)
	first := cases[stagetest.Complaint(1, 1, text, 0).Reference]
	// 2 opened; the duplicate and the third customer's case; three flags.
	if first.Revision != 3 || len(first.References) != 2 || first.Batch == "" || n != 2+2+3 {
		t.Errorf("after failed and good writes: %d messages, first case %+v", n, first)
	}
	if notices := w.Notices(t); len(notices) != 1 || notices[0].Kind != router.NoticeBatch {
		t.Errorf("notices %+v, want one batch", notices)
	}
}

func TestRouterStageRejectsBadPayload(t *testing.T) {
	s, w := newTestStage(t, t.TempDir(), nil)
	for _, v := range []string{"not json", `{"v":99,"id":"x"}`} {
		err := s.Handle(context.Background(), bus.Message{Topic: bus.TopicNormalized, Key: []byte("k"), Value: []byte(v)})
		if !bus.IsRejected(err) {
			t.Errorf("%s: %v, want a rejection", v, err)
		}
	}
	if len(w.Msgs) != 0 {
		t.Errorf("wrote %d messages", len(w.Msgs))
	}
}

// TestRouterStageTakeover: when partitions move to another router
// instance (a rebalance after a crash, or scaling), the new owner goes on
// with their customers' cases from router.state: an agent's action
// applies at the next revision, and when the partitions move back the
// first owner catches up in turn; a later complaint of each customer knows
// their case was resolved.
func TestRouterStageTakeover(t *testing.T) {
	const text = "物业擅自提高停车费，从每月200元涨到350元，没有经过业主大会表决"
	p := newTestPipeline(t, t.TempDir(), 2, func(c *normalize.DedupeConfig) { c.BatchDisabled = true })
	var firsts []normalize.Complaint
	for i := range 8 {
		firsts = append(firsts, stagetest.Complaint(i+1, 1, fmt.Sprint(text, "（", i, "号楼）"), time.Duration(i)*time.Minute))
	}
	p.run(t, firsts)
	act := func(c normalize.Complaint, kind router.ActionKind, n int) bus.Message {
		return stagetest.ActionMessage(t, router.Action{V: router.ActionVersion, ID: fmt.Sprint(kind, n), Case: c.Reference, Customer: c.Customer.Key,
			Kind: kind, Actor: "1001", At: stagetest.T0.Add(time.Hour)})
	}
	moves := []struct {
		name  string
		owner int
		kind  router.ActionKind
	}{{"router 0 takes every partition", 0, router.ActionTake}, {"router 1 takes them back", 1, router.ActionResolve}}
	for _, mv := range moves {
		for i := range p.owners {
			p.owners[i] = mv.owner
		}
		var msgs []bus.Message
		for i, c := range firsts {
			msgs = append(msgs, act(c, mv.kind, i))
		}
		if err := p.route(msgs); err != nil {
			t.Fatalf("%s: %v", mv.name, err)
		}
		p.settle(t)
	}
	// Each customer complains again after the moves.
	var dups []normalize.Complaint
	for i, c := range firsts {
		dup := c
		dup.ID, dup.ReceivedAt = fmt.Sprintf("api:dup-%d", i), c.ReceivedAt.Add(2*time.Hour)
		dup.Reference = ingest.ReferenceFor(dup.ID)
		dups = append(dups, dup)
	}
	p.owners[0] = 0 // and one partition moves once more
	p.run(t, dups)

	cases, _ := p.w.Cases(t) // fails on a revision written twice or backwards
	if len(cases) != 2*len(firsts) {
		t.Fatalf("%d cases, want %d", len(cases), 2*len(firsts))
	}
	for i, c := range firsts {
		// Opened (1), taken (2), resolved (3), whichever router held it.
		if cs := cases[c.Reference]; cs.Revision != 3 || cs.Status != router.StatusResolved || cs.Assignee != "1001" {
			t.Errorf("case %s: revision %d, status %s, assignee %q; want 3, resolved, 1001", cs.ID, cs.Revision, cs.Status, cs.Assignee)
		}
		// The same matter again after resolution: a new case linked to
		// the resolved one, which takes the customer's history.
		if again := cases[dups[i].Reference]; !slices.Equal(again.LinkedCases, []string{c.Reference}) {
			t.Errorf("customer %s complained again: case %s linked to %v, want %s", c.Customer.Key, again.ID, again.LinkedCases, c.Reference)
		}
	}
}

// withThread sets the thread the normalizer would find for case.
func withThread(c normalize.Complaint, cs router.Case, state normalize.CaseState) normalize.Complaint {
	c.Thread = &normalize.Thread{Case: cs.ID, Customer: cs.Customer.Key, State: state, By: normalize.ThreadBySubject, Ref: cs.ID}
	return c
}

// TestRouterStageRepliesFromAnotherAddress: a reply keyed by the case's
// customer joins the open case once and urges its owner; a reply the
// router cannot attach (the case finished, or not held) goes back keyed by
// its sender, whose router opens a case linked to the answered one.
func TestRouterStageRepliesFromAnotherAddress(t *testing.T) {
	const text = "小区电梯坏了一个星期，物业一直说在修，老人上下楼很困难"
	p := newTestPipeline(t, t.TempDir(), 2, nil)
	first := stagetest.Complaint(1, 1, text, 0)
	p.run(t, []normalize.Complaint{first})
	cases, _ := p.w.Cases(t)
	cs := cases[first.Reference]

	reply := withThread(stagetest.ReplyComplaint(2, 1, "回复："+cs.ID, "", time.Hour), cs, normalize.CaseOpen)
	p.run(t, []normalize.Complaint{reply}, []normalize.Complaint{reply}) // the second is a redelivery
	cases, n := p.w.Cases(t)
	got := cases[cs.ID]
	if len(cases) != 1 || n != 2 || got.Urgency != 1 || len(got.Contacts) != 1 || got.Contacts[0].Kind != router.ContactReply ||
		got.Contacts[0].From.Key != reply.Customer.Key || !slices.Contains(got.References, reply.Reference) {
		t.Fatalf("after the reply: %d case messages, cases %+v", n, cases)
	}
	if urges := p.w.Notices(t); len(urges) != 1 || urges[0].Kind != router.NoticeUrge || urges[0].Case != cs.ID {
		t.Errorf("notices %+v, want one urge", urges)
	}

	// The case is resolved; a reply the normalizer still saw open is sent
	// on to its sender's router.
	resolve := router.Action{V: router.ActionVersion, ID: "a1", Case: cs.ID, Customer: cs.Customer.Key, Kind: router.ActionResolve, Actor: "1001", At: stagetest.T0.Add(2 * time.Hour)}
	if err := p.route([]bus.Message{stagetest.ActionMessage(t, resolve)}); err != nil {
		t.Fatal(err)
	}
	late := withThread(stagetest.ReplyComplaint(3, 1, "回复："+cs.ID, "", 3*time.Hour), cs, normalize.CaseOpen)
	// A reply to a case no router holds is sent on too.
	unknown := withThread(stagetest.ReplyComplaint(4, 1, "回复：TS0000000000", "", 3*time.Hour), router.Case{ID: "TS0000000000", Customer: normalize.Customer{Key: "phone:+8613900000099"}}, normalize.CaseOpen)
	p.run(t, []normalize.Complaint{late, unknown})
	cases, _ = p.w.Cases(t)
	for _, tc := range []struct {
		c      normalize.Complaint
		linked string
	}{{late, cs.ID}, {unknown, "TS0000000000"}} {
		opened, ok := cases[tc.c.Reference]
		if !ok || !slices.Equal(opened.LinkedCases, []string{tc.linked}) || opened.Customer.Key != tc.c.Customer.Key {
			t.Errorf("reply %s: case %+v, want its own case linked to %s", tc.c.ID, opened, tc.linked)
		}
	}
	if c := cases[cs.ID]; len(c.Contacts) != 1 || c.Status != router.StatusResolved {
		t.Errorf("the resolved case took a reply: %+v", c)
	}
}

// TestRouterRejectionMasksCustomers: the error a router rejects a
// mis-keyed action with, which the consumer logs and dead-letters, names
// the customers masked.
func TestRouterRejectionMasksCustomers(t *testing.T) {
	p := newTestPipeline(t, t.TempDir(), 1, nil)
	first := stagetest.Complaint(1, 1, "小区电梯坏了一个星期", 0)
	p.run(t, []normalize.Complaint{first})
	a := router.Action{V: router.ActionVersion, ID: "a1", Case: first.Reference, Customer: "phone:+8613812345678", Kind: router.ActionTake,
		Actor: "1001", At: stagetest.T0.Add(time.Hour)}
	err := p.routers[0].Handle(context.Background(), stagetest.ActionMessage(t, a))
	if !bus.IsRejected(err) {
		t.Fatalf("a mis-keyed action: %v, want it rejected", err)
	}
	for _, raw := range []string{"13812345678", strings.TrimPrefix(first.Customer.Key, "phone:+86")} {
		if strings.Contains(err.Error(), raw) {
			t.Errorf("the rejection names %q: %v", raw, err)
		}
	}
}
