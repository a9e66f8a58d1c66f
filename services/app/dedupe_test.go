package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/internal/polltest"
	"github.com/tousu/tousu/normalize"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/services/bus"
)

// recordingWriter stands in for the broker: it keeps what was written, or
// fails while fail is set.
type recordingWriter struct {
	mu   sync.Mutex
	msgs []bus.Message
	fail error
}

func (w *recordingWriter) Write(_ context.Context, msgs ...bus.Message) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fail != nil {
		return w.fail
	}
	w.msgs = append(w.msgs, msgs...)
	return nil
}

// cases returns the latest written revision of every case, and how many
// case messages were written.
func (w *recordingWriter) cases(tb testing.TB) (map[string]router.Case, int) {
	tb.Helper()
	out := map[string]router.Case{}
	n := 0
	for _, m := range w.msgs {
		if m.Topic != bus.TopicCases {
			continue
		}
		n++
		var c router.Case
		if err := json.Unmarshal(m.Value, &c); err != nil {
			tb.Fatal(err)
		}
		if string(m.Key) != c.ID {
			tb.Errorf("case %s written with key %s", c.ID, m.Key)
		}
		if prev, ok := out[c.ID]; ok && c.Revision <= prev.Revision {
			tb.Errorf("case %s: revision %d written after %d", c.ID, c.Revision, prev.Revision)
		}
		out[c.ID] = c
	}
	return out, n
}

