package router

import "time"

// CustomerStep is one step of a case's progress as its customer sees it.
type CustomerStep struct {
	// Label is the step in the customer's words: 已受理, 处理中, 已答复,
	// 已办结 or 已关闭.
	Label string
	// Reached says the case got there; At is when, zero when the history
	// does not tell (a case resolved without being taken).
	Reached bool
	At      time.Time
}

// CustomerView is what the status page shows a customer about a case:
// nothing internal (no internal clock, no note but the result an agent
// marked as customer-visible).
type CustomerView struct {
	// Status is the label of the last step reached.
	Status string
	// Steps are the five steps in order.
	Steps []CustomerStep
	// Deadline is the customer-facing clock (CustomerDeadline); HasDeadline
	// says there is one.
	Deadline    Deadline
	HasDeadline bool
	// Result is the text of the resolution the customer may read, empty
	// when the agent kept it internal or the case is not resolved.
	Result string
	// Answerable says the customer may say whether they are satisfied: the
	// case is resolved and waits for its follow-up.
	Answerable bool
	// Appeal is where a customer who is not satisfied may turn, with the
	// clause that gives it (AppealBasis); empty when the pack names none.
	Appeal, AppealBasis string
}

// The steps of a case as its customer sees them.
const (
	stepReceived = iota
	stepInProgress
	stepReplied
	stepResolved
	stepClosed
)

var stepLabels = []string{"已受理", "处理中", "已答复", "已办结", "已关闭"}

// CustomerView is what the customer of c is shown of it. The steps come
// from the history: a reopening (the customer was not satisfied) takes
// the case back to 处理中, so the steps after it are counted anew. A nil
// engine (the case's pack is no longer loaded) shows no appeal and the
// main deadline.
func (e *Engine) CustomerView(c Case) CustomerView {
	steps := make([]CustomerStep, len(stepLabels))
	for i, l := range stepLabels {
		steps[i].Label = l
	}
	reach := func(i int, at time.Time) {
		if !steps[i].Reached {
			steps[i] = CustomerStep{Label: steps[i].Label, Reached: true, At: at}
		}
	}
	reach(stepReceived, c.ReceivedAt)
	result := ""
	for _, ev := range c.History {
		switch ev.Kind {
		case ActionTake:
			reach(stepInProgress, ev.At)
		case ActionReply:
			reach(stepReplied, ev.At)
		case ActionResolve:
			reach(stepResolved, ev.At)
			result = ""
			if ev.CustomerVisible {
				result = ev.Note
			}
		case ActionClose:
			reach(stepClosed, ev.At)
		case ActionReopen:
			for i := stepInProgress; i < len(steps); i++ {
				steps[i] = CustomerStep{Label: steps[i].Label}
			}
			reach(stepInProgress, ev.At)
			result = ""
		}
	}
	last := stepReceived
	for i, s := range steps {
		if s.Reached {
			last = i
		}
	}
	// The status says where the case stands now, whatever the history
	// kept (it keeps its ends only).
	switch c.Status {
	case StatusResolved:
		last = max(last, stepResolved)
	case StatusClosed:
		last = stepClosed
	}
	// A step the case went past without the history telling when (it
	// was resolved without being taken) is reached, undated.
	for i := range last + 1 {
		steps[i].Reached = true
	}
	v := CustomerView{Status: stepLabels[last], Steps: steps, Answerable: c.Status == StatusResolved}
	if c.Finished() {
		v.Result = result
	}
	v.Deadline, v.HasDeadline = e.CustomerDeadline(c)
	if e == nil {
		return v
	}
	if a := e.pack.Customer.Appeal; a != nil {
		v.Appeal = a.Text
		if a.Basis != nil {
			v.AppealBasis = "《" + e.titles[a.Basis.Source] + "》" + a.Basis.Clause
		}
	}
	return v
}

// CustomerDeadline is the deadline the customer of c is told: the pack's
// customer clock (Pack.Customer.Clock) when the case runs it, stopped or
// not, else MainDeadline (also for a nil engine).
func (e *Engine) CustomerDeadline(c Case) (Deadline, bool) {
	if e == nil {
		return MainDeadline(c)
	}
	if name := e.pack.Customer.Clock; name != "" {
		for _, d := range c.Deadlines {
			if d.Name == name && !d.Due.IsZero() {
				return d, true
			}
		}
	}
	return MainDeadline(c)
}
