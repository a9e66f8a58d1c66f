package console

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestSearchExport: the search page links its query's export, and the
// export is that search in the person's scope and masking, as CSV with
// a byte-order mark; a wrong query goes back to the search page.
func TestSearchExport(t *testing.T) {
	ps := newPagesServer(t, fixtures(t)...)
	q := "q=" + url.QueryEscape("信号很差") + "&status=&sort=deadline"
	ps.check(t, "甲", "/console/search?"+q, http.StatusOK,
		[]string{`href="/console/search/export?` + strings.ReplaceAll("q="+url.QueryEscape("信号很差")+"&sort=deadline", "&", "&amp;") + `"`, "导出 CSV", "最多 10000 条"}, nil)
	ps.check(t, "甲", "/console/search?q="+url.QueryEscape("没有这样的投诉"), http.StatusOK, nil, []string{"导出 CSV"})
	tests := []struct {
		who, query string
		has, hasn  []string
	}{
		{"甲", q, []string{"\uFEFF工单编号,受理编号", "TS-B", "139****0002", "李*"}, []string{"TS-D", "13912340002", "李秀英"}},
		{"乙", q, []string{"TS-D", "139****0004"}, []string{"TS-B", "TS-A", "TS-C"}},
		{"王", q, []string{"TS-B", "TS-D", "'+8613912340004", "李秀英"}, []string{"TS-A"}},
		{"甲", "status=open", []string{"TS-C"}, []string{"TS-D", "TS-A", "TS-B"}},
	}
	for _, tt := range tests {
		t.Run(tt.who+" "+tt.query, func(t *testing.T) {
			code, body := ps.get(t, tt.who, "/console/search/export?"+tt.query)
			if code != http.StatusOK {
				t.Fatalf("export = %d %.300s", code, body)
			}
			for _, s := range tt.has {
				if !strings.Contains(body, s) {
					t.Errorf("the export lacks %q:\n%s", s, body)
				}
			}
			for _, s := range tt.hasn {
				if strings.Contains(body, s) {
					t.Errorf("the export holds %q:\n%s", s, body)
				}
			}
		})
	}
	// The log says who exported by which filters, not what they typed.
	if code, body := ps.get(t, "甲", "/console/search/export?phone="+url.QueryEscape("139 1234 0003")); code != http.StatusOK || !strings.Contains(body, "TS-C") {
		t.Errorf("export by phone: %d %s", code, body)
	}
	logs := ps.logs.FilterMessage("cases exported").All()
	if last := logs[len(logs)-1].ContextMap(); last["by"] != "坐席甲" || fmt.Sprint(last["filters"]) != "[phone]" || strings.Contains(fmt.Sprint(last), "0003") {
		t.Errorf("export logged %v", last)
	}
	if code, loc := ps.get(t, "甲", "/console/search/export?assigne=me"); code != http.StatusSeeOther || loc != "/console/search?assigne=me" {
		t.Errorf("a wrong query: %d %s, want 303 back to the search page", code, loc)
	}
	if code, loc := ps.get(t, "", "/console/search/export?"+q); code != http.StatusSeeOther || !strings.HasPrefix(loc, "/console/signin") {
		t.Errorf("without a session: %d %s, want the sign-in page", code, loc)
	}
}
