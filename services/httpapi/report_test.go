package httpapi

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/xuri/excelize/v2"
	"go.uber.org/zap"

	"github.com/tousu/tousu/sinks/caseindex"
	"github.com/tousu/tousu/sinks/caseindex/caseindextest"
)

// reportServer serves the report API over a Bleve index holding
// caseindextest.SLACorpus, with its clock in June 2024.
func reportServer(tb testing.TB) *Server {
	tb.Helper()
	idx := indexOf(tb, caseindextest.SLACorpus(tb)...)
	s := New(provisioned(), zap.NewNop(), prometheus.NewRegistry(), NewAuthenticator(tokens))
	rp := NewReports(idx, NewAuthenticator(tokens), zap.NewNop())
	rp.now = func() time.Time { return time.Date(2024, 6, 15, 10, 0, 0, 0, time.UTC) }
	rp.Mount(s.App())
	return s
}

const mayReport = PathReportSLA + "?from=2024-05-01&to=2024-05-31&group_by=category&interval=week"

// TestReportSLAByRole: supervisors and admins read the report, with the
// figures counted by hand from the cases; agents and intake tokens may
// not.
func TestReportSLAByRole(t *testing.T) {
	s := reportServer(t)
	for _, tt := range []struct {
		token string
		want  int
	}{
		{"supervisor-token-0123456789", http.StatusOK},
		{"admin-token-0123456789", http.StatusOK},
		{"agent-token-0123456789", http.StatusForbidden},
		{"intake-token-0123456789", http.StatusForbidden},
		{"", http.StatusUnauthorized},
	} {
		code, body := get(t, s, mayReport, tt.token)
		if code != tt.want {
			t.Errorf("token %q: %d, want %d (%.200s)", tt.token, code, tt.want, body)
			continue
		}
		if code != http.StatusOK {
			continue
		}
		var got caseindex.SLAReport
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatal(err)
		}
		caseindextest.SameReport(t, got, caseindextest.SLAReportMay)
	}
}

// TestReportSLAParams: a wrong parameter is a 400 naming it in Chinese;
// without dates the report covers the month so far.
func TestReportSLAParams(t *testing.T) {
	s := reportServer(t)
	for _, tt := range []struct{ query, param string }{
		{"from=2024-5-1", "from"},
		{"from=2024-05-31&to=2024-05-01", "to"},
		{"from=2023-01-01&to=2024-05-31", "to"},
		{"group_by=phone", "group_by"},
		{"interval=quarter", "interval"},
		{"format=pdf", "format"},
		{"customer=张三", "customer"},
	} {
		code, body := get(t, s, PathReportSLA+"?"+tt.query, "supervisor-token-0123456789")
		var e struct{ Param, Message string }
		json.Unmarshal([]byte(body), &e)
		if code != http.StatusBadRequest || e.Param != tt.param || e.Message == "" {
			t.Errorf("%s: %d %s, want 400 naming %s", tt.query, code, body, tt.param)
		}
	}
	code, body := get(t, s, PathReportSLA, "supervisor-token-0123456789")
	var r caseindex.SLAReport
	if err := json.Unmarshal([]byte(body), &r); code != http.StatusOK || err != nil {
		t.Fatalf("%d %s", code, body)
	}
	if r.From != "2024-06-01" || r.To != "2024-06-15" || r.Total.Received != 1 || len(r.Trend) != 15 {
		t.Errorf("default period %s–%s, %d cases, %d days; want 2024-06-01–2024-06-15, the June case, 15 days", r.From, r.To, r.Total.Received, len(r.Trend))
	}
}

