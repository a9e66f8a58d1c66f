package router

import (
	"time"
)

// ActionVersion is the payload version of an Action.
const ActionVersion = 1

// ActionKind names what an action does to a case.
type ActionKind string

// The kinds of Action. Agents send take, transfer, note, event, resolve,
// close, reopen and recategorize through the console API; the escalator
// sends escalate, the batch detector flag_batch.
const (
	// ActionTake: an agent takes the case (处理中). The first agent who
	// takes it becomes its owner and stays responsible (首问责任制).
	ActionTake ActionKind = "take"
	// ActionTransfer passes the case to another agent, department or
	// queue; the owner stays.
	ActionTransfer ActionKind = "transfer"
	// ActionNote adds an internal note.
	ActionNote ActionKind = "note"
	// ActionEvent records one of the pack's case events (a verification,
	// an approval…), starting the clocks that wait for it.
	ActionEvent ActionKind = "event"
	// ActionResolve resolves the case (已办结): the clocks running since
	// it was received stop, and the clocks that start when a case is
	// resolved (回访…) start.
	ActionResolve ActionKind = "resolve"
	// ActionClose closes the case: every clock stops.
	ActionClose ActionKind = "close"
	// ActionReopen takes a resolved or closed case back into work.
	ActionReopen ActionKind = "reopen"
	// ActionRecategorize corrects the category; corrections train the
	// pack's classifier.
	ActionRecategorize ActionKind = "recategorize"
	// ActionEscalate raises a due alert of the case's escalation ladder.
	ActionEscalate ActionKind = "escalate"
	// ActionFlagBatch flags the case as part of a batch incident (批量投诉).
	ActionFlagBatch ActionKind = "flag_batch"
)

// Action is something done to a case: the payload of the case.actions
// topic. It is keyed by the case's customer key (Customer), the key of
// complaints.normalized, so the router instance that owns the customer's
// cases applies it and stays the only writer of each case. ID makes it
// idempotent: an action whose ID is in the case's History changes nothing.
type Action struct {
	V        int        `json:"v"`
	ID       string     `json:"id"`
	Case     string     `json:"case"`
	Customer string     `json:"customer"`
	Kind     ActionKind `json:"kind"`
	// Actor is who acts: an agent's id, "escalator" or "batch".
	Actor string    `json:"actor"`
	At    time.Time `json:"at"`

	// Assignee, Department and Queue are where a transfer sends the case
	// (any may be empty: unchanged).
	Assignee   string `json:"assignee,omitempty"`
	Department string `json:"department,omitempty"`
	Queue      string `json:"queue,omitempty"`
	// Event is the pack event of an event action.
	Event string `json:"event,omitempty"`
	// Category is the corrected category of a recategorize action.
	Category string `json:"category,omitempty"`
	// Note is the text of a note, or the comment of any other action.
	Note string `json:"note,omitempty"`
	// Clock, Step and Level name the alert an escalate action raises.
	Clock string `json:"clock,omitempty"`
	Step  string `json:"step,omitempty"`
	Level int    `json:"level,omitempty"`
	// Batch and Reason are set on flag_batch.
	Batch  string `json:"batch,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// Event is an entry of a case's History.
type Event struct {
	Action string     `json:"action"` // the Action's ID
	Kind   ActionKind `json:"kind"`
	Actor  string     `json:"actor"`
	At     time.Time  `json:"at"`
	// Detail says what changed, e.g. "owner 1001; assignee 1001".
	Detail string `json:"detail,omitempty"`
	Note   string `json:"note,omitempty"`
}
