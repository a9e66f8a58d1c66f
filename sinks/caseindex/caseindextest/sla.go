package caseindextest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/sinks/caseindex"
)

// slaDay is 2024-05-07, a Tuesday and a working day after the 劳动节
// holiday (1–5 May); the suite's SLA cases are received at 09:00 on it
// unless said otherwise, and the default calendar counts whole working
// days, so 09:00 to 11:00 the same day is 2 working hours.
var slaDay = time.Date(2024, 5, 7, 9, 0, 0, 0, time.FixedZone("CST", 8*3600))

func at(h int) time.Time { return slaDay.Add(time.Duration(h) * time.Hour) }

func event(kind router.ActionKind, t time.Time, note string) router.Event {
	return router.Event{Action: string(kind) + t.Format("150405"), Kind: kind, Actor: "1001", At: t, Note: note}
}

// SLACorpus are cases of May and June 2024 in two categories with what an
// SLA report counts: on time and breached, replies and resolutions, repeat
// complaints, one batch of two cases and one of one, a satisfied and an
// unsatisfied follow-up, an invalid complaint, and one case of June that a
// May report leaves out.
func SLACorpus(tb testing.TB) []router.Case {
	tb.Helper()
	reply := func(due, stopped time.Time, met bool) router.Deadline {
		return router.Deadline{Name: "reply", Title: "答复用户", Due: due, Start: router.EventReceived, StartedAt: slaDay,
			Stop: router.EventReplied, StoppedAt: stopped, Met: met, Amount: 24, Unit: "working_hours"}
	}
	return []router.Case{
		// 信号差, answered after 2 hours, resolved after 6, visited: satisfied.
		NewCase(tb, "s1", func(c *router.Case) {
			c.Category, c.Route.Department, c.Channel = "网络质量", "网络部", ingest.ChannelHotline
			c.Description = "小区4G信号时有时无，5月6号起打不通电话"
			c.Validity.Valid = true
			c.ReceivedAt, c.Status = slaDay, router.StatusClosed
			c.Deadlines = []router.Deadline{reply(at(24), at(2), true)}
			c.History = []router.Event{event(router.ActionReply, at(2), "已致电用户，基站在抢修"),
				event(router.ActionResolve, at(6), "基站恢复"), event(router.ActionClose, at(30), "回访：客户满意。用户说信号好了")}
		}),
		// 宽带断网, reply clock missed at 30 working hours, resolved after
		// 40, the customer complained again, visited: not satisfied,
		// resolved again.
		NewCase(tb, "s2", func(c *router.Case) {
			c.Category, c.Route.Department, c.Channel = "网络质量", "网络部", ingest.ChannelEmail
			c.Description = "宽带三天两头断网，报修没人来！！"
			c.Validity.Valid = true
			c.ReceivedAt, c.Status = slaDay, router.StatusResolved
			c.Deadlines = []router.Deadline{reply(at(24), at(30), false)}
			c.Contacts = []router.Contact{{Complaint: "email:s2b", Reference: "TS-s2b", Kind: router.ContactRepeat,
				ReceivedAt: at(26), Text: "又断了，还没人联系我"}}
			c.History = []router.Event{event(router.ActionResolve, at(40), "更换光猫"),
				event(router.ActionReopen, at(50), "回访：客户不满意。说晚上还断"), event(router.ActionResolve, at(52), "")}
		}),
		// 账单多扣费, invalid (no account), its reply clock overdue.
		NewCase(tb, "s3", func(c *router.Case) {
			c.Category, c.Route.Department = "账单争议", "计费部"
			c.Description = "话费多扣了50元，5月账单不对"
			c.Validity = router.Validity{Valid: false, Reason: "未提供号码"}
			c.ReceivedAt, c.Status, c.Batch = slaDay, router.StatusOpen, "B-20240507-01"
			c.Deadlines = []router.Deadline{reply(at(24), time.Time{}, false)}
		}),
		// The same billing error, a repeat contact, clock running till 2099.
		NewCase(tb, "s4", func(c *router.Case) {
			c.Category, c.Route.Department = "账单争议", "计费部"
			c.Description = "同样被多扣费 账单 错误 请核查"
			c.Validity.Valid = true
			c.ReceivedAt, c.Status, c.Batch = slaDay, router.StatusInProgress, "B-20240507-01"
			c.Deadlines = []router.Deadline{reply(time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC), time.Time{}, false)}
			c.Contacts = []router.Contact{{Complaint: "webform:s4b", Reference: "TS-s4b", Kind: router.ContactRepeat,
				ReceivedAt: at(3), Text: "再次反映扣费"}}
		}),
		// 套餐变更 on 20 May: replied after 3 hours, resolved after 5.
		NewCase(tb, "s5", func(c *router.Case) {
			c.Category, c.Route.Department = "账单争议", "计费部"
			c.Description = "改了套餐还按旧套餐收费"
			c.Validity.Valid = true
			c.ReceivedAt, c.Status, c.Batch = slaDay.AddDate(0, 0, 13), router.StatusResolved, "B-20240520-02"
			c.History = []router.Event{event(router.ActionReply, c.ReceivedAt.Add(3*time.Hour), ""),
				event(router.ActionResolve, c.ReceivedAt.Add(5*time.Hour), "已退差价")}
		}),
		// June: not in a May report.
		NewCase(tb, "s6", func(c *router.Case) {
			c.Category, c.Route.Department = "账单争议", "计费部"
			c.Validity.Valid = true
			c.ReceivedAt = time.Date(2024, 6, 3, 10, 0, 0, 0, time.UTC)
		}),
	}
}

