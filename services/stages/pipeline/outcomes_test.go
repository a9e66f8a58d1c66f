package pipeline_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tousu/tousu/normalize"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/services/bus"
	"github.com/tousu/tousu/services/stages/stagetest"
)

// TestRouterTellsWhatBecameOfActions: two agents take the same case at
// once; the console let both through. The router applies the first and
// refuses the second (the case stays with the first agent), and writes
// what became of each to case.outcomes: applied with the case's revision,
// refused with the reason naming the holder, before the refused action is
// dead-lettered. A take just after a close is refused the same way.
func TestRouterTellsWhatBecameOfActions(t *testing.T) {
	p := newTestPipeline(t, t.TempDir(), 1, nil)
	c := stagetest.Complaint(1, 1, "宽带断网两天了，报修单号ＢＸ２０２６０３０２一直没人上门，家里老人看不了电视", 0)
	p.run(t, []normalize.Complaint{c})
	take := func(id, actor string, kind router.ActionKind, at time.Duration) router.Action {
		return router.Action{V: router.ActionVersion, ID: id, Case: c.Reference, Customer: c.Customer.Key, Kind: kind, Actor: actor,
			At: stagetest.T0.Add(at), Note: "客户来电催促"}
	}
	// deliver hands msgs to the router as its consumer does: in one
	// batch, and one by one when the batch fails; it returns the actions
	// rejected (dead-lettered).
	deliver := func(t *testing.T, actions ...router.Action) []string {
		t.Helper()
		var msgs []bus.Message
		for _, a := range actions {
			msgs = append(msgs, stagetest.ActionMessage(t, a))
		}
		if err := p.route(msgs); err == nil {
			return nil
		} else if !bus.IsRejected(err) {
			t.Fatal(err)
		}
		var rejected []string
		for i, m := range msgs {
			err := p.route([]bus.Message{m})
			switch {
			case bus.IsRejected(err):
				rejected = append(rejected, actions[i].ID)
			case err != nil:
				t.Fatal(err)
			}
		}
		return rejected
	}
	if rejected := deliver(t, take("t-1001", "1001", router.ActionTake, time.Hour), take("t-2002", "2002", router.ActionTake, time.Hour)); len(rejected) != 1 || rejected[0] != "t-2002" {
		t.Fatalf("rejected %v, want the second take", rejected)
	}
	if rejected := deliver(t, take("c-1001", "1001", router.ActionClose, 2*time.Hour)); rejected != nil {
		t.Fatalf("the close was rejected")
	}
	if rejected := deliver(t, take("t-1001b", "1001", router.ActionTake, 2*time.Hour+time.Second)); len(rejected) != 1 {
		t.Fatalf("a take after the close: rejected %v", rejected)
	}
	cases, _ := p.w.Cases(t)
	cs := cases[c.Reference]
	if cs.Assignee != "1001" || cs.Status != router.StatusClosed {
		t.Fatalf("case assignee %q status %s, want 1001's closed case", cs.Assignee, cs.Status)
	}

	results := map[string]router.ActionResult{}
	for _, m := range p.w.Msgs {
		if m.Topic != bus.TopicOutcomes {
			continue
		}
		var r router.ActionResult
		if err := json.Unmarshal(m.Value, &r); err != nil {
			t.Fatal(err)
		}
		if string(m.Key) != r.Action || r.V != router.ActionResultVersion || r.Case != c.Reference {
			t.Errorf("result %+v written with key %s", r, m.Key)
		}
		results[r.Action] = r
	}
	tests := []struct {
		action   string
		state    router.ActionState
		revision int64
		code     string
		message  string
	}{
		{"t-1001", router.ActionApplied, 2, "", ""},
		{"t-2002", router.ActionRefused, 0, router.CodeCaseHeld, "“1001”"},
		{"c-1001", router.ActionApplied, 3, "", ""},
		{"t-1001b", router.ActionRefused, 0, router.CodeCaseFinished, "已关闭"},
	}
	for _, tt := range tests {
		r, ok := results[tt.action]
		switch {
		case !ok:
			t.Errorf("no result for %s", tt.action)
		case r.State != tt.state || r.Revision != tt.revision:
			t.Errorf("%s: %+v, want %s at revision %d", tt.action, r, tt.state, tt.revision)
		case tt.code != "" && (r.Reason == nil || r.Reason.Code != tt.code || !strings.Contains(r.Reason.Message, tt.message)):
			t.Errorf("%s: reason %+v, want %s with %q", tt.action, r.Reason, tt.code, tt.message)
		}
	}
}
