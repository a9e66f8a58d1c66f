package routing

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/services/bus"
	"github.com/tousu/tousu/services/stages/record"
	"github.com/tousu/tousu/services/stages/stagetest"
)

// actionMessage is a on case.actions.
func actionMessage(tb testing.TB, a router.Action) bus.Message {
	tb.Helper()
	b, err := json.Marshal(a)
	if err != nil {
		tb.Fatal(err)
	}
	return bus.Message{Topic: bus.TopicActions, Key: []byte(a.Customer), Value: b}
}

// telecomStage is a router stage on the telecom pack, without messages
// to customers, writing to w, its clock stopped at now; it returns the
// pack's engine and the state too.
func telecomStage(tb testing.TB, w record.Writer, now time.Time) (*Stage, *router.Engine, *History) {
	tb.Helper()
	dedupe := stagetest.DedupeConfig(tb, nil)
	state, err := OpenHistory(filepath.Join(tb.TempDir(), "router-history.db"), dedupe, now)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { state.Close() })
	e, err := router.LoadEngine(router.BuiltinPrefix + "telecom")
	if err != nil {
		tb.Fatal(err)
	}
	s := New(Deps{Writer: w, Policy: e, Engine: func(string) *router.Engine { return e }, State: state, Dedupe: dedupe,
		MaxRecordBytes: router.DefaultMaxRecordBytes, Now: func() time.Time { return now }, Logger: zaptest.NewLogger(tb)})
	return s, e, state
}

// stateRecords are the router.state records among msgs.
func stateRecords(msgs []bus.Message) []bus.Message {
	var out []bus.Message
	for _, m := range msgs {
		if m.Topic == bus.TopicRouterState {
			out = append(out, m)
		}
	}
	return out
}

// eraseAction is an admin's erase action on c, on request.
func eraseAction(c router.Case, id string, at time.Time) router.Action {
	return router.Action{V: router.ActionVersion, ID: id, Case: c.ID, Customer: c.Customer.Key, Kind: router.ActionErase,
		Actor: "admin", At: at, Reason: router.ErasureRequest}
}

