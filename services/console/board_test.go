package console

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tousu/tousu/router"
)

// boardCases are the fixtures with a batch incident of 信号 complaints
// (TS-B, TS-D), an escalation of TS-B raised an hour ago, and TS-F, a
// complaint received five minutes ago whose first warning (50% of its 4
// working hours) comes in two working hours.
func boardCases(tb testing.TB) []router.Case {
	tb.Helper()
	cases := fixtures(tb)
	for i := range cases {
		switch cases[i].ID {
		case "TS-B":
			cases[i].Batch = "BATCH-0305-信号"
			if len(cases[i].Escalation.Alerts) == 0 {
				tb.Fatal("TS-B has no escalation ladder")
			}
			cases[i].Escalation.Alerts[0].RaisedAt = testNow.Add(-time.Hour)
			cases[i].Escalation.Level = cases[i].Escalation.Alerts[0].Level
		case "TS-D":
			cases[i].Batch = "BATCH-0305-信号"
		}
	}
	return append(cases, complaint(tb, "TS-F", "+8613912340006", "营业厅办理携号转网被拒，工作人员态度恶劣，要求给个说法", testNow.Add(-5*time.Minute), func(c *router.Case) {
		c.Route.Department = "网络运维部"
	}))
}

// section is the part of a board page from the heading id to the next
// section.
func section(page, id string) string {
	_, rest, _ := strings.Cut(page, `id="`+id+`"`)
	s, _, _ := strings.Cut(rest, "</section>")
	return s
}

// TestBoard: a supervisor sees the breached cases, those whose next
// warning comes within the chosen working hours, today's escalations,
// the batch incidents and each department's counts; nobody else sees
// the board.
func TestBoard(t *testing.T) {
	ps := newPagesServer(t, boardCases(t)...)
	for _, tt := range []struct {
		query            string
		breached, atRisk []string
		title            string
	}{
		{"within=1", []string{"TS-B", "TS-C", "TS-D"}, []string{"TS-A"}, "1 个工作小时内将预警（1）"},
		{"", []string{"TS-B", "TS-C", "TS-D"}, []string{"TS-A", "TS-F"}, "4 个工作小时内将预警（2）"},
		{"within=99", []string{"TS-B", "TS-C", "TS-D"}, []string{"TS-A", "TS-F"}, "4 个工作小时内将预警（2）"},
	} {
		code, page := ps.get(t, "王", "/console/board?"+tt.query)
		if code != http.StatusOK {
			t.Fatalf("GET /console/board?%s = %d %.300s", tt.query, code, page)
		}
		inOrder(t, tt.query+" breached", section(page, "breached"), tt.breached)
		atRisk := section(page, "atrisk")
		inOrder(t, tt.query+" at risk", atRisk, tt.atRisk)
		if !strings.Contains(atRisk, tt.title) || !strings.Contains(atRisk, "第 1 级 · 时限已过 50%（预警） · 2026-03-05 15:30 通知值班长") {
			t.Errorf("%s: the cases at risk lack their title or TS-A's warning:\n%s", tt.query, atRisk)
		}
	}
	_, page := ps.get(t, "王", "/console/board")
	for id, want := range map[string][]string{
		"breached": {"已超时 2 天 5 小时", "已升级至第 1 级", "尚未升级", `action="/console/cases/TS-B/actions"`, `<option>网络运维部</option>`},
		"raised":   {"今日已发出的升级预警（1）", "/console/cases/TS-B", "第 1 级 · 时限已过 50%（预警）", "值班长", "2026-03-05 13:30"},
		"batches":  {"BATCH-0305-信号", "2 件", "2 件超时", "客户服务中心、网络运维部"},
		"depts":    {`<th scope="row">客户服务中心</th><td>1</td><td>2</td><td class="err">2</td>`, `<th scope="row">网络运维部</th><td>2</td><td>0</td><td class="err">1</td>`},
	} {
		s := section(page, id)
		for _, w := range want {
			if !strings.Contains(s, w) {
				t.Errorf("board section %s lacks %q:\n%s", id, w, s)
			}
		}
	}
	if !strings.Contains(page, `href="/console/board" aria-current="page">主管看板</a>`) {
		t.Error("the supervisor's navigation lacks the board")
	}
	ps.check(t, "甲", "/console/board", http.StatusNotFound, []string{"页面不存在"}, []string{"TS-B", "主管看板"})
	if code, loc := ps.get(t, "", "/console/board"); code != http.StatusSeeOther || loc != "/console/signin" {
		t.Errorf("without a session GET /console/board = %d %s, want the sign-in page", code, loc)
	}
}

// TestBoardTransfer: the board's form transfers a case another agent
// holds, with the supervisor's override.
func TestBoardTransfer(t *testing.T) {
	ps := newPagesServer(t, boardCases(t)...)
	code, loc := ps.post(t, "王", "/console/cases/TS-B/actions", url.Values{"_csrf": {testCSRF}, "kind": {"transfer"}, "key": {"board-TS-B-1"},
		"department": {"网络运维部"}, "assignee": {"坐席乙"}})
	if code != http.StatusSeeOther || !strings.HasPrefix(loc, "/console/cases/TS-B?action=") {
		t.Fatalf("transfer from the board = %d %s", code, loc)
	}
	if len(ps.published) != 1 {
		t.Fatalf("published %d actions, want 1", len(ps.published))
	}
	a := ps.published[0]
	if a.Kind != router.ActionTransfer || a.Department != "网络运维部" || a.Assignee != "坐席乙" || !a.Override || a.Actor != "主管王" {
		t.Errorf("published %+v, want a transfer to 网络运维部/坐席乙 by 主管王 with the override", a)
	}
}

// TestNextWarning: the next warning skips alerts already raised and those
// of stopped clocks.
func TestNextWarning(t *testing.T) {
	at := func(h int) time.Time { return testNow.Add(time.Duration(h) * time.Hour) }
	c := router.Case{
		Deadlines: []router.Deadline{{Name: "acknowledge", Due: at(4), StoppedAt: at(-1)}, {Name: "reply", Due: at(100)}},
		Escalation: router.Escalation{Alerts: []router.Alert{
			{At: at(1), Level: 1, Clock: "acknowledge", Step: "50%"},
			{At: at(2), Level: 1, Clock: "reply", Step: "50%", RaisedAt: at(0)},
			{At: at(8), Level: 2, Clock: "reply", Step: "80%"},
			{At: at(3), Level: 3, Clock: "gone", Step: "breach"},
		}},
	}
	if a, ok := nextWarning(c); !ok || a.Step != "80%" {
		t.Errorf("nextWarning = %+v %v, want reply's 80%%", a, ok)
	}
	c.Escalation.Alerts = c.Escalation.Alerts[:2]
	if a, ok := nextWarning(c); ok {
		t.Errorf("nextWarning = %+v, want none", a)
	}
}
