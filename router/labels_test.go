package router

import (
	"testing"
	"time"
)

func TestStepLabel(t *testing.T) {
	for step, want := range map[string]string{
		"50%": "时限已过 50%（预警）", "80%": "时限已过 80%（预警）", "breach": "已超时", "breach+1d": "超时 1 天后",
		"breach+2h": "超时 2 小时后", "grade 重大": "重大投诉即时通报", "grade A": "A投诉即时通报", "custom": "custom",
	} {
		if got := StepLabel(step); got != want {
			t.Errorf("StepLabel(%q) = %q, want %q", step, got, want)
		}
	}
}

func TestClockLength(t *testing.T) {
	tests := []struct {
		amount int
		unit   Unit
		start  string
		want   string
	}{
		{15, UnitWorkingDays, EventReceived, "自受理起15个工作日"},
		{1, UnitHours, EventReceived, "自受理起1小时"},
		{48, UnitHours, EventTaken, "自接手起48小时"},
		{3, UnitCalendarDays, EventResolved, "自办结起3个自然日"},
		{4, UnitWorkingHours, "verified_1", "自verified_1起4个工作小时"},
		{30, UnitWorkingMinutes, EventReceived, "自受理起30个工作分钟"},
		{2, Unit("fortnights"), EventReceived, "自受理起2fortnights"},
	}
	for _, tt := range tests {
		if got := ClockLength(tt.amount, tt.unit, tt.start); got != tt.want {
			t.Errorf("ClockLength(%d, %s, %s) = %q, want %q", tt.amount, tt.unit, tt.start, got, tt.want)
		}
	}
}

func TestDurationLabel(t *testing.T) {
	for d, want := range map[time.Duration]string{
		2 * time.Hour: "2 小时", 72 * time.Hour: "3 天", 90 * time.Minute: "90 分钟", 1500 * time.Millisecond: "1.5s",
	} {
		if got := durationLabel(d); got != want {
			t.Errorf("durationLabel(%v) = %q, want %q", d, got, want)
		}
	}
}