// SLAMay is the May 2024 query of SLAReportMay.
var SLAMay = caseindex.SLAQuery{From: time.Date(2024, 5, 1, 0, 0, 0, 0, time.FixedZone("CST", 8*3600)),
	To: time.Date(2024, 6, 1, 0, 0, 0, 0, time.FixedZone("CST", 8*3600)), GroupBy: "category", Interval: "week"}

func f(v float64) *float64 { return &v }

// SLAReportMay is the report of SLAMay over SLACorpus, counted by hand.
// Reply times: s1 120, s2 1800 (the missed clock's stop), s5 180 working
// minutes, 2100/3 = 700 minutes on average, the third of three in the
// bucket up to 40 hours. Resolution: s1 360, s2 2400 (the first
// resolution), s5 300, 1020 minutes on average.
var SLAReportMay = caseindex.SLAReport{
	From: "2024-05-01", To: "2024-05-31", GroupBy: "category", Interval: "week",
	Total: caseindex.Figures{Received: 5, Valid: 4, Invalid: 1, Resolved: 3, ResolvedOnTime: 2, OnTimeRate: f(2.0 / 3),
		Breached: 2, Reply: caseindex.Durations{Count: 3, AvgHours: 700.0 / 60, P90Hours: f(40)},
		Resolve: caseindex.Durations{Count: 3, AvgHours: 17, P90Hours: f(40)},
		Repeats: 2, RepeatRate: f(0.4), Batches: 2, FollowUps: 2, Satisfied: 1, SatisfiedRate: f(0.5)},
	Groups: []caseindex.Figures{
		{Key: "账单争议", Received: 3, Valid: 2, Invalid: 1, Resolved: 1, ResolvedOnTime: 1, OnTimeRate: f(1), Breached: 1,
			Reply:   caseindex.Durations{Count: 1, AvgHours: 3, P90Hours: f(4)},
			Resolve: caseindex.Durations{Count: 1, AvgHours: 5, P90Hours: f(8)},
			Repeats: 1, RepeatRate: f(1.0 / 3), Batches: 2},
		{Key: "网络质量", Received: 2, Valid: 2, Resolved: 2, ResolvedOnTime: 1, OnTimeRate: f(0.5), Breached: 1,
			Reply:   caseindex.Durations{Count: 2, AvgHours: 16, P90Hours: f(40)},
			Resolve: caseindex.Durations{Count: 2, AvgHours: 23, P90Hours: f(40)},
			Repeats: 1, RepeatRate: f(0.5), FollowUps: 2, Satisfied: 1, SatisfiedRate: f(0.5)},
	},
}

