package router

import (
	"slices"
	"time"

	"github.com/tousu/tousu/normalize"
)

// Records is the router's state as one call of the router stage sees it:
// the cases it holds and the histories of the customers it owns, with the
// changes of the call's earlier decisions already made. RouteComplaint and
// ApplyAction only read it; they return what to change, and the caller
// makes the changes before it decides the next message.
//
// An implementation is used from one goroutine at a time. It may block on
// storage; it carries the context of the call itself, and an error it
// returns (storage failing, the context ending) is returned by
// RouteComplaint and ApplyAction as it is, so the caller handles the
// message again later. Reading acknowledges nothing: the changes reach
// storage only when the caller commits them.
type Records interface {
	// Case returns the case with id, false when the router does not hold
	// it (unknown, or finished and forgotten).
	Case(id string) (Case, bool, error)
	// History returns the history of the customer with key; an unknown
	// customer has an empty history.
	History(key string) (normalize.CustomerHistory, error)
}

// Outcome names what a complaint or an action turned out to be; the router
// counts them in its metrics.
type Outcome string

// The outcomes of RouteComplaint.
const (
	// OutcomeNew: the complaint opened a case.
	OutcomeNew = Outcome(normalize.KindNew)
	// OutcomeDuplicate: it joined the customer's open case it is
	// near-identical to.
	OutcomeDuplicate = Outcome(normalize.KindDuplicate)
	// OutcomeRepeat (重复投诉): it joined the customer's open case about
	// the same matter, raising its urgency and urging its owner.
	OutcomeRepeat = Outcome(normalize.KindRepeat)
	// OutcomeRepeatFinished (重复投诉 after 办结): it opened a case linked to
	// the customer's finished case about the same matter.
	OutcomeRepeatFinished = Outcome(normalize.KindRepeatFinished)
	// OutcomeReply: an e-mail reply from another address, or the
	// customer's answer to tousu's own mail (AnswersOurMail), joined the
	// open case it answers, raising its urgency and urging its owner.
	OutcomeReply Outcome = "reply"
	// OutcomeReplyForwarded: the case such a reply answers is not open
	// here, so the reply goes to its sender's router, marked finished.
	OutcomeReplyForwarded Outcome = "reply_forwarded"
	// OutcomeRedelivered: the complaint is already on a case.
	OutcomeRedelivered Outcome = "redelivered"
)

// The outcomes of ApplyAction.
const (
	// OutcomeApplied: the action changed the case.
	OutcomeApplied Outcome = "applied"
	// OutcomeUnchanged: it was applied before, or had nothing left to do.
	OutcomeUnchanged Outcome = "unchanged"
)

// Changes are what one decision of RouteComplaint or ApplyAction changes.
// The caller writes the cases at their next revision, makes the history
// change, and sends the notices, the forwarded reply, the batch candidate
// and the correction.
type Changes struct {
	// Opened is the case the complaint opened.
	Opened *Case
	// Updated is a case of Records as the decision changed it.
	Updated *Case
	// History is the change to a customer's history.
	History *HistoryChange
	// Notices are raised on the alerts topic: the urge of a repeat or a
	// reply, the alerts an escalation raises.
	Notices []Notice
	// Forward is a reply this router cannot attach, for its sender's
	// router.
	Forward *normalize.Complaint
	// Candidate is the complaint that opened a case, for batch detection.
	Candidate *BatchCandidate
	// Correction is the agent's category correction of Updated, for the
	// classifier of Updated's pack.
	Correction *Correction
	// Erased is set when an erase action erased Updated.
	Erased *ErasedChange
	// Missing is the case the customer's history named as the one to
	// attach to but Records does not hold; the complaint opened a new case
	// instead, which the caller may want to log.
	Missing string
}

// ErasedChange is what the caller does besides writing an erased case.
type ErasedChange struct {
	// Customer is the case's customer key before the erasure: the caller
	// deletes its records of the case kept under that key.
	Customer string
	// Restored says the case came from the action's Snapshot: the caller
	// does not hold it, and writes it at the snapshot's revision + 1.
	Restored bool
}

// HistoryChange is a change to the history of one customer
// (normalize.CustomerHistory): a complaint noted on a case, or a case's
// new state.
type HistoryChange struct {
	// Customer is the key of the history.
	Customer string
	// Case is the case the change is about.
	Case string
	// Complaint, when set, is noted on Case with its Fingerprint
	// (CustomerHistory.Record).
	Complaint   *normalize.Complaint
	Fingerprint normalize.Fingerprint
	// State is Case's new state as of At (CustomerHistory.SetState), when
	// Complaint is nil.
	State normalize.CaseState
	At    time.Time
	// Forget, when set, drops Case from the history: its case was erased.
	Forget bool
}

// Apply makes the change to h, the history of hc.Customer, and reports
// whether h changed: a state change of a case h has forgotten changes
// nothing.
func (hc HistoryChange) Apply(h *normalize.CustomerHistory) bool {
	if hc.Complaint != nil {
		h.Record(hc.Case, *hc.Complaint, hc.Fingerprint)
		return true
	}
	if hc.Forget {
		n := len(h.Cases)
		h.Cases = slices.DeleteFunc(h.Cases, func(cr normalize.CaseRecord) bool { return cr.ID == hc.Case })
		return len(h.Cases) != n
	}
	return h.SetState(hc.Case, hc.State, hc.At)
}

// noted is the history change noting complaint c on case caseID.
func noted(customer, caseID string, c normalize.Complaint, fp normalize.Fingerprint) *HistoryChange {
	return &HistoryChange{Customer: customer, Case: caseID, Complaint: &c, Fingerprint: fp}
}

