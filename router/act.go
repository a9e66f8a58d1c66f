package router

import (
	"fmt"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/normalize"
)

// Acting is a case action arriving at the router, with what applying it
// needs.
type Acting struct {
	Action Action
	// Records are the cases and customer histories the router holds.
	Records Records
	// Engine returns the engine of a case's pack, which applies actions to
	// the case; nil (or a nil Engine) when the pack is not loaded.
	Engine func(pack string) *Engine
	// Dedupe says whether repeat detection, which needs to know when a
	// case is finished, is on.
	Dedupe normalize.DedupeConfig
}

// Acted is what an action turned out to be and what it changes.
type Acted struct {
	// Outcome is OutcomeApplied or OutcomeUnchanged; empty when Refused.
	Outcome Outcome
	// Refused says why the action can never apply: it is invalid, its case
	// is not held by this router (unknown, or finished and forgotten), it
	// is keyed by another customer than the case's, the case's pack is not
	// loaded, or the case does not allow it. The caller dead-letters it;
	// ReasonOf explains it to the person who sent the action.
	Refused error
	Changes
}

// ApplyAction applies a case action to the case it names: the changed case,
// the notices its engine raises, the correction of a recategorize,
// regrade or revalidate action,
// and, when the case's state as repeat detection knows it changes, the
// change to its customer's history.
//
// It reads in.Records and changes nothing; an error is one of Records'.
func ApplyAction(in Acting) (Acted, error) {
	a := in.Action
	if err := a.Validate(); err != nil {
		return Acted{Refused: err}, nil
	}
	held, ok, err := in.Records.Case(a.Case)
	if err != nil {
		return Acted{}, err
	}
	snapshot := !ok && a.Kind == ActionErase && a.Snapshot != nil
	if snapshot {
		// A finished case this router forgot: it erases the index's copy,
		// and no other router writes the case.
		held, ok = *a.Snapshot, true
	}
	if !ok {
		return Acted{Refused: &Refusal{Reason: Reason{Code: CodeCaseUnknown, Message: "处理程序中没有该工单（工单不存在，或已结束过久）"},
			Detail: fmt.Sprintf("case %s is not in this router's state: unknown, or finished and forgotten", a.Case)}}, nil
	}
	if a.Customer != held.Customer.Key && !snapshot {
		return Acted{Refused: &Refusal{Reason: Reason{Code: CodeInvalid, Field: "customer", Message: "操作与工单的客户不符"},
			Detail: fmt.Sprintf("action %s is keyed by customer %q, but case %s belongs to %q", a.ID, ingest.MaskText(a.Customer), a.Case, ingest.MaskText(held.Customer.Key))}}, nil
	}
	var e *Engine
	if in.Engine != nil {
		e = in.Engine(held.Pack)
	}
	if e == nil {
		return Acted{Refused: &Refusal{Reason: Reason{Code: CodePackNotLoaded, Message: fmt.Sprintf("该工单的处理规则“%s”未加载，操作无法执行", held.Pack)},
			Detail: fmt.Sprintf("case %s was decided by pack %q, which is not loaded", a.Case, held.Pack)}}, nil
	}
	c, changed, notices, err := e.Apply(held, a)
	if err != nil {
		return Acted{Refused: err}, nil
	}
	if !changed {
		return Acted{Outcome: OutcomeUnchanged}, nil
	}
	r := Acted{Outcome: OutcomeApplied, Changes: Changes{Updated: &c, Notices: notices}}
	if a.Kind == ActionErase {
		// A snapshot is erased already; the action is keyed by the
		// customer the case had.
		key := held.Customer.Key
		if snapshot {
			key = a.Customer
		}
		r.Erased = &ErasedChange{Customer: key, Restored: snapshot}
		if !in.Dedupe.Disabled && !normalize.Anonymous(key) {
			r.History = &HistoryChange{Customer: key, Case: c.ID, Forget: true}
		}
		return r, nil
	}
	if a.Kind.Corrects() {
		corr := CorrectionFrom(c, a)
		r.Correction = &corr
	}
	// Repeat detection needs to know whether the case is still open.
	if key, state := c.Customer.Key, CaseStateOf(c); state != CaseStateOf(held) && !in.Dedupe.Disabled && !normalize.Anonymous(key) {
		r.History = &HistoryChange{Customer: key, Case: c.ID, State: state, At: a.At}
	}
	return r, nil
}
