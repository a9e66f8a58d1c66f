package router

import (
	"strings"
	"testing"
	"time"

	"github.com/tousu/tousu/normalize"
)

func keywords(tb testing.TB) *Keywords {
	tb.Helper()
	p, err := NewKeywords(DefaultConfig())
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

func complaint(tb testing.TB, text string, received time.Time) normalize.Complaint {
	tb.Helper()
	return normalize.Complaint{V: 1, ID: "api:x", Reference: "TS0000000001", Description: text, ReceivedAt: received}
}

func TestKeywordsOpen(t *testing.T) {
	shanghai, _ := time.LoadLocation("Asia/Shanghai")
	// Thursday 2026-11-26 10:00 in Shanghai.
	received := time.Date(2026, 11, 26, 10, 0, 0, 0, shanghai)
	tests := []struct {
		text, category, reason string
	}{
		{"手机信号差了三天", "网络问题", `keyword "信号"`},
		{"上个月话费多扣了50元", "费用问题", `keyword "话费"`},
		{"我要表扬你们", "服务问题", "no keyword matched: default category"},
	}
	for _, tt := range tests {
		c := keywords(t).Open(complaint(t, tt.text, received), received)
		if c.Category != tt.category || c.Decision.Reason != tt.reason {
			t.Errorf("%s: category %q (%s), want %q (%s)", tt.text, c.Category, c.Decision.Reason, tt.category, tt.reason)
		}
		if c.ID != "TS0000000001" || c.Revision != 1 || c.Status != StatusOpen || len(c.References) != 1 {
			t.Errorf("case = %+v", c)
		}
		// 15 working days after Thursday 26 Nov: Thursday 17 Dec ends at 18 Dec 00:00 Shanghai.
		want := time.Date(2026, 12, 18, 0, 0, 0, 0, shanghai)
		if !c.Deadline.Equal(want) || len(c.Deadlines) != 1 || !strings.Contains(c.Deadlines[0].Basis, "第八条") {
			t.Errorf("deadline = %v %+v, want %v", c.Deadline, c.Deadlines, want)
		}
	}
}

func TestAddWorkingDaysSkipsWeekends(t *testing.T) {
	shanghai, _ := time.LoadLocation("Asia/Shanghai")
	// Friday 2026-11-27 23:30 Shanghai is still Friday there although UTC says Friday too;
	// Saturday 00:30 Shanghai is Friday in UTC: the zone decides.
	sat := time.Date(2026, 11, 27, 16, 30, 0, 0, time.UTC) // Saturday 00:30 Shanghai
	got := AddWorkingDays(sat, 1, shanghai)
	want := time.Date(2026, 12, 1, 0, 0, 0, 0, shanghai) // end of Monday 30 Nov
	if !got.Equal(want) {
		t.Errorf("AddWorkingDays = %v, want %v", got.In(shanghai), want)
	}
}

func TestConfigValidate(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DefaultCategory = "不存在"
	cfg.ReplyWorkingDays = 0
	cfg.Categories = append(cfg.Categories, Category{Name: "网络问题"})
	err := cfg.Validate()
	for _, want := range []string{"default_category", "reply_working_days", "listed twice", "keywords"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to mention %q", err, want)
		}
	}
}
