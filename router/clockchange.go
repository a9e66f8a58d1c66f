package router

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// clockDef returns the pack's clock named name.
func (e *Engine) clockDef(name string) (Clock, bool) {
	for _, r := range e.clocks {
		if r.def.Name == name {
			return r.def, true
		}
	}
	return Clock{}, false
}

// extend applies an extend action (延期): the running clock a.Clock ends
// a.Amount units of the pack's bound later, within what the pack allows in
// all, and its escalation follows the new due time. It returns the changed
// case and the history's detail.
func (e *Engine) extend(c Case, a Action) (Case, string, error) {
	i, err := runningClock(c, a)
	if err != nil {
		return c, "", err
	}
	d := c.Deadlines[i]
	title := cmp.Or(d.Title, d.Name)
	def, _ := e.clockDef(d.Name)
	x := def.Extendable
	if x == nil {
		return c, "", invalid(Reason{Code: CodeClockRefused, Field: "clock", Message: fmt.Sprintf("“%s”时限按规定不得延期", title)},
			"pack %s: clock %s is not extendable", e.id, d.Name)
	}
	if x.Needs == NeedsSupervisor && !a.Override {
		return c, "", invalid(Reason{Code: CodeClockRefused, Message: fmt.Sprintf("“%s”时限延期须由主管批准，请联系主管操作", title)},
			"pack %s: extending clock %s needs a supervisor", e.id, d.Name)
	}
	if left := x.Max.Amount - d.Extended; a.Amount > left {
		return c, "", invalid(Reason{Code: CodeClockRefused, Field: "amount", Message: fmt.Sprintf("“%s”时限至多延期%d%s，已延期%d%s，本次至多%d%s",
			title, x.Max.Amount, UnitLabel(x.Max.Unit), d.Extended, UnitLabel(x.Max.Unit), max(left, 0), UnitLabel(x.Max.Unit))},
			"clock %s: extension %d over what is left of %d %s", d.Name, a.Amount, x.Max.Amount, x.Max.Unit)
	}
	if d.Due.IsZero() {
		return c, "", invalid(Reason{Code: CodeClockRefused, Message: fmt.Sprintf("“%s”时限没有到期时间，无法延期", title)}, "clock %s has no due time", d.Name)
	}
	due, err := e.due(x.Max.Unit, a.Amount, lastInstant(d.Due, x.Max.Unit))
	if err != nil {
		return c, "", invalid(Reason{Code: CodeClockRefused, Message: "节假日数据未覆盖延期后的日期，无法延期"}, "clock %s: %v", d.Name, err)
	}
	detail := fmt.Sprintf("“%s”时限延期%d%s，到期时间由 %s 改为 %s", title, a.Amount, UnitLabel(x.Max.Unit), timeLabel(d.Due), timeLabel(due))
	d.Due, d.Extended, d.ExtendedUnit = due, d.Extended+a.Amount, string(x.Max.Unit)
	c.Deadlines[i] = d
	return e.reschedule(c, d, a.At), detail, nil
}

// lastInstant is where an extension of unit u counts from: the due time,
// or for day units the day that ends at it, so that adding days starts
// with the first day after it.
func lastInstant(due time.Time, u Unit) time.Time {
	if u == UnitCalendarDays || u == UnitWorkingDays {
		return due.Add(-time.Nanosecond)
	}
	return due
}

// pause applies a pause action (等待客户补充材料): the running clock
// a.Clock, or every running clock the pack lets pause when it names none,
// stops running and raises no alerts until a resume action.
func (e *Engine) pause(c Case, a Action) (Case, string, error) {
	var titles []string
	for i, d := range c.Deadlines {
		if !d.StoppedAt.IsZero() || (a.Clock != "" && d.Name != a.Clock) {
			continue
		}
		def, _ := e.clockDef(d.Name)
		title := cmp.Or(d.Title, d.Name)
		switch {
		case def.Pausable == nil && a.Clock != "":
			return c, "", invalid(Reason{Code: CodeClockRefused, Field: "clock", Message: fmt.Sprintf("“%s”时限按规定不得暂停", title)},
				"pack %s: clock %s is not pausable", e.id, d.Name)
		case def.Pausable == nil:
			continue
		case d.Paused() && a.Clock != "":
			return c, "", invalid(Reason{Code: CodeClockRefused, Message: fmt.Sprintf("“%s”时限已在暂停中", title), Conflict: true},
				"clock %s is paused already", d.Name)
		case d.Paused():
			continue
		}
		c.Deadlines[i].PausedAt = a.At
		titles = append(titles, "“"+title+"”")
	}
	if len(titles) == 0 {
		if a.Clock != "" {
			return c, "", noRunningClock(c, a.Clock)
		}
		return c, "", invalid(Reason{Code: CodeClockRefused, Message: "该工单没有可以暂停的时限", Conflict: true}, "case %s runs no pausable clock", c.ID)
	}
	c.Deadline = earliest(c.Deadlines)
	return c, strings.Join(titles, "、") + "时限暂停计时（等待客户补充材料）", nil
}

