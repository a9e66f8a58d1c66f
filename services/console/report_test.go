package console

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestReportPage: a supervisor's report page has the choosers holding the
// query, a row per department with 合计 (the walk's cases: one of
// 投诉处理一部, two of 理赔部, all open and in March 2026), the trend
// table the chart is drawn from, the chart's script and the downloads of
// the same report; a wrong date says so and shows the default report.
func TestReportPage(t *testing.T) {
	app := walkServer(t)
	b := &browser{tb: t, app: app, cookies: map[string]string{}, ip: "203.0.113.11"}
	b.signIn("li.na", superPassword, "")
	a := b.do(http.MethodGet, Path+"/reports?from=2026-03-01&to=2026-03-31&group_by=department&interval=month", nil)
	if a.code != http.StatusOK {
		t.Fatalf("%d %.300s", a.code, a.body)
	}
	for _, want := range []string{
		`<option value="department" selected>按部门</option>`, `<option value="month" selected>按月</option>`,
		`value="2026-03-01"`, `value="2026-03-31"`,
		`<th scope="row">理赔部</th><td>2</td>`, `<th scope="row">投诉处理一部</th><td>1</td>`, `<th scope="row">合计</th><td>3</td>`,
		`<th scope="row">2026-03-01</th><td>3</td><td>0</td><td>0</td><td>0</td><td>—</td>`,
		`echarts-6.1.0/echarts.common.min.js`, `aria-current="page">时效统计</a>`,
		`href="/api/v1/reports/sla?format=csv&amp;from=2026-03-01&amp;group_by=department&amp;interval=month&amp;to=2026-03-31"`,
		`format=xlsx`,
	} {
		if !strings.Contains(a.body, want) {
			t.Errorf("report page lacks %s", want)
		}
	}
	if i, j := strings.Index(a.body, "理赔部"), strings.Index(a.body, "投诉处理一部"); i > j {
		t.Errorf("理赔部 (2 cases) should come before 投诉处理一部 (1)")
	}
	for _, personal := range []string{"王女士", "13912340001", "宽带断网"} {
		if strings.Contains(a.body, personal) {
			t.Errorf("report page holds %s", personal)
		}
	}

	a = b.do(http.MethodGet, Path+"/reports?from="+url.QueryEscape("3月1日"), nil)
	if a.code != http.StatusBadRequest || !strings.Contains(a.body, "日期格式无效") || !strings.Contains(a.body, "本月至今") {
		t.Errorf("bad date: %d %.300s", a.code, a.body)
	}
}