// Arrival is a normalized complaint arriving at the router, with what
// deciding it needs.
type Arrival struct {
	Complaint normalize.Complaint
	// Records are the cases and customer histories the router holds.
	Records Records
	// Dedupe configures duplicate, repeat and batch detection.
	Dedupe normalize.DedupeConfig
	// Policy opens a case.
	Policy Policy
	// Now is when a case the complaint opens is opened.
	Now time.Time
}

// Routed is what a complaint turned out to be and what it changes.
type Routed struct {
	Outcome Outcome
	Changes
}

// RouteComplaint decides what happens to a complaint. An e-mail reply
// from another address to an open case (Complaint.Thread) joins that case
// when the router holds it open (OutcomeReply) and is forwarded to its
// sender's router otherwise (OutcomeReplyForwarded). Any other complaint
// is compared with the customer's history (normalize.Decide): a duplicate
// or repeat joins the open case it names, a repeat of a finished case, or
// a new matter, opens a case by the policy (linked to the finished case,
// or to the case a forwarded reply answered), which is offered to batch
// detection. A complaint already on one of the customer's cases changes
// nothing (OutcomeRedelivered). An anonymous customer, or detection
// disabled, always opens a case, whose id (the complaint's reference) tells
// a redelivery.
//
// It reads in.Records and changes nothing; an error is one of Records'.
func RouteComplaint(in Arrival) (Routed, error) {
	c := in.Complaint
	if t := c.Thread; t != nil && !t.State.Finished() && t.Customer != c.Customer.Key {
		return routeReply(in)
	}
	key := c.Customer.Key
	if in.Dedupe.Disabled || normalize.Anonymous(key) {
		// Nothing to compare with; the case's id is the complaint's
		// reference, which tells a redelivery.
		if _, held, err := in.Records.Case(c.Reference); err != nil || held {
			return Routed{Outcome: OutcomeRedelivered}, err
		}
		cs := in.Policy.Open(c, in.Now)
		return Routed{Outcome: OutcomeNew, Changes: Changes{Opened: &cs}}, nil
	}
	h, err := in.Records.History(key)
	if err != nil {
		return Routed{}, err
	}
	if h.Handled(c) {
		return Routed{Outcome: OutcomeRedelivered}, nil
	}
	out := normalize.Decide(in.Dedupe, h, c)
	var r Routed
	if out.Kind == normalize.KindDuplicate || out.Kind == normalize.KindRepeat {
		held, ok, err := in.Records.Case(out.Case)
		if err != nil {
			return Routed{}, err
		}
		if !ok {
			r.Missing = out.Case
			out.Kind = normalize.KindNew
		} else {
			var changed bool
			switch {
			case out.Kind == normalize.KindDuplicate:
				held, changed = AttachDuplicate(held, c, out.Reason)
			case AnswersOurMail(held, c):
				// The customer answers our mail: a reply, not a
				// repeat complaint.
				if held, changed = AttachAnswer(held, c, out.Reason); changed {
					r.Notices = append(r.Notices, UrgeNotice(held, c, out.Reason))
				}
				r.Outcome = OutcomeReply
			default:
				if held, changed = AttachRepeat(held, c, out.Reason); changed {
					r.Notices = append(r.Notices, UrgeNotice(held, c, out.Reason))
				}
			}
			if changed {
				r.Updated = &held
			}
			r.History = noted(key, held.ID, c, out.Fingerprint)
		}
	}
	if out.Kind == normalize.KindNew || out.Kind == normalize.KindRepeatFinished {
		cs := in.Policy.Open(c, in.Now)
		if out.Kind == normalize.KindRepeatFinished {
			cs = LinkRepeat(cs, out.Case, out.Reason)
		} else if t := c.Thread; t != nil {
			cs = LinkRepeat(cs, t.Case, normalize.ReplyReason(c)+", which is "+string(t.State))
		}
		r.Opened = &cs
		r.History = noted(key, cs.ID, c, out.Fingerprint)
		if !in.Dedupe.BatchDisabled {
			cand := NewBatchCandidate(cs, c, out.Fingerprint)
			r.Candidate = &cand
		}
	}
	if r.Outcome == "" {
		r.Outcome = Outcome(out.Kind)
	}
	return r, nil
}

// routeReply decides an e-mail reply from another address to an open case
// of a customer this router owns (the normalizer keyed it by the case's
// customer): it joins the case, raises its urgency and urges the owner.
// When the case is not open here any more (finished since the lookup, or
// forgotten), the reply goes back to complaints.normalized keyed by its
// sender, marked finished, and the sender's router opens a case linked to
// it.
func routeReply(in Arrival) (Routed, error) {
	c := in.Complaint
	t := *c.Thread
	held, ok, err := in.Records.Case(t.Case)
	if err != nil {
		return Routed{}, err
	}
	if !ok || held.Finished() || held.Customer.Key != t.Customer {
		t.State = normalize.CaseClosed
		if ok && held.Finished() {
			t.State = CaseStateOf(held)
		}
		c.Thread = &t
		return Routed{Outcome: OutcomeReplyForwarded, Changes: Changes{Forward: &c}}, nil
	}
	reason := normalize.ReplyReason(c)
	var changed bool
	if held, changed = AttachReply(held, c, reason); !changed {
		return Routed{Outcome: OutcomeRedelivered}, nil
	}
	r := Routed{Outcome: OutcomeReply, Changes: Changes{Updated: &held, Notices: []Notice{UrgeNotice(held, c, reason)}}}
	if !in.Dedupe.Disabled && !normalize.Anonymous(t.Customer) {
		r.History = noted(t.Customer, held.ID, c, normalize.FingerprintOf(c))
	}
	return r, nil
}
