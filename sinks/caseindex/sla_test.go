package caseindex

import (
	"slices"
	"testing"
	"time"

	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/router/calendar"
)

// officeHours is a pack's calendar with business hours 08:30–12:00 and
// 13:30–17:30 (7.5 working hours a day).
func officeHours(tb testing.TB) *calendar.Calendar {
	tb.Helper()
	cfg := calendar.DefaultConfig()
	cfg.BusinessHours = []string{"08:30-12:00", "13:30-17:30"}
	cal, err := calendar.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return cal
}

// TestSLAFacts: the facts of a case, with working times on the pack's
// calendar: a reply on Friday afternoon after 劳动节 eve, over the
// holiday, counts only business hours.
func TestSLAFacts(t *testing.T) {
	cst := time.FixedZone("CST", 8*3600)
	// Tuesday 30 April 2024, 16:00; 1–5 May is the holiday, Monday 6 May
	// a working day.
	received := time.Date(2024, 4, 30, 16, 0, 0, 0, cst)
	now := time.Date(2024, 5, 10, 0, 0, 0, 0, cst)
	office := officeHours(t)
	tests := []struct {
		name    string
		c       router.Case
		cal     *calendar.Calendar
		want    []string
		without []string
	}{{
		name: "replied after the holiday, office hours",
		c: router.Case{ReceivedAt: received, Status: router.StatusOpen, Category: "网络质量", Validity: router.Validity{Valid: true},
			History: []router.Event{{Kind: router.ActionReply, At: time.Date(2024, 5, 6, 9, 30, 0, 0, cst), Note: "已电话答复"}}},
		cal: office,
		// 16:00–17:30 on 30 April and 08:30–09:30 on 6 May: 150 minutes
		// (bits 1, 2, 4 and 7), in the bucket up to 4 hours.
		want:    []string{"received", "valid", "category=网络质量", "reply", "reply_bit=1", "reply_bit=2", "reply_bit=4", "reply_bit=7", "reply_le=4"},
		without: []string{"resolved", "breached", "resolve"},
	}, {
		name: "the same reply on the whole-day default calendar",
		c: router.Case{ReceivedAt: received, Status: router.StatusOpen, Category: "网络质量", Validity: router.Validity{Valid: true},
			History: []router.Event{{Kind: router.ActionReply, At: time.Date(2024, 5, 6, 9, 30, 0, 0, cst)}}},
		cal: DefaultCalendar(),
		// 8 hours on 30 April, 9.5 on 6 May: 1050 minutes, up to 24 hours.
		want: []string{"reply", "reply_le=24"},
	}, {
		name: "closed unresolved after a missed clock, unsatisfied then satisfied",
		c: router.Case{ReceivedAt: received, Status: router.StatusClosed, Batch: "B-0501", Pack: "telecom@1",
			Deadlines: []router.Deadline{{Name: "resolve", Due: received.Add(time.Hour), StoppedAt: received.Add(2 * time.Hour)}},
			History: []router.Event{
				{Kind: router.ActionReopen, At: received.Add(time.Hour), Note: "回访：客户不满意。说没人上门"},
				{Kind: router.ActionClose, At: received.Add(90 * time.Minute), Note: "回访：客户满意"}},
			Contacts: []router.Contact{{Kind: router.ContactDuplicate}, {Kind: router.ContactRepeat}}},
		// The first close, 16:00–17:30: 90 minutes, up to 2 hours.
		cal:     office,
		want:    []string{"invalid", "resolved", "breached", "repeat", "follow_up=satisfied", "batch=B-0501", "resolve", "resolve_le=2"},
		without: []string{"on_time", "follow_up=unsatisfied", "reply"},
	}, {
		name: "a running clock past due at now is breached, one due later is not",
		c: router.Case{ReceivedAt: received, Status: router.StatusInProgress, Validity: router.Validity{Valid: true},
			Deadlines: []router.Deadline{{Name: "reply", Due: now.Add(-time.Minute)}, {Name: "resolve", Due: now.Add(time.Hour)}}},
		want:    []string{"breached", "valid"},
		without: []string{"resolved", "on_time", "reply", "resolve"},
	}, {
		name:    "no verdict (no pack decided it) is neither valid nor invalid",
		c:       router.Case{ReceivedAt: received, Status: router.StatusOpen},
		want:    []string{"received"},
		without: []string{"valid", "invalid"},
	}, {
		name: "resolved with its clock met is on time",
		c: router.Case{ReceivedAt: received, Status: router.StatusResolved, Validity: router.Validity{Valid: true},
			Deadlines: []router.Deadline{{Name: "reply", Due: now, Stop: router.EventReplied, StoppedAt: received.Add(time.Hour), Met: true}},
			History:   []router.Event{{Kind: router.ActionResolve, At: received.Add(time.Hour)}}},
		cal: office,
		// The reply clock's stop is the reply: 60 minutes (bits 2–5).
		want:    []string{"resolved", "on_time", "reply", "reply_bit=2", "reply_bit=3", "reply_bit=4", "reply_bit=5", "reply_le=1", "resolve_le=1"},
		without: []string{"breached", "reply_bit=0"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := SLAFacts(tt.c, tt.cal, now)
			for _, w := range tt.want {
				if !slices.Contains(got, w) {
					t.Errorf("facts %q lack %q", got, w)
				}
			}
			for _, w := range tt.without {
				if slices.Contains(got, w) {
					t.Errorf("facts %q hold %q", got, w)
				}
			}
		})
	}
}

// TestFiguresFromCounts: averages are exact from the bit counts and P90
// is read to its bucket.
func TestFiguresFromCounts(t *testing.T) {
	counts := map[string]int{}
	add := func(minutes int64) {
		for _, f := range durationFacts("reply", minutes) {
			counts[f]++
		}
	}
	// Ten replies: nine within 2 hours, one after 30 hours.
	for _, m := range []int64{5, 10, 30, 45, 60, 61, 90, 100, 119} {
		add(m)
	}
	add(1800)
	counts[FactReceived] = 10
	f := FiguresFromCounts("网络质量", counts)
	if want := (5 + 10 + 30 + 45 + 60 + 61 + 90 + 100 + 119 + 1800) / 10.0 / 60; f.Reply.Count != 10 || f.Reply.AvgHours != want {
		t.Errorf("reply %+v, want 10 replies averaging %v hours", f.Reply, want)
	}
	if f.Reply.P90Hours == nil || *f.Reply.P90Hours != 2 {
		t.Errorf("P90 %v, want the bucket up to 2 hours (9 of 10 within it)", f.Reply.P90Hours)
	}
	// An eleventh after 600 hours: the tenth of eleven, 1800 minutes,
	// is the P90, up to 40 hours; with two more that slow it is above 480.
	add(600 * 60)
	if f := FiguresFromCounts("", counts); f.Reply.P90Over || f.Reply.P90Hours == nil || *f.Reply.P90Hours != 40 {
		t.Errorf("P90 of 11 with two slow ones: %+v, want up to 40 hours", f.Reply)
	}
	add(600 * 60)
	add(600 * 60)
	if f := FiguresFromCounts("", counts); !f.Reply.P90Over || f.Reply.P90Hours != nil {
		t.Errorf("P90 of 13 with four slow ones: %+v, want above the last edge", f.Reply)
	}
	if f.OnTimeRate != nil || f.SatisfiedRate != nil || f.RepeatRate == nil || *f.RepeatRate != 0 {
		t.Errorf("rates without a denominator must be nil: %+v", f)
	}
}