// resume applies a resume action: the paused clock a.Clock, or every
// paused clock when it names none, runs again, its due time later by the
// time it was paused.
func (e *Engine) resume(c Case, a Action) (Case, string, error) {
	var parts []string
	for i, d := range c.Deadlines {
		if !d.Paused() || (a.Clock != "" && d.Name != a.Clock) {
			continue
		}
		r, err := e.resumed(d, a.At)
		if err != nil {
			return c, "", invalid(Reason{Code: CodeClockRefused, Message: "节假日数据未覆盖恢复后的日期，无法恢复计时"}, "clock %s: %v", d.Name, err)
		}
		c.Deadlines[i] = r
		c = e.reschedule(c, r, a.At)
		parts = append(parts, fmt.Sprintf("“%s”时限恢复计时，到期时间由 %s 改为 %s", cmp.Or(d.Title, d.Name), timeLabel(d.Due), timeLabel(r.Due)))
	}
	if len(parts) == 0 {
		return c, "", invalid(Reason{Code: CodeClockRefused, Message: "该工单没有暂停中的时限", Conflict: true}, "case %s has no paused clock %q", c.ID, a.Clock)
	}
	return c, strings.Join(parts, "；"), nil
}

// resumed is the paused clock d running again at: its due time moves by
// the time it was paused, working time on the calendar for a clock in
// working units; a clock in day units then ends at the end of its day, so
// that part of a day paused gives the whole day back.
func (e *Engine) resumed(d Deadline, at time.Time) (Deadline, error) {
	from := d.PausedAt
	d.PausedAt = time.Time{}
	if d.Due.IsZero() || !at.After(from) {
		return d, nil
	}
	u := Unit(d.Unit)
	due := d.Due.Add(at.Sub(from))
	if u.working() {
		paused, err := e.cal.WorkingBetween(from, at)
		if err != nil {
			return d, err
		}
		if due, err = e.cal.AddWorking(d.Due, paused); err != nil {
			return d, err
		}
	}
	if u == UnitCalendarDays || u == UnitWorkingDays {
		loc := e.cal.Location()
		end := due.In(loc)
		if y, m, day := end.Date(); !end.Equal(time.Date(y, m, day, 0, 0, 0, 0, loc)) {
			due = time.Date(y, m, day+1, 0, 0, 0, 0, loc)
		}
	}
	d.Due = due.In(e.cal.Location())
	return d, nil
}

// reschedule replaces the alerts not yet raised of the clock d, whose due
// time moved, by those of its ladder from the new due time; an alert
// raised already is not raised again.
func (e *Engine) reschedule(c Case, d Deadline, at time.Time) Case {
	raised := func(al Alert) bool {
		return slices.ContainsFunc(c.Escalation.Alerts, func(r Alert) bool { return !r.RaisedAt.IsZero() && r.key() == al.key() })
	}
	c.Escalation.Alerts = slices.DeleteFunc(c.Escalation.Alerts, func(al Alert) bool { return al.Clock == d.Name && al.RaisedAt.IsZero() })
	for _, al := range e.ladder(d) {
		if !raised(al) {
			c.Escalation.Alerts = append(c.Escalation.Alerts, al)
		}
	}
	c.Deadline = earliest(c.Deadlines)
	c.Escalation = settle(c.Escalation, at)
	return c
}

// runningClock is the index of the running clock an extend action names.
func runningClock(c Case, a Action) (int, error) {
	i := slices.IndexFunc(c.Deadlines, func(d Deadline) bool { return d.Name == a.Clock && d.StoppedAt.IsZero() })
	if i < 0 {
		return 0, noRunningClock(c, a.Clock)
	}
	return i, nil
}

// noRunningClock refuses a clock action naming no running clock.
func noRunningClock(c Case, name string) error {
	return invalid(Reason{Code: CodeClockRefused, Field: "clock", Message: fmt.Sprintf("该工单没有正在计时的时限“%s”", name), Conflict: true},
		"case %s runs no clock %q", c.ID, name)
}