func (w *recordingWriter) notices(tb testing.TB) []router.Notice {
	tb.Helper()
	var out []router.Notice
	for _, m := range w.msgs {
		if m.Topic != bus.TopicAlerts {
			continue
		}
		var n router.Notice
		if err := json.Unmarshal(m.Value, &n); err != nil {
			tb.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

// stubPolicy opens a bare case, so these tests depend on no policy pack.
type stubPolicy struct{}

func (stubPolicy) Open(c normalize.Complaint, _ time.Time) router.Case {
	return router.Case{V: router.SchemaVersion, ID: c.Reference, Revision: 1, References: []string{c.Reference}, Complaints: []string{c.ID},
		Channel: c.Channel, Customer: c.Customer, Description: c.Description, Status: router.StatusOpen,
		ReceivedAt: c.ReceivedAt, UpdatedAt: c.ReceivedAt, Route: router.Route{Department: "客服部", Owner: "张三"}}
}

var stageT0 = time.Now().UTC().Truncate(time.Second)

// testComplaint is complaint n of a customer (phone:N), received at
// stageT0+at.
func testComplaint(customer, n int, text string, at time.Duration) normalize.Complaint {
	id := fmt.Sprintf("api:c%d-%d", customer, n)
	key := fmt.Sprintf("phone:+86139%08d", customer)
	if customer < 0 {
		key = "anonymous:" + id
	}
	return normalize.Complaint{V: normalize.SchemaVersion, ID: id, Reference: ingest.ReferenceFor(id), Channel: ingest.ChannelAPI,
		ReceivedAt: stageT0.Add(at), Customer: normalize.Customer{Key: key}, Subject: "投诉", Description: text}
}

func messageOf(tb testing.TB, c normalize.Complaint) bus.Message {
	tb.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		tb.Fatal(err)
	}
	return bus.Message{Topic: bus.TopicNormalized, Key: []byte(partitionKey(c)), Value: b}
}

// testEngine is a shipped pack's engine: the router applies the batcher's
// flag_batch actions with it.
var testEngine = sync.OnceValues(func() (*router.Engine, error) { return router.LoadEngine(router.BuiltinPrefix + "property") })

// newTestStage opens a router stage on the state file in dir.
func newTestStage(tb testing.TB, dir string, edit func(*normalize.DedupeConfig)) (*routerStage, *recordingWriter) {
	tb.Helper()
	cfg := testDedupeConfig(tb, edit)
	state, err := openHistory(filepath.Join(dir, "router-history.db"), cfg, time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { state.Close() })
	e, err := testEngine()
	if err != nil {
		tb.Fatal(err)
	}
	w := &recordingWriter{}
	return &routerStage{out: w, policy: stubPolicy{}, engine: func(string) *router.Engine { return e }, state: state, cfg: cfg, maxRecordBytes: router.DefaultMaxRecordBytes, writer: newWriterID(),
		now: time.Now, logger: zap.NewNop(), metrics: newRouterMetrics(nil)}, w
}

func testDedupeConfig(tb testing.TB, edit func(*normalize.DedupeConfig)) normalize.DedupeConfig {
	tb.Helper()
	cfg := normalize.DedupeConfig{BatchMinCustomers: 3}
	if edit != nil {
		edit(&cfg)
	}
	cfg.Provision()
	if err := cfg.Validate(); err != nil {
		tb.Fatal(err)
	}
	return cfg
}

// testPipeline is the router stages of several instances and the batcher
// on one recording broker: run hands complaints to the router owning
// their customer's partition, then delivers what the stages wrote (batch
// candidates to the batcher, case actions to the owning router) until
// nothing is left, as the consumers would. The routers read router.state
// from the recording broker too.
type testPipeline struct {
	w       *recordingWriter
	routers []*routerStage
	batcher *batcherStage
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

// CatchUp implements changelogReader over the recorded router.state
// messages; a record's offset is its place among its partition's.
func (p *testPipeline) CatchUp(_ context.Context, partition int, from int64, fn func(bus.Message) error) (int64, error) {
	var offset int64
	for _, m := range p.w.msgs {
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
	p := &testPipeline{w: &recordingWriter{}}
	for i := range n {
		d := filepath.Join(dir, fmt.Sprint("router", i))
		if err := os.MkdirAll(d, 0o700); err != nil {
			tb.Fatal(err)
		}
		s, _ := newTestStage(tb, d, edit)
		s.out, s.changelog = p.w, p
		p.routers = append(p.routers, s)
	}
	for i := range testPartitions {
		p.owners = append(p.owners, i%n)
	}
	cfg := testDedupeConfig(tb, edit)
	store, err := openBatchStore(filepath.Join(dir, "batcher.db"), cfg.BatchWindow, time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { store.Close() })
	p.batcher = newBatcherStage(p.w, store, cfg, router.DefaultMaxRecordBytes, nil)
	p.close = func() {
		for _, r := range p.routers {
			r.state.Close()
		}
		store.Close()
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
			msgs = append(msgs, messageOf(tb, c))
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
		if err := p.routers[i].batch(context.Background(), ms); err != nil {
			return err
		}
	}
	return nil
}

// settle delivers the written batch candidates, case actions and
// forwarded complaints until the stages write none.
func (p *testPipeline) settle(tb testing.TB) {
	tb.Helper()
	for p.delivered < len(p.w.msgs) {
		msgs := p.w.msgs[p.delivered:]
		p.delivered = len(p.w.msgs)
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
			if err := p.batcher.batch(context.Background(), candidates); err != nil {
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
	a1 := testComplaint(1, 1, signal, 0)
	a2 := testComplaint(1, 2, signal, 10*time.Millisecond)
	b1 := testComplaint(2, 1, signal, 5*time.Millisecond)
	later := testComplaint(1, 3, signal, 3*24*time.Hour)
	other := testComplaint(1, 4, "营业厅工作人员态度很差，办理销户被推诿三次", time.Minute)
	anon1 := testComplaint(-1, 1, signal, 0)
	anon2 := testComplaint(-2, 1, signal, time.Millisecond)
	var batch []normalize.Complaint
	for i := range 4 {
		batch = append(batch, testComplaint(10+i, 1, outage, time.Duration(i)*time.Minute))
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
			cases, n := w.cases(t)
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
			for _, n := range w.notices(t) {
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
	s, w := p.routers[0], p.w
	first := testComplaint(1, 1, text, 0)
	p.run(t, []normalize.Complaint{first})

	// Later, an agent resolves the case.
	resolve := router.Action{V: router.ActionVersion, ID: "a1", Case: first.Reference, Customer: first.Customer.Key,
		Kind: router.ActionResolve, Actor: "1001", At: stageT0.Add(24 * time.Hour)}
	if err := p.route([]bus.Message{actionMessage(t, resolve)}); err != nil {
		t.Fatal(err)
	}
	if h, err := s.state.Load(context.Background(), first.Customer.Key); err != nil || h.Cases[0].State != normalize.CaseResolved {
		t.Fatalf("history after resolving: %+v %v", h, err)
	}

	again := testComplaint(1, 2, text, 5*24*time.Hour)
	p.run(t, []normalize.Complaint{again})
	cases, _ := w.cases(t)
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
	third := testComplaint(1, 3, text, 5*24*time.Hour+time.Minute)
	p.run(t, []normalize.Complaint{third})
	cases, _ = w.cases(t)
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
	p.run(t, []normalize.Complaint{testComplaint(1, 1, text, 0)}, []normalize.Complaint{testComplaint(2, 1, text, time.Minute)})
	p.close()

	p = newTestPipeline(t, dir, 2, nil)
	dup := testComplaint(1, 2, text, 2*time.Minute)
	third := testComplaint(3, 1, text, 3*time.Minute)
	p.run(t, []normalize.Complaint{dup, third})
	cases, _ := p.w.cases(t)
	first := testComplaint(1, 1, text, 0).Reference
	c := cases[first]
	if c.Revision != 3 || !slices.Contains(c.References, dup.Reference) || c.Duplicates != 1 {
		t.Errorf("after restart, the duplicate (revision 2) and the batch flag (revision 3): %+v", c)
	}
	id := normalize.BatchID(testComplaint(1, 1, text, 0).ID)
	second := cases[testComplaint(2, 1, text, 0).Reference]
	if len(cases) != 3 || c.Batch != id || cases[third.Reference].Batch != id || second.Batch != id || second.Revision != 2 {
		t.Errorf("after restart, the cases written: %+v", cases)
	}
	if n := p.w.notices(t); len(n) != 1 || n[0].Kind != router.NoticeBatch || n[0].Customers != 3 || len(n[0].Cases) != 3 || n[0].Batch != id {
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
	p.run(t, []normalize.Complaint{testComplaint(1, 1, text, 0), testComplaint(2, 1, text, 0)})
	w.fail = errors.New("broker down")
	calls := []normalize.Complaint{testComplaint(1, 2, text, time.Second), testComplaint(3, 1, text, time.Second)}
	msgs := []bus.Message{messageOf(t, calls[0]), messageOf(t, calls[1])}
	if err := s.batch(ctx, msgs); err == nil {
		t.Fatal("no error with the broker down")
	}
	w.fail = nil
	if err := s.batch(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	// The batcher's write fails once too.
	var candidates []bus.Message
	for _, m := range w.msgs[p.delivered:] {
		if m.Topic == bus.TopicBatch {
			candidates = append(candidates, m)
		}
	}
	w.fail = errors.New("broker down")
	if err := p.batcher.batch(ctx, candidates); err == nil {
		t.Fatal("batcher: no error with the broker down")
	}
	w.fail = nil
	p.settle(t)

	cases, n := w.cases(t)
	first := cases[testComplaint(1, 1, text, 0).Reference]
	// 2 opened; the duplicate and the third customer's case; three flags.
	if first.Revision != 3 || len(first.References) != 2 || first.Batch == "" || n != 2+2+3 {
		t.Errorf("after failed and good writes: %d messages, first case %+v", n, first)
	}
	if notices := w.notices(t); len(notices) != 1 || notices[0].Kind != router.NoticeBatch {
		t.Errorf("notices %+v, want one batch", notices)
	}
}

func TestRouterStageRejectsBadPayload(t *testing.T) {
	s, w := newTestStage(t, t.TempDir(), nil)
	for _, v := range []string{"not json", `{"v":99,"id":"x"}`} {
		err := s.handle(context.Background(), bus.Message{Topic: bus.TopicNormalized, Key: []byte("k"), Value: []byte(v)})
		if !bus.IsRejected(err) {
			t.Errorf("%s: %v, want a rejection", v, err)
		}
	}
	if len(w.msgs) != 0 {
		t.Errorf("wrote %d messages", len(w.msgs))
	}
}

// postComplaint submits a complaint through the JSON API without an
// idempotency key; safe to call from any goroutine.
func postComplaint(r *running, phone, text string) (string, error) {
	body, _ := json.Marshal(map[string]string{"name": "李四", "phone": phone, "subject": "投诉", "description": text})
	req, err := http.NewRequest(http.MethodPost, r.base+"/api/v1/complaints", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out struct{ Reference string }
	if err := json.Unmarshal(b, &out); err != nil || resp.StatusCode != http.StatusAccepted || out.Reference == "" {
		return "", fmt.Errorf("submit: status %d: %s", resp.StatusCode, b)
	}
	return out.Reference, nil
}

// submitConcurrently submits one complaint per phone, each started 10ms
// after the previous one, and returns the references in phone order.
func submitConcurrently(tb testing.TB, r *running, phones []string, text string) []string {
	tb.Helper()
	refs := make([]string, len(phones))
	errs := make([]error, len(phones))
	var wg sync.WaitGroup
	for i, phone := range phones {
		wg.Add(1)
		go func() {
			defer wg.Done()
			refs[i], errs[i] = postComplaint(r, phone, text)
		}()
		time.Sleep(10 * time.Millisecond)
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		tb.Fatal(err)
	}
	return refs
}

// waitCase polls the search API by reference until the case found
// satisfies ok. The wait bounds a pipeline that never delivers; it is not
// a speed assertion.
func (r *running) waitCase(tb testing.TB, reference string, ok func(router.Case) bool) router.Case {
	tb.Helper()
	var found []router.Case
	if !polltest.Within(polltest.Patience, func() bool {
		found = r.search(tb, url.Values{"reference": {reference}}).Hits
		return len(found) == 1 && ok(found[0])
	}) {
		var hits []string
		for _, c := range found {
			hits = append(hits, fmt.Sprintf("%s rev %d refs %v batch %q", c.ID, c.Revision, c.References, c.Batch))
		}
		tb.Fatalf("reference %s: the case never got there: %v", reference, hits)
	}
	return found[0]
}

// TestEndToEndDuplicateSubmissions: two identical submissions from one
// phone, 10ms apart and concurrent, through the JSON API without
// idempotency keys (so two complaints with different ids), give one case
// holding both references, and the customer's status lookup by the second
// reference finds it.
func TestEndToEndDuplicateSubmissions(t *testing.T) {
	r := startTousu(t, t.TempDir())
	const text = "家里宽带从昨晚开始断网，光猫红灯一直闪，打客服电话排了一个小时没人接"
	refs := submitConcurrently(t, r, []string{"13912345678", "139 1234 5678"}, text)
	if refs[0] == refs[1] {
		t.Fatalf("both submissions got reference %s: not two complaints", refs[0])
	}
	both := func(c router.Case) bool {
		return slices.Contains(c.References, refs[0]) && slices.Contains(c.References, refs[1])
	}
	c := r.waitCase(t, refs[1], both)
	if again := r.waitCase(t, refs[0], both); again.ID != c.ID {
		t.Errorf("reference %s finds case %s, reference %s finds %s", refs[0], again.ID, refs[1], c.ID)
	}
	if c.Duplicates != 1 || len(c.Complaints) != 2 || len(c.Contacts) != 1 || c.Revision != 2 && c.Revision != 1 {
		t.Errorf("case %+v", c)
	}
	if i := slices.IndexFunc(c.Explanation, func(x router.Explanation) bool { return x.Field == "duplicate" }); i < 0 {
		t.Errorf("no duplicate explanation: %+v", c.Explanation)
	}
	if res := r.search(t, url.Values{"q": {"光猫红灯"}}); res.Total != 1 {
		t.Errorf("%d cases for the text, want 1: %+v", res.Total, res.Hits)
	}

	// The customer's status page, with their own (second) reference.
	s := newFormSession(t, r.base)
	status := s.get(t, "/status")
	status["reference"], status["digits"] = refs[1], "5678"
	if code, page := s.post(t, "/status", status, "", nil); code != http.StatusOK || !strings.Contains(page, "已受理") || !strings.Contains(page, refs[1]) {
		t.Errorf("status page for %s: %d %s", refs[1], code, page)
	}
}

// TestEndToEndBatch: customers filing the same complaint form one batch
// incident; every case is flagged with it and it is alerted once.
func TestEndToEndBatch(t *testing.T) {
	r := startTousu(t, t.TempDir(), func(c *Config) { c.Normalize.Dedupe.BatchMinCustomers = 3 })
	group := fmt.Sprintf("test-alerts-%d", time.Now().UnixNano())
	notices := make(chan router.Notice, 16)
	ctx, cancel := context.WithCancel(context.Background())
	consumer, err := bus.NewConsumer(r.cfg.Bus, bus.ConsumerConfig{Group: group, Topic: bus.TopicAlerts}, r.producer,
		func(_ context.Context, m bus.Message) error {
			var n router.Notice
			if err := json.Unmarshal(m.Value, &n); err != nil {
				return err
			}
			notices <- n
			return nil
		}, zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	go consumer.Run(ctx)
	t.Cleanup(func() { cancel(); consumer.Close() })

	const text = "我们小区从今天早上开始手机完全没有信号，打不了电话也上不了网，请尽快处理"
	refs := submitConcurrently(t, r, []string{"13900000001", "13900000002", "13900000003", "13900000004"}, text)
	var batch string
	for _, ref := range refs {
		c := r.waitCase(t, ref, func(c router.Case) bool { return c.Batch != "" })
		if batch == "" {
			batch = c.Batch
		}
		if c.Batch != batch || c.ID != ref {
			t.Errorf("case %s: batch %q, want %q", c.ID, c.Batch, batch)
		}
	}

	// Read the alerts topic to its end: the notices were written before
	// the flagged cases, so they are all there.
	var lag map[int]int64
	if !polltest.Within(polltest.Patience, func() bool {
		lag, err = bus.Lag(context.Background(), r.cfg.Bus, group, bus.TopicAlerts)
		var total int64
		for _, n := range lag {
			total += n
		}
		return err == nil && total == 0
	}) {
		t.Fatalf("alerts not consumed: lag %v %v", lag, err)
	}
	var got []router.Notice
	for len(notices) > 0 {
		got = append(got, <-notices)
	}
	if len(got) != 1 || got[0].Kind != router.NoticeBatch || got[0].Batch != batch || got[0].Customers != 3 || len(got[0].Cases) != 3 {
		t.Errorf("notices %+v, want one batch notice for %s with 3 cases", got, batch)
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
		firsts = append(firsts, testComplaint(i+1, 1, fmt.Sprint(text, "（", i, "号楼）"), time.Duration(i)*time.Minute))
	}
	p.run(t, firsts)
	act := func(c normalize.Complaint, kind router.ActionKind, n int) bus.Message {
		return actionMessage(t, router.Action{V: router.ActionVersion, ID: fmt.Sprint(kind, n), Case: c.Reference, Customer: c.Customer.Key,
			Kind: kind, Actor: "1001", At: stageT0.Add(time.Hour)})
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

	cases, _ := p.w.cases(t) // fails on a revision written twice or backwards
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