// TestRouterErasesCase: an erase action writes the erased case on cases
// and router.state (under its new customer key), tombstones the case's
// old router.state record, the customer's history and sent log, and a
// router that reads router.state back forgets them too.
func TestRouterErasesCase(t *testing.T) {
	ctx := context.Background()
	clock := time.Date(2026, 3, 2, 1, 30, 0, 0, time.UTC)
	w := &attemptWriter{}
	s, state := outboundStage(t, w, nil, func() time.Time { return clock })
	comp := mailComplaint(1, "3月2号起宽带断网，家住杭州市西湖区文三路90号2幢301室，电话 139-1234-5678", clock)
	if err := s.Batch(ctx, []bus.Message{stagetest.MessageOf(t, comp)}); err != nil {
		t.Fatal(err)
	}
	opened := w.lastCase(t, 0, comp.Reference)
	oldKey := opened.Customer.Key

	// An agent corrected its category: every router stored it, with the
	// text the classifier saw.
	corrected := newPackCorrection(opened.Pack, router.Correction{Complaint: comp.ID, Case: opened.ID, Category: "网络质量", Agent: "1001", At: clock,
		Text: router.ClassifierText(opened.Subject, opened.Description)})
	if _, err := state.storeCorrection(corrected); err != nil {
		t.Fatal(err)
	}

	clock = clock.Add(time.Hour)
	if err := s.Batch(ctx, []bus.Message{actionMessage(t, eraseAction(opened, "erase-1", clock))}); err != nil {
		t.Fatal(err)
	}
	erased := w.lastCase(t, 1, comp.Reference)
	if erased.Erased == nil || erased.Revision != opened.Revision+1 || erased.Customer.Key != router.ErasedCustomerKey(opened.ID) {
		t.Fatalf("erased case: %+v", erased)
	}
	b, _ := json.Marshal(erased)
	for _, personal := range []string{"王丽", "wang.li", "文三路", "1234-5678"} {
		if strings.Contains(string(b), personal) {
			t.Errorf("the case written still holds %q", personal)
		}
	}
	tombstones := map[string]string{}
	for _, m := range w.attempts[1] {
		if m.Topic == bus.TopicRouterState && m.Value == nil {
			tombstones[string(m.Key)] = string(m.PartitionKey)
		}
		if m.Topic == bus.TopicRouterState && m.Value != nil && strings.Contains(string(m.Value), "wang.li") {
			t.Errorf("router.state record %s still holds the address", m.Key)
		}
	}
	for _, key := range []string{"case/" + opened.ID, "history/" + oldKey, "sent/" + oldKey} {
		if tombstones[key] != oldKey {
			t.Errorf("no tombstone %s on the customer's partition (tombstones: %v)", key, tombstones)
		}
	}
	var rewritten []packCorrection
	for _, m := range w.attempts[1] {
		if m.Topic == bus.TopicCorrections {
			var c packCorrection
			if err := json.Unmarshal(m.Value, &c); err != nil || string(m.Key) != corrected.key() {
				t.Fatalf("correction %s: %v", m.Key, err)
			}
			rewritten = append(rewritten, c)
		}
	}
	if len(rewritten) != 1 || strings.Contains(rewritten[0].Text, "文三路") || strings.Contains(rewritten[0].Text, "5678") || rewritten[0].Category != "网络质量" {
		t.Errorf("corrections written: %+v, want the category correction with the erased text", rewritten)
	}
	if h, _ := state.Load(ctx, oldKey); len(h.Cases) != 0 {
		t.Errorf("the router still remembers the customer: %+v", h)
	}
	if sent, _ := state.Sent(oldKey); len(sent) != 0 {
		t.Errorf("the router still remembers the messages to the customer: %+v", sent)
	}
	if c, ok, _ := state.Case(opened.ID); !ok || c.Erased == nil {
		t.Errorf("the router's copy of the case is not the erased one: %+v", c)
	}

	// The same erase again changes nothing.
	if err := s.Batch(ctx, []bus.Message{actionMessage(t, eraseAction(erased, "erase-2", clock))}); err != nil {
		t.Fatal(err)
	}
	if c := w.lastCase(t, 2, comp.Reference); c.ID != "" {
		t.Errorf("a second erase wrote the case again: revision %d", c.Revision)
	}

	// Another router that held the customer reads the records back.
	dedupe := stagetest.DedupeConfig(t, nil)
	other, err := OpenHistory(filepath.Join(t.TempDir(), "other.db"), dedupe, clock)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.Restore(0, stateRecords(w.attempts[0]), 1, "other-writer"); err != nil {
		t.Fatal(err)
	}
	if h, _ := other.Load(ctx, oldKey); len(h.Cases) != 1 {
		t.Fatalf("the other router did not learn the customer first: %+v", h)
	}
	if _, err := other.Restore(0, stateRecords(w.attempts[1]), 2, "other-writer"); err != nil {
		t.Fatal(err)
	}
	if h, _ := other.Load(ctx, oldKey); len(h.Cases) != 0 {
		t.Errorf("the other router still remembers the customer: %+v", h)
	}
	if c, ok, _ := other.Case(opened.ID); !ok || c.Erased == nil {
		t.Errorf("the other router's copy of the case is not the erased one: %+v, %v", c, ok)
	}
	// A tombstone of a case whose erased revision came first (from
	// another partition) keeps the erased revision.
	if _, err := other.Restore(1, []bus.Message{{Topic: bus.TopicRouterState, Key: []byte("case/" + opened.ID)}}, 1, "other-writer"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := other.Case(opened.ID); !ok {
		t.Error("a late tombstone deleted the erased case")
	}
}

// TestRouterErasesForgottenCase: a router that no longer holds a case
// writes the erase action's snapshot at its revision + 1.
func TestRouterErasesForgottenCase(t *testing.T) {
	ctx := context.Background()
	clock := time.Date(2029, 3, 2, 1, 30, 0, 0, time.UTC)
	w := &stagetest.RecordingWriter{}
	s, e, _ := telecomStage(t, w, clock)

	old := e.Open(mailComplaint(1, "宽带断网，电话13912345678", clock.AddDate(-3, 0, 0)), clock.AddDate(-3, 0, 0))
	old.Revision = 9
	a := eraseAction(old, "retention/"+old.ID, clock)
	a.Actor, a.Reason = router.RetentionActor, router.ErasureRetention
	snap := router.Erase(old, router.Erasure{At: clock, Reason: router.ErasureRetention, By: router.RetentionActor})
	a.Snapshot = &snap
	if err := s.Batch(ctx, []bus.Message{actionMessage(t, a)}); err != nil {
		t.Fatal(err)
	}
	cases, _ := w.Cases(t)
	got, ok := cases[old.ID]
	if !ok || got.Revision != 10 || got.Erased == nil || got.Erased.Reason != router.ErasureRetention || strings.Contains(got.Description, "13912345678") {
		t.Fatalf("written %+v, want the erased case at revision 10", got)
	}
	if last := got.History[len(got.History)-1]; last.Kind != router.ActionErase || !strings.Contains(last.Detail, "保存期限届满") {
		t.Errorf("last event %+v", last)
	}
}
