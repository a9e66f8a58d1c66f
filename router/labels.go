package router

import (
	"fmt"
	"strings"
	"time"
)

// The Chinese names of the machine values a case carries (units, events,
// ladder steps), for the reasons the router writes and the pages that
// show them. The values stay as they are in the data.

// unitLabels name the units of a clock.
var unitLabels = map[Unit]string{
	UnitMinutes: "分钟", UnitHours: "小时", UnitCalendarDays: "个自然日",
	UnitWorkingDays: "个工作日", UnitWorkingHours: "个工作小时", UnitWorkingMinutes: "个工作分钟",
}

// UnitLabel is the Chinese name of a clock's unit ("个工作日"), or the unit
// itself for one tousu does not know.
func UnitLabel(u Unit) string {
	if l, ok := unitLabels[u]; ok {
		return l
	}
	return string(u)
}

// eventLabels name the events every pack knows.
var eventLabels = map[string]string{EventReceived: "受理", EventTaken: "接手", EventResolved: "办结", EventClosed: "关闭"}

// EventLabel is the Chinese name of a case event ("受理"); a pack's own
// event by its name.
func EventLabel(event string) string {
	if l, ok := eventLabels[event]; ok {
		return l
	}
	return event
}

// ClockLength says a clock's length from its start event in Chinese:
// "自受理起15个工作日", "自办结起3个自然日".
func ClockLength(amount int, unit Unit, start string) string {
	return fmt.Sprintf("自%s起%d%s", EventLabel(start), amount, UnitLabel(unit))
}

// StepLabel says a rung of an escalation ladder (Alert.Step) in Chinese:
// "时限已过 50%（预警）", "已超时", "超时 1 天后", "重大投诉即时通报".
func StepLabel(step string) string {
	switch {
	case strings.HasSuffix(step, "%"):
		return "时限已过 " + step + "（预警）"
	case step == "breach":
		return "已超时"
	case strings.HasPrefix(step, "breach+"):
		after := strings.TrimPrefix(step, "breach+")
		after = strings.NewReplacer("d", " 天", "h", " 小时").Replace(after)
		return "超时 " + after + "后"
	case strings.HasPrefix(step, "grade "):
		return strings.TrimPrefix(step, "grade ") + "投诉即时通报"
	}
	return step
}

// timeLabel is a time as reasons say it: "2025-10-24 00:00".
func timeLabel(t time.Time) string { return t.Format("2006-01-02 15:04") }

// durationLabel says a window in Chinese: "2 小时", "3 天", "90 分钟".
func durationLabel(d time.Duration) string {
	switch {
	case d >= 24*time.Hour && d%(24*time.Hour) == 0:
		return fmt.Sprintf("%d 天", d/(24*time.Hour))
	case d >= time.Hour && d%time.Hour == 0:
		return fmt.Sprintf("%d 小时", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%d 分钟", d/time.Minute)
	}
	return d.String()
}
