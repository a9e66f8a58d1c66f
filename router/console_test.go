package router

import (
	"slices"
	"testing"
	"time"
)

// TestClockStatusAt reads a case's clocks as an agent's queue shows them:
// working time left on the pack's calendar (business hours 08:30-12:00 and
// 13:30-17:30), elapsed time past the due time, and the stopped and
// pending states.
func TestClockStatusAt(t *testing.T) {
	cal := telecom(t).Calendar()
	cst := time.FixedZone("CST", 8*3600)
	due := time.Date(2026, 3, 5, 17, 30, 0, 0, cst) // a Thursday
	started := time.Date(2026, 3, 2, 9, 0, 0, 0, cst)
	for _, tt := range []struct {
		name string
		d    Deadline
		now  time.Time
		want ClockStatus
	}{
		{"three working hours left in the afternoon", Deadline{Unit: "working_days", StartedAt: started, Due: due},
			time.Date(2026, 3, 5, 14, 30, 0, 0, cst), ClockStatus{State: ClockRunning, Left: 3 * time.Hour, Working: true, DayLength: 450 * time.Minute}},
		{"the lunch break is no working time", Deadline{Unit: "working_hours", StartedAt: started, Due: due},
			time.Date(2026, 3, 5, 11, 0, 0, 0, cst), ClockStatus{State: ClockRunning, Left: 5 * time.Hour, Working: true, DayLength: 450 * time.Minute}},
		{"an hours clock counts elapsed time", Deadline{Unit: "hours", StartedAt: started, Due: due},
			time.Date(2026, 3, 5, 11, 0, 0, 0, cst), ClockStatus{State: ClockRunning, Left: 6*time.Hour + 30*time.Minute}},
		{"two days overdue", Deadline{Unit: "working_days", StartedAt: started, Due: due},
			time.Date(2026, 3, 7, 17, 30, 0, 0, cst), ClockStatus{State: ClockOverdue, Left: 48 * time.Hour}},
		{"stopped in time", Deadline{Unit: "working_days", StartedAt: started, Due: due, StoppedAt: started.Add(time.Hour), Met: true},
			due.Add(time.Hour), ClockStatus{State: ClockMet}},
		{"stopped late", Deadline{Unit: "working_days", StartedAt: started, Due: due, StoppedAt: due.Add(time.Hour)},
			due.Add(2 * time.Hour), ClockStatus{State: ClockMissed}},
		{"waits for the case to be resolved", Deadline{Unit: "working_days", Start: EventResolved},
			due, ClockStatus{State: ClockPending}},
		{"the calendar did not cover the year", Deadline{Unit: "working_days", StartedAt: started, Error: "not covered"},
			due, ClockStatus{State: ClockUnknown}},
	} {
		if got := tt.d.StatusAt(tt.now, cal); got != tt.want {
			t.Errorf("%s: StatusAt = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

// TestFollowUp: a satisfied customer's case closes, an unsatisfied one's
// reopens, and the verdict leads the note either way.
func TestFollowUp(t *testing.T) {
	for _, tt := range []struct {
		satisfied bool
		note      string
		kind      ActionKind
		want      string
	}{
		{true, "", ActionClose, "回访：客户满意"},
		{true, "客户表示信号已恢复", ActionClose, "回访：客户满意。客户表示信号已恢复"},
		{false, "仍然断网，要求上门", ActionReopen, "回访：客户不满意。仍然断网，要求上门"},
	} {
		kind, note := FollowUp(tt.satisfied, tt.note)
		if kind != tt.kind || note != tt.want {
			t.Errorf("FollowUp(%v, %q) = %s %q, want %s %q", tt.satisfied, tt.note, kind, note, tt.kind, tt.want)
		}
		if err := CheckAgentAction(Action{V: ActionVersion, ID: "a", Case: "c", Actor: "坐席甲", At: time.Now(), Kind: kind, Note: note}); err != nil {
			t.Errorf("FollowUp(%v, %q): the console would refuse it: %v", tt.satisfied, tt.note, err)
		}
	}
}

// TestRoutingChoices lists where a telecom case may be transferred and
// what it may be recategorized as, from the pack.
func TestRoutingChoices(t *testing.T) {
	e := telecom(t)
	for _, tt := range []struct {
		name, want string
		got        []string
	}{
		{"department", "网络运维部", e.Departments()},
		{"queue", "重大投诉", e.Queues()},
		{"category", "网络问题", e.Categories()},
	} {
		if !slices.Contains(tt.got, tt.want) || !slices.IsSorted(tt.got) && tt.name != "category" {
			t.Errorf("%s: %v lacks %q or is not sorted", tt.name, tt.got, tt.want)
		}
	}
	if slices.Contains(e.Departments(), "火星部门") {
		t.Error("departments lists one the pack does not route to")
	}
}
