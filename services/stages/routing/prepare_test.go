package routing

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tousu/tousu/normalize"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/services/bus"
	"github.com/tousu/tousu/services/stages/stagetest"
)

// openLog is a policy that notes, in order, the complaints it opened a
// case for; Open may be called concurrently.
type openLog struct {
	router.Policy
	mu     sync.Mutex
	opened []string
}

func (p *openLog) Open(c normalize.Complaint, now time.Time) router.Case {
	p.mu.Lock()
	p.opened = append(p.opened, c.ID)
	p.mu.Unlock()
	return p.Policy.Open(c, now)
}

// casesOf returns the cases among msgs by id, with their JSON.
func casesOf(tb testing.TB, msgs []bus.Message) map[string][]byte {
	tb.Helper()
	out := map[string][]byte{}
	for _, m := range msgs {
		if m.Topic != bus.TopicCases {
			continue
		}
		if _, twice := out[string(m.Key)]; twice {
			tb.Errorf("case %s written twice in one call", m.Key)
		}
		out[string(m.Key)] = m.Value
	}
	return out
}

// TestCasesOpenedAhead: a call opens the cases of its complaints from
// customers without cases ahead, before deciding any in turn, and each
// once; the cases are those the policy opens, written in the order of
// their complaints (encoded concurrently), a customer's complaints keep
// their order (the second joins the first's case), and a redelivered call
// opens and writes nothing.
func TestCasesOpenedAhead(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2026, 3, 4, 2, 10, 0, 0, time.UTC)
	w := &attemptWriter{}
	s, e, _ := telecomStage(t, w, at)
	log := &openLog{Policy: e}
	s.policy = log

	a := hotlineComplaint(1, "+8613812345678", "客户反映3月1日起手机无信号，营业厅说基站检修，至今未恢复，要求减免当月月租", at)
	// A reply about a case finished elsewhere: a new case linked to it,
	// decided in turn.
	reply := hotlineComplaint(2, "+8613700002222", "上次的投诉已办结，但是宽带还是天天掉线，师傅说要换线 没人来", at)
	reply.Thread = &normalize.Thread{Case: "TS20260201-0001", Customer: reply.Customer.Key, State: normalize.CaseResolved}
	b := hotlineComplaint(3, "+8613900001111", "宽带2号晚上又断了，师傅上门说光猫坏了，换了还是掉线！！", at)
	again := hotlineComplaint(4, "+8613812345678", "客户反映3月1日起手机无信号，营业厅说基站检修，至今未恢复，要求减免当月月租", at.Add(time.Minute))
	c := hotlineComplaint(5, "+8615000003333", "话费单上多扣了30元增值业务费，本人从未订购过，要求退还。。", at)
	batch := []normalize.Complaint{a, reply, b, again, c}
	msgs := make([]bus.Message, len(batch))
	for i, x := range batch {
		msgs[i] = stagetest.MessageOf(t, x)
	}
	if err := s.Batch(ctx, msgs); err != nil {
		t.Fatal(err)
	}

	if n := len(log.opened); n != 4 {
		t.Fatalf("opened %d cases (%v), want 4", n, log.opened)
	}
	if last := log.opened[3]; last != reply.ID {
		t.Errorf("opened in the order %v: want the reply's case, decided in turn, after the three opened ahead", log.opened)
	}
	if ahead := log.opened[:3]; !slices.Contains(ahead, a.ID) || !slices.Contains(ahead, b.ID) || !slices.Contains(ahead, c.ID) {
		t.Errorf("opened ahead %v, want %s, %s and %s", ahead, a.ID, b.ID, c.ID)
	}
	written := casesOf(t, w.attempts[0])
	if len(written) != 4 {
		t.Fatalf("%d cases written, want 4", len(written))
	}
	var order []string
	for _, m := range w.attempts[0] {
		if m.Topic == bus.TopicCases {
			order = append(order, string(m.Key))
		}
	}
	if want := []string{a.Reference, reply.Reference, b.Reference, c.Reference}; !slices.Equal(order, want) {
		t.Errorf("cases written in the order %v, want %v (their complaints')", order, want)
	}
	for _, x := range []normalize.Complaint{b, c} {
		_, want, err := router.EncodeCase(e.Open(x, at), router.DefaultMaxRecordBytes)
		if err != nil {
			t.Fatal(err)
		}
		if got := written[x.Reference]; !bytes.Equal(got, want) {
			t.Errorf("case of %s:\n got %s\nwant %s", x.ID, got, want)
		}
	}
	var first router.Case
	if err := json.Unmarshal(written[a.Reference], &first); err != nil {
		t.Fatal(err)
	}
	if want := []string{a.ID, again.ID}; !slices.Equal(first.Complaints, want) || first.Revision != 1 {
		t.Errorf("the first customer's case: complaints %v at revision %d, want %v at 1", first.Complaints, first.Revision, want)
	}

	log.opened = nil
	if err := s.Batch(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	if len(log.opened) != 0 {
		t.Errorf("the redelivered call opened cases for %v", log.opened)
	}
	if n := len(casesOf(t, w.attempts[1])); n != 0 {
		t.Errorf("the redelivered call wrote %d cases", n)
	}
}
