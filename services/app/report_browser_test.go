package app

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/xuri/excelize/v2"

	"github.com/tousu/tousu/router"
)

// reportFigures are the figures of a group of the report the test
// computes from the cases: 受理量, 有效, 无效, 办结, 按时办结, 超时.
type reportFigures struct{ received, valid, invalid, resolved, onTime, breached int }

// cells are the figures as the report's columns show them, in order
// (受理量, 有效, 无效, 办结, 按时办结; 超时 is the seventh column).
func (f reportFigures) cells() [6]string {
	return [6]string{strconv.Itoa(f.received), strconv.Itoa(f.valid), strconv.Itoa(f.invalid), strconv.Itoa(f.resolved),
		strconv.Itoa(f.onTime), strconv.Itoa(f.breached)}
}

// add counts case c at now: a verdict that holds is 有效, one that does
// not (a case its pack decided) 无效; resolved or closed is 办结; a clock
// that stopped late or is past due is 超时, and 办结 without one 按时办结.
func (f *reportFigures) add(c router.Case, now time.Time) {
	f.received++
	switch {
	case c.Validity.Valid:
		f.valid++
	case c.Pack != "":
		f.invalid++
	}
	breached := false
	for _, d := range c.Deadlines {
		breached = breached || !d.StoppedAt.IsZero() && !d.Met || d.StoppedAt.IsZero() && !d.Due.IsZero() && !now.Before(d.Due)
	}
	if breached {
		f.breached++
	}
	if c.Status == router.StatusResolved || c.Status == router.StatusClosed {
		f.resolved++
		if !breached {
			f.onTime++
		}
	}
}

// browseTousu starts Chromium and an embedded tousu on its own data
// directory, in which the admin creates list.
func browseTousu(tb testing.TB, list ...account) (*consoleBrowser, *running) {
	tb.Helper()
	b := newConsoleBrowser(tb)
	dir := tb.TempDir()
	r := startTousu(tb, dir)
	b.base = r.base
	b.accounts(dir, list)
	return b, r
}

// TestReportInTheBrowser is issue 15's report test in headless Chromium
// against the real process: complaints of several kinds arrive, some are
// resolved, and a supervisor opens 时效统计 for the period by category:
// each row and 合计 have the figures computed here from the cases
// themselves, and the Excel file the page's 下载 Excel link gives (with
// the supervisor's session) has the same rows; a period without cases
// says so, without an empty chart. The page is also shot at a phone's
// width.
func TestReportInTheBrowser(t *testing.T) {
	b, r := browseTousu(t, account{"li.na", "李娜", "supervisor", ""})

	complaints := []string{
		"宽带12月3号起天天晚上断网，报修两次没人上门，工单号 GD20261203-0087",
		"手机欠费停机但我明明11/30交了100元话费，营业厅说系统没到账",
		"上个月流量费多扣了 ３８.５ 元，要求退还！！",
		"手机信号差了三天，在家里打电话总是断线",
		"营业员态度恶劣，办携号转网时冲我发火，还不给办",
		"你好",
		"套餐被莫名其妙改成了199元的，我从来没同意过",
	}
	for i, text := range complaints {
		r.submit(t, text, "report-"+strconv.Itoa(i))
	}
	all := r.waitFor(t, url.Values{"limit": {"100"}}, len(complaints))
	for _, c := range all.Hits[:3] {
		if code := r.act(t, testToken, c.ID, map[string]string{"kind": "resolve", "note": "已核实并退费，客户表示认可"}); code != http.StatusAccepted {
			t.Fatalf("resolve %s: %d", c.ID, code)
		}
	}
	r.waitFor(t, url.Values{"status": {"resolved"}}, 3)
	all = r.waitFor(t, url.Values{"limit": {"100"}}, len(complaints))
	now := time.Now()
	want := map[string]*reportFigures{"合计": {}}
	for _, c := range all.Hits {
		if want[c.Category] == nil {
			want[c.Category] = &reportFigures{}
		}
		want[c.Category].add(c, now)
		want["合计"].add(c, now)
	}

	b.signIn("li.na", "初始密码-li.na", "主管新密码-2026")
	china := time.FixedZone("CST", 8*3600)
	today := now.In(china)
	query := url.Values{"from": {today.AddDate(0, 0, -1).Format(time.DateOnly)}, "to": {today.Format(time.DateOnly)},
		"group_by": {"category"}, "interval": {"day"}}
	b.navigate("/console/reports?"+query.Encode(), "table.report")
	rows, err := chromedp.Run(b.ctx, chromedp.Evaluate[[][]string](`[...document.querySelectorAll('table.report tbody tr, table.report tfoot tr')]
		.map(tr => [...tr.children].map(c => c.innerText.trim()))`))
	if err != nil {
		t.Fatal(err)
	}
	b.shot("report")
	checkReportRows(t, "the page", rows, want)

	// The Excel file of the page's link, fetched as the browser downloads
	// it: with the supervisor's session.
	encoded, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`fetch(document.querySelector('a[href*="format=xlsx"]').href)
		.then(r => r.ok ? r.arrayBuffer() : Promise.reject(r.status))
		.then(buf => { let s = ""; for (const x of new Uint8Array(buf)) s += String.fromCharCode(x); return btoa(s); })`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("download the Excel file: %v", err)
	}
	raw, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("the download is no XLSX: %v", err)
	}
	defer f.Close()
	sheet, err := f.GetRows("时效统计")
	if err != nil || len(sheet) < 3 {
		t.Fatalf("时效统计: %q (%v)", sheet, err)
	}
	if title := fmt.Sprintf("（%s 至 %s，按类别）", query.Get("from"), query.Get("to")); !bytes.Contains([]byte(sheet[0][0]), []byte(title)) {
		t.Errorf("the sheet's title %q does not say %s", sheet[0][0], title)
	}
	checkReportRows(t, "the Excel file", sheet[2:], want)

	// A period without cases says so, with no empty chart.
	b.navigate("/console/reports?from=2025-11-01&to=2025-11-30&group_by=department&interval=week", "table.report")
	b.until("the empty period's page has run its script", `!!window.echarts`)
	if empty, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`document.getElementById("trendchart").offsetHeight === 0 &&
		document.querySelector("table.report tbody").innerText.includes("该期间没有受理的工单")`)); err != nil || !empty {
		t.Errorf("a period without cases shows an empty chart or does not say it has none (%v)", err)
	}
	b.shot("report-empty")

	b.do("phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	b.navigate("/console/reports?"+query.Encode(), "table.report")
	b.shot("report-phone")
}

// checkReportRows checks that rows (a name, then the report's columns)
// are the groups of want, each with its figures.
func checkReportRows(tb testing.TB, where string, rows [][]string, want map[string]*reportFigures) {
	tb.Helper()
	if len(rows) != len(want) {
		tb.Errorf("%s has %d rows %q, want %d", where, len(rows), rows, len(want))
	}
	for _, row := range rows {
		w, ok := want[row[0]]
		if !ok || len(row) < 8 {
			tb.Errorf("%s: row %q is no group of the cases", where, row)
			continue
		}
		cells := w.cells()
		got := [6]string{row[1], row[2], row[3], row[4], row[5], row[7]}
		if got != cells {
			tb.Errorf("%s: %s has 受理量, 有效, 无效, 办结, 按时办结, 超时 %q; the cases give %q", where, row[0], got, cells)
		}
	}
}
