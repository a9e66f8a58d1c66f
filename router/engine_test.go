package router

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/normalize"
	"github.com/tousu/tousu/router/calendar"
)

var shanghai = func() *time.Location {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		panic(err)
	}
	return loc
}()

func at(tb testing.TB, s string) time.Time {
	tb.Helper()
	t, err := time.ParseInLocation("2006-01-02 15:04", s, shanghai)
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

func reachable(text string, received time.Time) normalize.Complaint {
	return normalize.Complaint{
		V: 1, ID: "api:1", Reference: "TS0000000001", Channel: "api", Description: text, ReceivedAt: received,
		Customer: normalize.Customer{Phone: "+8613800138000", Key: "phone:+8613800138000"},
	}
}

func TestEngineDecisions(t *testing.T) {
	e := miniEngine(t)
	received := at(t, "2025-09-30 10:00") // Tuesday before National Day
	tests := []struct {
		name        string
		complaint   func(c *normalize.Complaint)
		contactType string
		category    string
		categoryBy  string
		valid       bool
		reason      string
		grade       string
		deadlines   map[string]string // name -> due, "" for an error
		route       Route
	}{
		{
			name:        "inquiry decided by rules",
			complaint:   func(c *normalize.Complaint) { c.Description = "请问扣费是怎么算的" },
			contactType: "咨询", category: "费用", categoryBy: "rule", valid: true, grade: "一般",
			deadlines: map[string]string{},
			route:     Route{Department: "财务部", Queue: "费用", Owner: "张三"},
		},
		{
			name:        "complaint decided by the model",
			complaint:   func(c *normalize.Complaint) { c.Description = "家里手机信号很差，网速太慢" },
			contactType: "投诉", category: "网络", categoryBy: "model", valid: true, grade: "一般",
			// 15 working days: 9–11 Oct (Saturday 11 worked), 13–17, 20–24, 27, 28 Oct.
			deadlines: map[string]string{"reply": "2025-10-29 00:00", "ack": "2025-09-30 12:00"},
			route:     Route{Department: "客服部", Queue: "默认"},
		},
		{
			name:        "media makes it major, route merges the default department",
			complaint:   func(c *normalize.Complaint) { c.Description = "再不处理我就找记者，信号太差了" },
			contactType: "投诉", category: "网络", categoryBy: "model", valid: true, grade: "重大",
			deadlines: map[string]string{"reply": "2025-10-29 00:00", "ack": "2025-09-30 12:00", "report": "2025-09-30 11:00"},
			route:     Route{Department: "客服部", Queue: "重大"},
		},
		{
			name: "anonymous is invalid",
			complaint: func(c *normalize.Complaint) {
				c.Description = "信号很差"
				c.Customer = normalize.Customer{Key: "anonymous:api:1"}
			},
			contactType: "投诉", category: "网络", categoryBy: "model", valid: false, reason: "匿名", grade: "一般",
			deadlines: map[string]string{"reply": "2025-10-29 00:00", "ack": "2025-09-30 12:00"},
			route:     Route{Department: "客服部", Queue: "默认"},
		},
		{
			name: "billing older than five months is invalid",
			complaint: func(c *normalize.Complaint) {
				c.Description = "三月份扣费不对"
				c.OccurredAt = at(t, "2025-04-29 10:00")
			},
			contactType: "投诉", category: "费用", categoryBy: "rule", valid: false, reason: "超过五个月", grade: "一般",
			deadlines: map[string]string{"reply": "2025-10-29 00:00", "ack": "2025-09-30 12:00"},
			route:     Route{Department: "财务部", Queue: "费用", Owner: "张三"},
		},
		{
			name: "billing exactly five months old is still valid",
			complaint: func(c *normalize.Complaint) {
				c.Description = "三月份扣费不对"
				c.OccurredAt = at(t, "2025-04-30 10:00")
			},
			contactType: "投诉", category: "费用", categoryBy: "rule", valid: true, grade: "一般",
			deadlines: map[string]string{"reply": "2025-10-29 00:00", "ack": "2025-09-30 12:00"},
			route:     Route{Department: "财务部", Queue: "费用", Owner: "张三"},
		},
		{
			name: "source field names the category",
			complaint: func(c *normalize.Complaint) {
				c.Description = "话费多收了钱"
				c.Extra = map[string]string{"category": "网络"}
			},
			contactType: "投诉", category: "网络", categoryBy: "input", valid: true, grade: "一般",
			deadlines: map[string]string{"reply": "2025-10-29 00:00", "ack": "2025-09-30 12:00"},
			route:     Route{Department: "客服部", Queue: "默认"},
		},
		{
			name:        "unknown text falls to a hint rule",
			complaint:   func(c *normalize.Complaint) { c.Description = "感觉不好" },
			contactType: "投诉", category: "网络", categoryBy: "rule", valid: true, grade: "一般",
			deadlines: map[string]string{"reply": "2025-10-29 00:00", "ack": "2025-09-30 12:00"},
			route:     Route{Department: "客服部", Queue: "默认"},
		},
		{
			name:        "nothing known gives the default category",
			complaint:   func(c *normalize.Complaint) { c.Description = "哈哈哈" },
			contactType: "投诉", category: "其他", categoryBy: "default", valid: true, grade: "一般",
			deadlines: map[string]string{"reply": "2025-10-29 00:00", "ack": "2025-09-30 12:00"},
			route:     Route{Department: "客服部", Queue: "默认"},
		},
		{
			name: "a year the calendar does not cover is an error on the clock",
			complaint: func(c *normalize.Complaint) {
				c.Description = "信号很差"
				c.ReceivedAt = at(t, "2027-12-20 10:00")
			},
			contactType: "投诉", category: "网络", categoryBy: "model", valid: true, grade: "一般",
			deadlines: map[string]string{"reply": "", "ack": "2027-12-20 12:00"},
			route:     Route{Department: "客服部", Queue: "默认"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := reachable("", received)
			tt.complaint(&c)
			v := e.Decide(c, received)
			if v.ContactType != tt.contactType || v.Category != tt.category || v.Grade != tt.grade {
				t.Errorf("type/category/grade = %s/%s/%s, want %s/%s/%s", v.ContactType, v.Category, v.Grade, tt.contactType, tt.category, tt.grade)
			}
			if by := explained(v, "category").By; by != tt.categoryBy {
				t.Errorf("category decided by %s, want %s (%+v)", by, tt.categoryBy, explained(v, "category"))
			}
			if v.Validity.Valid != tt.valid || !strings.Contains(v.Validity.Reason, tt.reason) {
				t.Errorf("validity = %+v, want valid %v reason %q", v.Validity, tt.valid, tt.reason)
			}
			if !tt.valid && v.Validity.Basis == "" {
				t.Errorf("invalid without basis: %+v", v.Validity)
			}
			if v.Route != tt.route {
				t.Errorf("route = %+v, want %+v", v.Route, tt.route)
			}
			got := map[string]Deadline{}
			for _, d := range v.Deadlines {
				got[d.Name] = d
			}
			if len(got) != len(tt.deadlines) {
				t.Errorf("deadlines %+v, want %v", v.Deadlines, tt.deadlines)
			}
			var first time.Time
			for name, due := range tt.deadlines {
				d := got[name]
				if due == "" {
					if d.Error == "" || !d.Due.IsZero() || !strings.Contains(d.Error, "no official holiday arrangement") {
						t.Errorf("%s: want an uncovered-calendar error, got %+v", name, d)
					}
					continue
				}
				want := at(t, due)
				if !d.Due.Equal(want) || d.Error != "" || d.Basis == "" || d.Unit == "" {
					t.Errorf("%s due %v (%s), want %v", name, d.Due, d.Error, want)
				}
				if first.IsZero() || want.Before(first) {
					first = want
				}
			}
			if !v.Deadline.Equal(first) {
				t.Errorf("Deadline = %v, want the earliest %v", v.Deadline, first)
			}
			if len(v.PendingClocks) != 1 || v.PendingClocks[0].Name != "visit" || !v.PendingClocks[0].Due.IsZero() {
				t.Errorf("pending = %+v, want the visit clock", v.PendingClocks)
			}
			for _, field := range []string{"contact_type", "category", "validity", "grade", "route"} {
				if x := explained(v, field); x.Value == "" || x.By == "" {
					t.Errorf("no explanation for %s: %+v", field, v.Explanation)
				}
			}
		})
	}
}

func explained(v Verdict, field string) Explanation {
	for _, x := range v.Explanation {
		if x.Field == field && x.By != "note" {
			return x
		}
	}
	return Explanation{}
}

func TestEscalationSchedule(t *testing.T) {
	e := miniEngine(t)
	received := at(t, "2025-09-30 10:00")
	v := e.Decide(reachable("我要找记者曝光，信号很差", received), received)
	type alert struct {
		at, clock, step string
		level           int
	}
	var got []alert
	for _, a := range v.Escalation.Alerts {
		got = append(got, alert{a.At.In(shanghai).Format("2006-01-02 15:04"), a.Clock, a.Step, a.Level})
	}
	// reply: 127 working hours (7 on 30 Sep, 8 on each of the 15 days);
	// half of it, 63.5 h, ends at 09:30 on Friday 17 Oct.
	want := []alert{
		{"2025-09-30 10:00", "", "grade 重大", 2},
		{"2025-10-17 09:30", "reply", "50%", 1},
		{"2025-10-29 00:00", "reply", "breach", 2},
		{"2025-10-30 00:00", "reply", "breach+1d", 3},
	}
	if len(got) != len(want) {
		t.Fatalf("alerts = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("alert %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if v.Escalation.Level != 2 {
		t.Errorf("level = %d, want 2 (the grade alert is due at once)", v.Escalation.Level)
	}
	if later := e.Decide(reachable("我要找记者曝光，信号很差", received), at(t, "2025-10-29 08:00")); later.Escalation.Level != 2 {
		t.Errorf("level after breach = %d, want 2", later.Escalation.Level)
	}
	if later := e.Decide(reachable("我要找记者曝光，信号很差", received), at(t, "2025-10-30 08:00")); later.Escalation.Level != 3 {
		t.Errorf("level a day after breach = %d, want 3", later.Escalation.Level)
	}
}

func TestOpenAndStart(t *testing.T) {
	e := miniEngine(t)
	received := at(t, "2025-09-30 10:00")
	c := e.Open(reachable("话费多收了钱，扣费不对", received), received)
	if c.ID != "TS0000000001" || c.Revision != 1 || c.Status != StatusOpen || c.Pack != "mini@1" ||
		c.Category != "费用" || c.Decision.Category != "费用" || c.Decision.Confidence != 1 || !strings.Contains(c.Decision.Reason, "c-fee") {
		t.Errorf("case = %+v", c)
	}
	if !c.Deadline.Equal(at(t, "2025-09-30 12:00")) || len(c.Deadlines) != 2 || len(c.PendingClocks) != 1 {
		t.Errorf("deadlines = %v %+v pending %+v", c.Deadline, c.Deadlines, c.PendingClocks)
	}
	// Backward-compatible JSON: the old fields keep their names.
	data, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"category":"费用"`, `"decision":{`, `"deadlines":[`, `"deadline":"2025-09-30T12:00:00+08:00"`, `"contact_type":"投诉"`, `"validity":{"valid":true}`, `"route":{"department":"财务部"`, `"explanation":[`, `"pending_clocks":[`} {
		if !strings.Contains(string(data), key) {
			t.Errorf("case JSON lacks %s: %s", key, data)
		}
	}
	var back Case
	if err := json.Unmarshal(data, &back); err != nil || !reflect.DeepEqual(back.Validity, c.Validity) || len(back.Explanation) != len(c.Explanation) {
		t.Errorf("round trip: %v %+v", err, back)
	}

	resolved := at(t, "2025-10-10 16:00")
	started, err := e.Start(c, "resolved", resolved)
	if err != nil {
		t.Fatal(err)
	}
	if len(started.PendingClocks) != 0 || len(started.Deadlines) != 3 {
		t.Fatalf("after Start: deadlines %+v pending %+v", started.Deadlines, started.PendingClocks)
	}
	visit := started.Deadlines[2]
	if visit.Name != "visit" || !visit.Due.Equal(at(t, "2025-10-14 00:00")) || !visit.StartedAt.Equal(resolved) {
		t.Errorf("visit clock = %+v, want due at the end of 13 Oct", visit)
	}
	if len(started.Escalation.Alerts) != len(c.Escalation.Alerts)+3 || len(c.PendingClocks) != 1 {
		t.Errorf("Start must add the visit ladder without touching the original: %d -> %d", len(c.Escalation.Alerts), len(started.Escalation.Alerts))
	}
	if again, err := e.Start(started, "resolved", resolved); err != nil || len(again.Deadlines) != 3 {
		t.Errorf("second Start: %v %+v", err, again.Deadlines)
	}
	if _, err := e.Start(c, "inspected", resolved); err == nil {
		t.Error("Start with an unknown event must fail")
	}
}

func TestCheckCoverage(t *testing.T) {
	e := miniEngine(t)
	if err := e.CheckCoverage(at(t, "2026-11-26 10:00")); err != nil {
		t.Error(err)
	}
	if err := e.CheckCoverage(at(t, "2028-01-05 10:00")); err == nil || !strings.Contains(err.Error(), "2028") {
		t.Errorf("CheckCoverage(2028) = %v", err)
	}
	if err := e.CheckCoverageAhead(at(t, "2026-11-26 10:00"), 45*24*time.Hour); err != nil {
		t.Error(err)
	}
	if err := e.CheckCoverageAhead(at(t, "2027-11-26 10:00"), 45*24*time.Hour); err == nil || !strings.Contains(err.Error(), "2027-12-29") {
		t.Errorf("CheckCoverageAhead(2027-11-26) = %v, want it to name 2027-12-29", err)
	}
	if _, err := e.Calendar().AddWorkingDays(at(t, "2027-12-20 10:00"), 15); !errors.Is(err, calendar.ErrNotCovered) {
		t.Errorf("AddWorkingDays into 2028 = %v", err)
	}
}

func TestEngineConcurrentAndDeterministic(t *testing.T) {
	e, err := LoadEngine("../configs/policies/telecom.yaml")
	if err != nil {
		t.Fatal(err)
	}
	received := at(t, "2025-09-26 16:00")
	texts := []string{"这个月话费多扣了58块，要求退钱", "家里宽带老是断网，修了好几次", "营业员态度很差", "请问怎么办理携号转网"}
	want := make([]string, len(texts))
	for i, text := range texts {
		b, _ := json.Marshal(e.Open(reachable(text, received), received))
		want[i] = string(b)
	}
	again, err := LoadEngine("../configs/policies/telecom.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			eng := e
			if g%2 == 1 {
				eng = again // a second, independently trained engine decides the same
			}
			for i, text := range texts {
				b, _ := json.Marshal(eng.Open(reachable(text, received), received))
				if string(b) != want[i] {
					t.Errorf("goroutine %d: %s decided differently:\n%s\n%s", g, text, b, want[i])
				}
			}
		}()
	}
	wg.Wait()
}

func TestPacksSelection(t *testing.T) {
	cfg := PacksConfig{Packs: []PackRef{
		{Path: "builtin:telecom"},
		{Path: "testdata/mini.yaml", Sources: []string{"estate-crm"}, Channels: []string{"email"}},
	}}
	p, err := LoadPacks(cfg, ".")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		channel, source, want string
	}{
		{"api", "", "telecom@2026.1"},
		{"webhook", "estate-crm", "mini@1"},
		{"email", "", "mini@1"},
		{"webhook", "other", "telecom@2026.1"},
	}
	for _, tt := range tests {
		c := reachable("信号很差", at(t, "2025-09-30 10:00"))
		c.Channel, c.Source = ingest.Channel(tt.channel), tt.source
		if got := p.Open(c, c.ReceivedAt).Pack; got != tt.want {
			t.Errorf("%s/%s: pack %s, want %s", tt.channel, tt.source, got, tt.want)
		}
	}
	if p.ByName("mini@1") == nil || p.ByName("nope") != nil || len(p.Engines()) != 2 {
		t.Error("ByName/Engines")
	}
	if err := p.CheckCoverage(at(t, "2026-11-26 10:00")); err != nil {
		t.Error(err)
	}
	bad := []struct {
		cfg  PacksConfig
		want string
	}{
		{PacksConfig{Packs: []PackRef{{Path: "a.yaml"}, {Path: "b.yaml"}}}, "exactly one default"},
		{PacksConfig{Packs: []PackRef{{Path: "a.yaml"}, {Path: "b.yaml", Channels: []string{"fax"}}}}, `unknown channel "fax"`},
		{PacksConfig{Packs: []PackRef{{Path: "a.yaml"}, {Path: "b.yaml", Sources: []string{"x"}}, {Path: "c.yaml", Sources: []string{"x"}}}}, "claimed by"},
		{PacksConfig{Packs: []PackRef{{Path: ""}}}, "path: must not be empty"},
	}
	for _, tt := range bad {
		if err := tt.cfg.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Validate(%+v) = %v, want %q", tt.cfg, err, tt.want)
		}
	}
	for _, missing := range []string{"testdata/missing.yaml", "builtin:missing"} {
		if _, err := LoadPacks(PacksConfig{Packs: []PackRef{{Path: missing}}}, "."); err == nil {
			t.Errorf("missing pack %s must fail", missing)
		}
	}
}
