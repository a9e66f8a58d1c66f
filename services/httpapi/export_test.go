package httpapi

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"go.uber.org/zap"

	"github.com/tousu/tousu/normalize"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/sinks/caseindex"
)

// scopedIndex searches its cases as a backend does: the query's scope
// and department filter, then its page; down, it answers no search.
type scopedIndex struct {
	caseindex.Index
	cases []router.Case
	down  bool
}

func (s *scopedIndex) Search(_ context.Context, q caseindex.Query) (caseindex.Result, error) {
	if s.down {
		return caseindex.Result{}, errors.New("connection refused")
	}
	var all []router.Case
	for _, c := range s.cases {
		if (q.Scope == nil || q.Scope.Allows(c)) && (q.Filters["department"] == "" || q.Filters["department"] == c.Route.Department) {
			all = append(all, c)
		}
	}
	res := caseindex.Result{Total: len(all)}
	if q.Offset < len(all) {
		res.Hits = all[q.Offset:min(q.Offset+q.Limit, len(all))]
	}
	return res, nil
}

// exportCases are n cases of 客服部 and one of 财务部 whose customer typed
// formulas into the form.
func exportCases(n int) []router.Case {
	var out []router.Case
	for i := range n {
		out = append(out, router.Case{ID: fmt.Sprintf("TS%04d", i), Status: router.StatusOpen, Category: "网络质量",
			Customer: normalize.Customer{Name: "张三", Phone: "+8613800138000", Email: "zhang.san@example.com", Key: "phone:+8613800138000"},
			Subject:  "宽带断网", Description: "宽带断网三天，请回电13800138000", Route: router.Route{Department: "客服部"}})
	}
	return append(out, router.Case{ID: "TS9999", Status: router.StatusOpen, Category: "资费争议",
		Customer: normalize.Customer{Name: "李四", Phone: "+8613912345678", Key: "phone:+8613912345678"},
		Subject:  "=HYPERLINK(\"http://evil.example/\",\"点我\")", Description: "@SUM(1+1) 话费多扣30元", Route: router.Route{Department: "财务部"}})
}

// exportAs answers GET path for the principal p (as a session would
// admit them): the status, the headers and the body.
func exportAs(tb testing.TB, idx caseindex.Index, p Principal, path string) (int, http.Header, string) {
	tb.Helper()
	auth := NewAuthenticator(tokens)
	auth.AcceptSessions(func(*fiber.Ctx) (Principal, bool) { return p, true })
	app := fiber.New()
	NewConsole(idx, auth, nil, testCustomerKey, zap.NewNop()).Mount(app)
	resp, err := app.Test(httptest.NewRequest(http.MethodGet, path, nil), -1)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

// TestExport: the export is the search of its parameters in the
// principal's scope, masked as the search is, as CSV that Excel opens
// (UTF-8 with BOM, Chinese header) and does not run.
func TestExport(t *testing.T) {
	idx := &scopedIndex{cases: exportCases(450)}
	agentKefu := Principal{Name: "wangwu", Role: RoleAgent, Departments: []string{"客服部"}}
	agentCaiwu := Principal{Name: "zhaoliu", Role: RoleAgent, Departments: []string{"财务部"}}
	boss := Principal{Name: "主管王", Role: RoleSupervisor}
	tests := []struct {
		name      string
		p         Principal
		path      string
		rows      int
		has, hasn []string
	}{
		{"an agent gets only their department's cases, every page of them", agentKefu, PathExport, 450,
			[]string{"TS0000", "TS0449", "138****8000", "宽带断网三天，请回电138****8000", "客服部"},
			[]string{"TS9999", "李四", "13800138000", "zhang.san", "phone:"}},
		{"the other department's agent gets none of them", agentCaiwu, PathExport, 1,
			[]string{"TS9999", "139****5678", `'=HYPERLINK`, `'@SUM(1+1)`}, []string{"TS0000", "13912345678", "\n=HYPERLINK", ",=HYPERLINK"}},
		{"a filter the search has, from the search page's query", boss, PathExport + "?department=财务部&offset=20&limit=5", 1,
			[]string{"TS9999", "+8613912345678", "李四"}, []string{"TS0000"}},
		{"a supervisor sees every case unmasked", boss, PathExport, 451, []string{"TS0000", "TS9999", "'+8613800138000", "zhang.san@example.com"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, h, body := exportAs(t, idx, tt.p, tt.path)
			if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/csv") || !strings.Contains(h.Get("Content-Disposition"), "attachment") {
				t.Fatalf("GET %s = %d %v", tt.path, code, h)
			}
			rest, ok := strings.CutPrefix(body, "\uFEFF")
			if !ok {
				t.Fatalf("no byte-order mark: %q", body[:min(len(body), 20)])
			}
			recs, err := csv.NewReader(strings.NewReader(rest)).ReadAll()
			if err != nil {
				t.Fatalf("not CSV: %v", err)
			}
			if recs[0][0] != "工单编号" || recs[0][14] != "电话" || len(recs)-1 != tt.rows {
				t.Errorf("header %v and %d rows, want 工单编号… and %d rows", recs[0], len(recs)-1, tt.rows)
			}
			for _, s := range tt.has {
				if !strings.Contains(body, s) {
					t.Errorf("the export lacks %q", s)
				}
			}
			for _, s := range tt.hasn {
				if strings.Contains(body, s) {
					t.Errorf("the export holds %q", s)
				}
			}
		})
	}
}

// TestExportRefusals: a wrong parameter is answered as the search
// answers it; an index that does not answer is 503 with nothing of a
// file; ops may not export.
func TestExportRefusals(t *testing.T) {
	agent := Principal{Name: "wangwu", Role: RoleAgent, Departments: []string{"客服部"}}
	tests := []struct {
		name     string
		idx      *scopedIndex
		p        Principal
		path     string
		code     int
		contains string
	}{
		{"unknown parameter", &scopedIndex{}, agent, PathExport + "?phone_number=138", 400, "phone_number"},
		{"index down", &scopedIndex{down: true}, agent, PathExport, 503, "工单查询暂时不可用"},
		{"ops", &scopedIndex{}, Principal{Name: "yunwei", Role: RoleOps}, PathExport, 403, "无权"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, h, body := exportAs(t, tt.idx, tt.p, tt.path)
			if code != tt.code || !strings.Contains(body, tt.contains) || strings.HasPrefix(h.Get("Content-Type"), "text/csv") {
				t.Errorf("GET %s = %d %s %s; want %d with %q", tt.path, code, h.Get("Content-Type"), body, tt.code, tt.contains)
			}
		})
	}
}

func TestSafeCell(t *testing.T) {
	tests := []struct{ in, want string }{
		{"=1+1", "'=1+1"}, {"+8613800138000", "'+8613800138000"}, {"-2+3", "'-2+3"}, {"@SUM(A1)", "'@SUM(A1)"},
		{"\t=1", "'\t=1"}, {"话费多扣=30元", "话费多扣=30元"}, {"", ""}, {"138****8000", "138****8000"},
	}
	for _, tt := range tests {
		if got := SafeCell(tt.in); got != tt.want {
			t.Errorf("SafeCell(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