// TestReportSLACSV: the CSV has a byte-order mark, the title, the Chinese
// header, a row per category and 合计, and no customer's data.
func TestReportSLACSV(t *testing.T) {
	s := reportServer(t)
	code, body := get(t, s, mayReport+"&format=csv", "supervisor-token-0123456789")
	if code != http.StatusOK || !strings.HasPrefix(body, "\uFEFF") {
		t.Fatalf("%d %.100q", code, body)
	}
	r := csv.NewReader(strings.NewReader(strings.TrimPrefix(body, "\uFEFF")))
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"投诉处理时效统计（2024-05-01 至 2024-05-31，按类别）"},
		append([]string{"类别"}, SLAColumns...),
		{"账单争议", "3", "2", "1", "1", "1", "100.0%", "1", "3.0", "4", "5.0", "8", "1", "33.3%", "2", "0", "0", "—"},
		{"网络质量", "2", "2", "0", "2", "1", "50.0%", "1", "16.0", "40", "23.0", "40", "1", "50.0%", "0", "2", "1", "50.0%"},
		{"合计", "5", "4", "1", "3", "2", "66.7%", "2", "11.7", "40", "17.0", "40", "2", "40.0%", "2", "2", "1", "50.0%"},
	}
	if len(rows) != len(want) {
		t.Fatalf("%d rows: %q", len(rows), rows)
	}
	for i := range want {
		if strings.Join(rows[i], "|") != strings.Join(want[i], "|") {
			t.Errorf("row %d:\n%q\nwant\n%q", i, rows[i], want[i])
		}
	}
	assertNoPersonalData(t, body)
}

// assertNoPersonalData fails when the report holds a customer's name,
// phone number or complaint text from SLACorpus.
func assertNoPersonalData(tb testing.TB, report string) {
	tb.Helper()
	for _, c := range caseindextest.SLACorpus(tb) {
		for _, v := range []string{c.Customer.Name, c.Customer.Phone, c.Customer.Key, "13800138000", c.Description, c.ID} {
			if v != "" && strings.Contains(report, v) {
				tb.Errorf("the report holds %q of case %s", v, c.ID)
			}
		}
	}
}

// TestReportSLAXLSX: the workbook opens with excelize; its first sheet
// holds the title, the header and the figures as numbers (rates as
// fractions formatted as percentages), the second the weekly trend.
func TestReportSLAXLSX(t *testing.T) {
	s := reportServer(t)
	code, body := get(t, s, mayReport+"&format=xlsx", "admin-token-0123456789")
	if code != http.StatusOK {
		t.Fatalf("%d %.200s", code, body)
	}
	f, err := excelize.OpenReader(bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := f.GetSheetList(); strings.Join(got, ",") != "时效统计,趋势" {
		t.Errorf("sheets %v", got)
	}
	for cell, want := range map[string]string{
		"A1": "投诉处理时效统计（2024-05-01 至 2024-05-31，按类别）", "A2": "类别", "B2": "受理量", "G2": "及时率",
		"A3": "账单争议", "B3": "3", "A5": "合计", "B5": "5", "F5": "2", "H5": "2", "J5": "40", "O5": "2",
	} {
		if got, err := f.GetCellValue("时效统计", cell); err != nil || got != want {
			t.Errorf("时效统计!%s = %q (%v), want %q", cell, got, err, want)
		}
	}
	// The raw values: 及时率 2/3 as a fraction, the reply average in hours.
	for cell, want := range map[string]string{"G5": "0.666666666666667", "I5": "11.6666666666667"} {
		got, err := f.GetCellValue("时效统计", cell, excelize.Options{RawCellValue: true})
		if err != nil || !strings.HasPrefix(got, want[:8]) {
			t.Errorf("时效统计!%s raw = %q, want %s", cell, got, want)
		}
	}
	trend, err := f.GetRows("趋势")
	if err != nil {
		t.Fatal(err)
	}
	if len(trend) != 6 || trend[2][0] != "2024-05-06" || trend[2][1] != "4" || trend[4][0] != "2024-05-20" || trend[4][1] != "1" {
		t.Errorf("趋势: %q", trend)
	}
	var all strings.Builder
	for _, sheet := range f.GetSheetList() {
		rows, _ := f.GetRows(sheet)
		for _, r := range rows {
			all.WriteString(strings.Join(r, "|"))
		}
	}
	assertNoPersonalData(t, all.String())
}
