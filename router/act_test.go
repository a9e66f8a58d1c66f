package router

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tousu/tousu/normalize"
)

func TestApplyAction(t *testing.T) {
	e := miniEngine(t)
	received := at(t, "2025-09-30 10:00")
	comp := reachable("宽带又断了，光猫红灯闪，打１００００没人接，明天要居家办公急用", received)
	open := e.Open(comp, received)
	taken := apply(t, e, open, act(open, "take-1", ActionTake, "1001", received.Add(time.Minute)))
	anon := comp
	anon.ID, anon.Reference, anon.Customer = "hotline:9", "TS0000000009", normalize.Customer{Key: "anonymous:hotline:9"}
	anonCase := e.Open(anon, received)
	later := received.Add(time.Hour)
	otherPack := open
	otherPack.Pack = "quality@2025"
	engines := func(pack string) *Engine {
		if pack == open.Pack {
			return e
		}
		return nil
	}
	with := func(a Action, f func(*Action)) Action {
		f(&a)
		return a
	}
	alert, ok := open.NextAlert()
	if !ok {
		t.Fatal("the mini pack's case has no alert to escalate")
	}
	recat := with(act(open, "fix-1", ActionRecategorize, "1001", later), func(a *Action) { a.Category = "费用" })
	erase := func(c Case, id string) Action {
		return with(act(c, id, ActionErase, "admin", later), func(a *Action) { a.Reason = ErasureRequest })
	}
	erased := apply(t, e, taken, erase(taken, "erase-1"))
	snap := Erase(taken, Erasure{At: later, Reason: ErasureRetention, By: RetentionActor})
	withSnapshot := with(erase(taken, "erase-2"), func(a *Action) { a.Reason, a.Actor, a.Snapshot = ErasureRetention, RetentionActor, &snap })

	tests := []struct {
		name    string
		cases   []Case
		a       Action
		dedupe  func(*normalize.DedupeConfig)
		noPacks bool   // no engine lookup at all
		refused string // a part of the refusal
		invalid bool   // the refusal wraps ErrInvalidAction
		outcome Outcome
		history *HistoryChange
		notices int
	}{
		{name: "invalid action", cases: []Case{open}, a: act(open, "x", ActionTake, " ", later), refused: "no actor", invalid: true},
		{name: "unknown case", a: act(open, "x", ActionTake, "1001", later), refused: "not in this router's state"},
		{name: "wrong customer", cases: []Case{open}, a: with(act(open, "x", ActionTake, "1001", later), func(a *Action) { a.Customer = "phone:+8613911112222" }),
			refused: "is keyed by customer"},
		{name: "pack not loaded", cases: []Case{otherPack}, a: act(otherPack, "x", ActionTake, "1001", later), refused: `pack "quality@2025", which is not loaded`},
		{name: "no packs at all", cases: []Case{open}, a: act(open, "x", ActionTake, "1001", later), noPacks: true, refused: "which is not loaded"},
		{name: "the case does not allow it", cases: []Case{open}, a: act(open, "x", ActionReopen, "1001", later), refused: "not resolved", invalid: true},
		// Two agents took the case at once: the console let both through,
		// the router applies the first and refuses the second.
		{name: "a second agent's take of a held case", cases: []Case{taken}, a: act(taken, "take-2", ActionTake, "2002", later), refused: "held by 1001", invalid: true},
		{name: "applied: take keeps the case open", cases: []Case{open}, a: act(open, "take-1", ActionTake, "1001", received.Add(time.Minute)),
			outcome: OutcomeApplied},
		{name: "unchanged: the same action again", cases: []Case{taken}, a: act(open, "take-1", ActionTake, "1001", received.Add(time.Minute)),
			outcome: OutcomeUnchanged},
		{name: "recategorize corrects the classifier", cases: []Case{open}, a: recat, outcome: OutcomeApplied},
		{name: "resolve marks the case resolved in the history", cases: []Case{taken}, a: act(taken, "r-1", ActionResolve, "1001", later),
			outcome: OutcomeApplied, history: &HistoryChange{Customer: open.Customer.Key, Case: open.ID, State: normalize.CaseResolved, At: later}},
		{name: "escalate raises the alert", cases: []Case{open}, a: EscalateAction(open, alert, alert.At), outcome: OutcomeApplied, notices: 1},
		{name: "resolve with detection disabled", cases: []Case{taken}, a: act(taken, "r-1", ActionResolve, "1001", later),
			dedupe: func(d *normalize.DedupeConfig) { d.Disabled = true }, outcome: OutcomeApplied},
		{name: "resolve of an anonymous customer's case", cases: []Case{anonCase}, a: act(anonCase, "r-1", ActionResolve, "1001", later),
			outcome: OutcomeApplied},
		{name: "erase without a reason", cases: []Case{taken}, a: act(taken, "e", ActionErase, "admin", later), refused: "names its reason", invalid: true},
		{name: "erase forgets the case in its customer's history", cases: []Case{taken}, a: erase(taken, "erase-1"), outcome: OutcomeApplied,
			history: &HistoryChange{Customer: open.Customer.Key, Case: open.ID, Forget: true}},
		{name: "erase of an erased case changes nothing", cases: []Case{erased}, a: with(erase(taken, "erase-3"), func(a *Action) { a.Customer = erased.Customer.Key }),
			outcome: OutcomeUnchanged},
		{name: "erase of a forgotten case without a snapshot", a: erase(taken, "erase-2"), refused: "not in this router's state"},
		{name: "erase of a forgotten case with its snapshot", a: withSnapshot, outcome: OutcomeApplied,
			history: &HistoryChange{Customer: open.Customer.Key, Case: open.ID, Forget: true}},
		{name: "close of a resolved case changes the state again", cases: []Case{apply(t, e, taken, act(taken, "r-1", ActionResolve, "1001", later))},
			a: act(taken, "c-1", ActionClose, "1001", later.Add(time.Hour)), outcome: OutcomeApplied,
			history: &HistoryChange{Customer: open.Customer.Key, Case: open.ID, State: normalize.CaseClosed, At: later.Add(time.Hour)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dedupe := dedupeWith(tt.dedupe)
			m := newMemRecords()
			for _, c := range tt.cases {
				m.cases[c.ID] = c
			}
			eng := engines
			if tt.noPacks {
				eng = nil
			}
			before := m.snapshot(t)
			r, err := ApplyAction(Acting{Action: tt.a, Records: m, Engine: eng, Dedupe: dedupe})
			if err != nil {
				t.Fatal(err)
			}
			if m.snapshot(t) != before {
				t.Fatal("ApplyAction changed the records it read")
			}
			if tt.refused != "" {
				if r.Refused == nil || !strings.Contains(r.Refused.Error(), tt.refused) || errors.Is(r.Refused, ErrInvalidAction) != tt.invalid ||
					r.Outcome != "" || r.Updated != nil {
					t.Errorf("ApplyAction = %+v, want refused with %q (invalid action: %v)", r, tt.refused, tt.invalid)
				}
				return
			}
			if r.Refused != nil || r.Outcome != tt.outcome {
				t.Fatalf("ApplyAction = outcome %q, refused %v; want %q", r.Outcome, r.Refused, tt.outcome)
			}
			if (r.Updated != nil) != (tt.outcome == OutcomeApplied) {
				t.Errorf("updated case %v for outcome %s", r.Updated, r.Outcome)
			}
			if (r.History == nil) != (tt.history == nil) || r.History != nil && !reflect.DeepEqual(*r.History, *tt.history) {
				t.Errorf("history change %+v, want %+v", r.History, tt.history)
			}
			if len(r.Notices) != tt.notices {
				t.Errorf("notices %+v, want %d", r.Notices, tt.notices)
			}
			if (r.Correction != nil) != (tt.a.Kind == ActionRecategorize) {
				t.Errorf("correction %+v for a %s action", r.Correction, tt.a.Kind)
			}
			if c := r.Correction; c != nil && (c.Category != "费用" || c.Case != open.ID || c.Complaint != comp.ID || c.Agent != "1001") {
				t.Errorf("correction %+v, want 费用 by 1001 of complaint %s", c, comp.ID)
			}
		})
	}
}
