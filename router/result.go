package router

import "time"

// ActionResultVersion is the payload version of an ActionResult.
const ActionResultVersion = 1

// ActionState is where an action stands for whoever sent it.
type ActionState string

// The states of an action.
const (
	// ActionPending: no router has decided the action yet.
	ActionPending ActionState = "pending"
	// ActionApplied: the action is in the case's history, from Revision on.
	ActionApplied ActionState = "applied"
	// ActionRefused: the router refused the action; Reason says why.
	ActionRefused ActionState = "refused"
)

// ActionResult is what became of a case action: the router's answer to
// whoever sent it, keyed by the action's id.
type ActionResult struct {
	V      int         `json:"v"`
	Action string      `json:"action"`
	Case   string      `json:"case"`
	Kind   ActionKind  `json:"kind"`
	Actor  string      `json:"actor"`
	State  ActionState `json:"state"`
	// Revision is a revision of the case that has the action (applied):
	// the one that applied it when the router tells, the case's current
	// one when the case tells (ResultFromCase).
	Revision int64 `json:"revision,omitempty"`
	// Reason says why the action was refused, in Chinese with its code.
	Reason *Reason `json:"reason,omitempty"`
	// Detail says it in English, for the logs (refused).
	Detail string `json:"detail,omitempty"`
	// At is when the router decided.
	At time.Time `json:"at"`
}

// ResultOf is the result of an action ApplyAction decided at: refused with
// its reason, or applied (an action already applied is applied too). The
// caller sets Revision once the case's revision is known.
func ResultOf(a Action, r Acted, at time.Time) ActionResult {
	res := ActionResult{V: ActionResultVersion, Action: a.ID, Case: a.Case, Kind: a.Kind, Actor: a.Actor, State: ActionApplied, At: at.UTC()}
	if r.Refused != nil {
		reason := ReasonOf(r.Refused)
		res.State, res.Reason, res.Detail = ActionRefused, &reason, r.Refused.Error()
	}
	return res
}

// ResultFromCase is the result of an action as a case tells it: applied
// at the case's revision when its history has the action, pending
// otherwise (the case does not tell refusals).
func ResultFromCase(c Case, actionID string) ActionResult {
	res := ActionResult{V: ActionResultVersion, Action: actionID, Case: c.ID, State: ActionPending}
	for _, e := range c.History {
		if e.Action == actionID {
			res.Kind, res.Actor, res.At, res.State, res.Revision = e.Kind, e.Actor, e.At, ActionApplied, c.Revision
		}
	}
	return res
}