func init() {
	// The weekly trend: 1–5 May (the holiday), the week of the 7th with
	// four cases, the 13th, the 20th with s5, and 27–31 May.
	weeks := []string{"2024-05-01", "2024-05-06", "2024-05-13", "2024-05-20", "2024-05-27"}
	for _, w := range weeks {
		SLAReportMay.Trend = append(SLAReportMay.Trend, caseindex.Figures{Key: w})
	}
	SLAReportMay.Trend[1] = caseindex.Figures{Key: weeks[1], Received: 4, Valid: 3, Invalid: 1, Resolved: 2, ResolvedOnTime: 1,
		OnTimeRate: f(0.5), Breached: 2, Reply: caseindex.Durations{Count: 2, AvgHours: 16, P90Hours: f(40)},
		Resolve: caseindex.Durations{Count: 2, AvgHours: 23, P90Hours: f(40)},
		Repeats: 2, RepeatRate: f(0.5), Batches: 1, FollowUps: 2, Satisfied: 1, SatisfiedRate: f(0.5)}
	SLAReportMay.Trend[3] = caseindex.Figures{Key: weeks[3], Received: 1, Valid: 1, Resolved: 1, ResolvedOnTime: 1, OnTimeRate: f(1),
		Reply:      caseindex.Durations{Count: 1, AvgHours: 3, P90Hours: f(4)},
		Resolve:    caseindex.Durations{Count: 1, AvgHours: 5, P90Hours: f(8)},
		RepeatRate: f(0), Batches: 1}
}

// testSLAReport checks that the report computed from the index's counts
// equals the one counted by hand, and that a scope narrows it.
func testSLAReport(t *testing.T, idx caseindex.Index) {
	upsert(t, idx, SLACorpus(t)...)
	got, err := caseindex.BuildSLA(context.Background(), idx, SLAMay)
	if err != nil {
		t.Fatal(err)
	}
	SameReport(t, got, SLAReportMay)

	scoped := SLAMay
	scoped.Scope = &caseindex.Scope{Departments: []string{"网络部"}}
	got, err = caseindex.BuildSLA(context.Background(), idx, scoped)
	if err != nil {
		t.Fatal(err)
	}
	if got.Total.Received != 2 || len(got.Groups) != 1 || got.Groups[0].Key != "网络质量" || got.Total.Batches != 0 {
		t.Errorf("report scoped to 网络部: total %+v, groups %+v; want 2 cases of 网络质量 and no batch", got.Total, got.Groups)
	}
}

// SameReport fails tb when got and want differ, rates and averages to
// within a millionth.
func SameReport(tb testing.TB, got, want caseindex.SLAReport) {
	tb.Helper()
	round := func(r caseindex.SLAReport) string {
		b, err := json.Marshal(r)
		if err != nil {
			tb.Fatal(err)
		}
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			tb.Fatal(err)
		}
		roundFloats(v)
		out, _ := json.MarshalIndent(v, "", " ")
		return string(out)
	}
	if g, w := round(got), round(want); g != w {
		tb.Errorf("SLA report:\n%s\nwant:\n%s", g, w)
	}
}

// roundFloats rounds every number in a decoded JSON value to six decimals.
func roundFloats(v any) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if n, ok := e.(float64); ok {
				x[k] = float64(int64(n*1e6+0.5)) / 1e6
			} else {
				roundFloats(e)
			}
		}
	case []any:
		for _, e := range x {
			roundFloats(e)
		}
	}
}
