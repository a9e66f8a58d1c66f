package router

// This file holds what the agents' console asks the policy about a case
// it shows: where a transfer may send it, which categories and events the
// pack has, how a clock stands at an instant, and what a follow-up visit
// (回访) does.

import (
	"maps"
	"slices"
	"time"

	"github.com/tousu/tousu/router/calendar"
)

// Departments are the departments the pack routes to, sorted: where a
// transfer may send a case.
func (e *Engine) Departments() []string { return slices.Sorted(maps.Keys(e.departments)) }

// Queues are the queues the pack routes to, sorted.
func (e *Engine) Queues() []string { return slices.Sorted(maps.Keys(e.queues)) }

// Categories are the pack's categories in the pack's order: what a
// recategorize action may name.
func (e *Engine) Categories() []string {
	out := make([]string, len(e.pack.Categories.List))
	for i, c := range e.pack.Categories.List {
		out[i] = c.Name
	}
	return out
}

// Events are the pack's own case events, those an event action records
// (the built-in ones come with their actions).
func (e *Engine) Events() []string { return slices.Clone(e.pack.Events) }

// ClockState is where a clock stands at an instant.
type ClockState string

// The states of a clock.
const (
	ClockPending ClockState = "pending" // waits for its start event
	ClockRunning ClockState = "running" // started, before its due time
	ClockOverdue ClockState = "overdue" // started, past its due time
	ClockMet     ClockState = "met"     // stopped before its due time
	ClockMissed  ClockState = "missed"  // stopped after its due time
	ClockPaused  ClockState = "paused"  // paused while the case waits for the customer (暂停中)
	ClockUnknown ClockState = "unknown" // its due time could not be computed
)

// ClockStatus is how a clock stands at an instant.
type ClockStatus struct {
	State ClockState
	// Left is the time until the due time of a running clock, the time
	// since it of an overdue one; zero otherwise.
	Left time.Duration
	// Working says Left is working time on the pack's calendar (the
	// clock counts working days, hours or minutes); otherwise it is
	// elapsed time.
	Working bool
	// DayLength is the working time of one working day when Working.
	DayLength time.Duration
}

// StatusAt is how the clock stands at now. A running clock in working
// units has its working time left on cal; without cal, or when cal does
// not cover the days between, Left is elapsed time. The time past an
// overdue clock's due time is elapsed time, as a customer counts it.
func (d Deadline) StatusAt(now time.Time, cal *calendar.Calendar) ClockStatus {
	switch {
	case !d.StoppedAt.IsZero() && d.Met:
		return ClockStatus{State: ClockMet}
	case !d.StoppedAt.IsZero():
		return ClockStatus{State: ClockMissed}
	case d.StartedAt.IsZero() && d.Due.IsZero() && d.Error == "":
		return ClockStatus{State: ClockPending}
	case d.Due.IsZero():
		return ClockStatus{State: ClockUnknown}
	case d.Paused():
		return ClockStatus{State: ClockPaused}
	case !now.Before(d.Due):
		return ClockStatus{State: ClockOverdue, Left: now.Sub(d.Due)}
	}
	s := ClockStatus{State: ClockRunning, Left: d.Due.Sub(now)}
	if cal != nil && Unit(d.Unit).working() {
		if w, err := cal.WorkingBetween(now, d.Due); err == nil {
			s.Left, s.Working, s.DayLength = w, true, cal.BusinessDayLength()
		}
	}
	return s
}

// FollowUp is the action a follow-up visit (回访) records: a satisfied
// customer's case is closed, an unsatisfied one's reopened, each with the
// visit's verdict before the agent's note.
func FollowUp(satisfied bool, note string) (ActionKind, string) {
	if satisfied {
		return ActionClose, joinNote("回访：客户满意", note)
	}
	return ActionReopen, joinNote("回访：客户不满意", note)
}

// joinNote is the verdict followed by the note, when there is one.
func joinNote(verdict, note string) string {
	if note == "" {
		return verdict
	}
	return verdict + "。" + note
}
