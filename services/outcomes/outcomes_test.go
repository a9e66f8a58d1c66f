package outcomes

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/services/bus"
)

// TestStore: a followed result is kept by action id; an unreadable record
// is rejected; a refusal read after the action's application (a
// redelivery of it the router no longer knew) does not undo it; results
// older than Retention are ignored and pruned.
func TestStore(t *testing.T) {
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	s := New()
	s.now = func() time.Time { return now }
	held := &router.Reason{Code: router.CodeCaseHeld, Message: "该工单正由坐席“1001”处理，您不能接手"}
	msg := func(tb testing.TB, r router.ActionResult) bus.Message {
		tb.Helper()
		b, err := json.Marshal(r)
		if err != nil {
			tb.Fatal(err)
		}
		return bus.Message{Topic: bus.TopicOutcomes, Key: []byte(r.Action), Value: b}
	}
	result := func(id string, state router.ActionState, at time.Time) router.ActionResult {
		r := router.ActionResult{V: router.ActionResultVersion, Action: id, Case: "TS1", Kind: router.ActionTake, Actor: "2002", State: state, At: at}
		if state == router.ActionRefused {
			r.Reason = held
		}
		return r
	}
	tests := []struct {
		name   string
		msg    bus.Message
		reject bool
		id     string
		want   router.ActionState // "" when not kept
	}{
		{"refused", msg(t, result("api:a", router.ActionRefused, now)), false, "api:a", router.ActionRefused},
		{"applied", msg(t, result("api:b", router.ActionApplied, now)), false, "api:b", router.ActionApplied},
		{"refused after applied", msg(t, result("api:b", router.ActionRefused, now.Add(time.Minute))), false, "api:b", router.ActionApplied},
		{"older than the retention", msg(t, result("api:c", router.ActionApplied, now.Add(-Retention-time.Minute))), false, "api:c", ""},
		{"not JSON", bus.Message{Value: []byte("申请退款")}, true, "", ""},
		{"another version", msg(t, router.ActionResult{V: 2, Action: "api:d", Case: "TS1"}), true, "api:d", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Follow(context.Background(), tt.msg)
			if bus.IsRejected(err) != tt.reject || (!tt.reject && err != nil) {
				t.Fatalf("Follow = %v, want rejected %v", err, tt.reject)
			}
			r, ok := s.Result(tt.id)
			if ok != (tt.want != "") || ok && r.State != tt.want {
				t.Errorf("Result(%s) = %+v %v, want %q", tt.id, r, ok, tt.want)
			}
		})
	}
	if n := s.Prune(now.Add(Retention + time.Hour)); n != 2 {
		t.Errorf("pruned %d, want both results", n)
	}
	if _, ok := s.Result("api:a"); ok {
		t.Error("a pruned result is still there")
	}
}

// TestStoreBounded: beyond MaxResults the oldest results go, a tenth at
// once; the newest stay.
func TestStoreBounded(t *testing.T) {
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	s := New()
	s.now = func() time.Time { return now }
	for i := range MaxResults + 1 {
		// Written newest first, so that the store orders by time, not by
		// arrival.
		r := router.ActionResult{V: router.ActionResultVersion, Action: fmt.Sprint("esc:", i), Case: "TS1", Kind: router.ActionEscalate,
			State: router.ActionApplied, At: now.Add(-time.Duration(i) * time.Millisecond)}
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Follow(context.Background(), bus.Message{Topic: bus.TopicOutcomes, Value: b}); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(s.results); n > MaxResults || n < MaxResults*9/10 {
		t.Fatalf("%d results kept, want %d to %d", n, MaxResults*9/10, MaxResults)
	}
	if _, ok := s.Result("esc:0"); !ok {
		t.Error("the newest result was dropped")
	}
	if _, ok := s.Result(fmt.Sprint("esc:", MaxResults)); ok {
		t.Error("the oldest result was kept")
	}
}
