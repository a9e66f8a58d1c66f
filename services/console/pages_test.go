package console

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/tousu/tousu/ingest/attachment"
	"github.com/tousu/tousu/normalize"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/services/accounts"
	"github.com/tousu/tousu/services/httpapi"
	"github.com/tousu/tousu/services/privacy"
	"github.com/tousu/tousu/sinks/bleveindex"
	"github.com/tousu/tousu/sinks/caseindex"
)

// cst is China Standard Time, the zone of the test's instants.
var cst = time.FixedZone("CST", 8*3600)

// testNow is the pages' clock: Thursday 5 March 2026, 14:30.
var testNow = time.Date(2026, 3, 5, 14, 30, 0, 0, cst)

// The people of the tests: two agents of different departments, a
// supervisor.
var people = map[string]httpapi.Principal{
	"甲": {Name: "坐席甲", Role: httpapi.RoleAgent, Departments: []string{"客户服务中心"}},
	"乙": {Name: "坐席乙", Role: httpapi.RoleAgent, Departments: []string{"网络运维部"}},
	"王": {Name: "主管王", Role: httpapi.RoleSupervisor},
	"吴": {Name: "wu.admin", Role: httpapi.RoleAdmin},
	"钱": {Name: "qian.ops", Role: httpapi.RoleOps},
}

// testCSRF is the stand-in session's CSRF token.
const testCSRF = "csrf-token-of-the-session"

// pagesServer serves the agents' pages over a Bleve index of telecom
// cases, signed in as the person the X-Test-User header names, and keeps
// the actions the pages publish.
type pagesServer struct {
	app       *fiber.App
	index     caseindex.Index
	packs     *router.Packs
	published []router.Action
	results   map[string]router.ActionResult
	// publishErr, when set, is the broker's refusal of every action.
	publishErr error
	// logs are what the pages logged.
	logs *observer.ObservedLogs
	// accounts are the accounts the accounts pages change.
	accounts *accounts.Store
	// files are the customers' attached files the pages serve.
	files *attachment.Store
}

func newPagesServer(tb testing.TB, cases ...router.Case) *pagesServer {
	tb.Helper()
	return newPagesServerWith(tb, nil, cases...)
}

// newPagesServerWith is newPagesServer with the dead letters dlq (nil:
// those of deadLetterStore).
func newPagesServerWith(tb testing.TB, dlq *httpapi.DeadLetters, cases ...router.Case) *pagesServer {
	tb.Helper()
	packs := telecomPacks(tb)
	idx := caseIndex(tb, cases)
	core, logs := observer.New(zap.InfoLevel)
	ps := &pagesServer{app: fiber.New(), index: idx, packs: packs, results: map[string]router.ActionResult{}, logs: logs,
		accounts: loopbackAccounts(), files: attachmentStore(tb)}
	MountStatic(ps.app, zap.NewNop())
	acts := &httpapi.CaseActions{
		Publish: func(_ context.Context, a router.Action) error {
			if ps.publishErr != nil {
				return ps.publishErr
			}
			ps.published = append(ps.published, a)
			return nil
		},
		Engine: packs.ByName,
		Now:    func() time.Time { return testNow },
		Result: func(id string) (router.ActionResult, bool) {
			r, ok := ps.results[id]
			return r, ok
		},
	}
	rights := privacy.New(privacy.Deps{Index: idx, Publish: acts.Publish, Files: ps.files, Logger: zap.New(core)})
	mountPages(tb, ps.app, PagesDeps{
		Index: idx, Actions: acts, Logger: zap.New(core), Attachments: ps.files, Admin: httpapi.NewAdmin(ps.accounts, nil, zap.New(core)), DeadLetters: dlq,
		Privacy: rights,
		RequirePage: func(c *fiber.Ctx) error {
			p, ok := people[c.Get("X-Test-User")]
			if !ok {
				return c.Redirect("/console/signin", fiber.StatusSeeOther)
			}
			// The key httpapi.PrincipalOf reads (the sessions set it).
			c.Locals("tousu.principal", p)
			return c.Next()
		},
		CheckCSRF: func(c *fiber.Ctx) error {
			if c.FormValue("_csrf") != testCSRF {
				return c.Status(fiber.StatusForbidden).SendString("CSRF")
			}
			return c.Next()
		},
		CSRFToken: func(*fiber.Ctx) string { return testCSRF },
		Knows: func(name string) bool {
			_, ok := map[string]bool{"坐席甲": true, "坐席乙": true, "主管王": true}[name]
			return ok
		},
	})
	return ps
}

// attachmentStore is an empty attachment store in a temporary directory.
func attachmentStore(tb testing.TB) *attachment.Store {
	tb.Helper()
	s, err := attachment.Open(filepath.Join(tb.TempDir(), "attachments"))
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// telecomPacks are the policy packs of the tests: the built-in telecom
// pack, and for source "insurer" the insurance pack, whose clocks may be
// extended and paused.
func telecomPacks(tb testing.TB) *router.Packs {
	tb.Helper()
	packs, err := router.LoadPacks(router.PacksConfig{Packs: []router.PackRef{{Path: "builtin:telecom"}, {Path: "builtin:insurance", Sources: []string{"insurer"}}}}, ".")
	if err != nil {
		tb.Fatal(err)
	}
	return packs
}

// caseIndex is a Bleve index of cases, closed when the test ends.
func caseIndex(tb testing.TB, cases []router.Case) caseindex.Index {
	tb.Helper()
	idx, err := bleveindex.Open(bleveindex.Config{Path: filepath.Join(tb.TempDir(), "cases.bleve")}, zap.NewNop())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { idx.Close() })
	if err := idx.Upsert(context.Background(), cases); err != nil {
		tb.Fatal(err)
	}
	return idx
}

// mountPages mounts the real pages on app as startConsole does, over
// deps with the notices of alertStore and, unless given, the dead letters
// of deadLetterStore, the templates
// and a customer key filled in: the tests give the index, the actions, the
// admin API's core and who is signed in (RequirePage, CheckCSRF,
// CSRFToken, Knows).
func mountPages(tb testing.TB, app *fiber.App, deps PagesDeps) {
	tb.Helper()
	if deps.Templates == nil {
		tpl, err := LoadTemplates()
		if err != nil {
			tb.Fatal(err)
		}
		deps.Templates = tpl
	}
	if deps.CustomerKey == nil {
		deps.CustomerKey = []byte("test-customer-key")
	}
	deps.Notices = alertStore(tb)
	if deps.DeadLetters == nil {
		deps.DeadLetters = httpapi.NewDeadLetters(dlqStore(tb), nil, deps.Logger)
	}
	NewPages(deps).Mount(app)
}

// get fetches path as who and returns the status and the page.
func (ps *pagesServer) get(tb testing.TB, who, path string) (int, string) {
	tb.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.Header.Set("X-Test-User", who)
	return ps.do(tb, req)
}

// post posts form to path as who and returns the status and the page
// or, for a redirect, its Location.
func (ps *pagesServer) post(tb testing.TB, who, path string, form url.Values) (int, string) {
	tb.Helper()
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	req.Header.Set("X-Test-User", who)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return ps.do(tb, req)
}

// check fetches path as who and checks the status and that the page has
// every string of want and none of unwanted.
func (ps *pagesServer) check(tb testing.TB, who, path string, code int, want, unwanted []string) {
	tb.Helper()
	got, page := ps.get(tb, who, path)
	if got != code {
		tb.Errorf("%s: GET %s = %d, want %d", who, path, got, code)
	}
	for _, s := range want {
		if !strings.Contains(page, s) {
			tb.Errorf("%s: GET %s lacks %q", who, path, s)
		}
	}
	for _, s := range unwanted {
		if strings.Contains(page, s) {
			tb.Errorf("%s: GET %s has %q", who, path, s)
		}
	}
}

func (ps *pagesServer) do(tb testing.TB, req *http.Request) (int, string) {
	tb.Helper()
	resp, err := ps.app.Test(req, -1)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	if loc := resp.Header.Get("Location"); loc != "" {
		return resp.StatusCode, loc
	}
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// complaint opens a telecom case from a customer's text received at, then
// applies edit.
func complaint(tb testing.TB, id, phone, text string, received time.Time, edit func(*router.Case)) router.Case {
	tb.Helper()
	c := telecomPacks(tb).Open(normalize.Complaint{V: normalize.SchemaVersion, ID: "webform:" + id, Reference: id, Channel: "webform", ReceivedAt: received,
		Customer: normalize.Customer{Name: "李秀英", Phone: phone, Key: "phone:" + phone}, Description: text}, received)
	c.ID, c.Revision = id, 1
	if edit != nil {
		edit(&c)
	}
	return c
}

// fixtures are five telecom cases as customers wrote them: 坐席甲 of
// 客户服务中心 holds TS-A, owns TS-B (passed on to 坐席丙), and has closed
// TS-E; TS-C waits in 客户服务中心, TS-D in 网络运维部.
func fixtures(tb testing.TB) []router.Case {
	tb.Helper()
	return []router.Case{
		complaint(tb, "TS-A", "+8613912340001", "上个月开通的宽带提速一直没生效，客服答应的补偿也没到账，我要投诉！", time.Date(2026, 3, 5, 12, 0, 0, 0, cst), func(c *router.Case) {
			c.Route.Department, c.Route.Owner, c.Assignee, c.Status = "客户服务中心", "坐席甲", "坐席甲", router.StatusInProgress
		}),
		complaint(tb, "TS-B", "+8613912340002", "手机信号差了三天，打电话总是断线，投诉了两次没人处理！", time.Date(2026, 3, 2, 14, 30, 0, 0, cst), func(c *router.Case) {
			c.Route = router.Route{Department: "客户服务中心", Queue: "投诉处理", Owner: "坐席甲"}
			c.Assignee, c.Status = "坐席丙", router.StatusInProgress
		}),
		complaint(tb, "TS-C", "+8613912340003", "这个月话费多扣了58块钱，我没开通过什么流量包，要求退钱！！", time.Date(2026, 3, 4, 9, 0, 0, 0, cst), func(c *router.Case) {
			c.Route.Department = "客户服务中心"
		}),
		complaint(tb, "TS-D", "+8613912340004", "小区基站信号很差，家里一格信号都没有，影响工作", time.Date(2026, 3, 4, 10, 0, 0, 0, cst), func(c *router.Case) {
			c.Route.Department = "网络运维部"
		}),
		complaint(tb, "TS-E", "+8613912340005", "套餐变更后资费不对，已经解决了谢谢", time.Date(2026, 3, 3, 10, 0, 0, 0, cst), func(c *router.Case) {
			c.Route = router.Route{Department: "客户服务中心", Owner: "坐席甲"}
			c.Assignee, c.Status = "坐席甲", router.StatusClosed
		}),
	}
}

// TestQueue: my cases, most urgent first with their working time left,
// beside my department's cases nobody holds.
func TestQueue(t *testing.T) {
	ps := newPagesServer(t, fixtures(t)...)
	for _, tt := range []struct {
		who                    string
		mine, waiting, nowhere []string
		mineText, waitingText  string
	}{
		{"甲", []string{"TS-B", "TS-A"}, []string{"TS-C"}, []string{"TS-D", "TS-E"}, "剩余 3 个工作小时", "客户服务中心"},
		{"乙", nil, []string{"TS-D"}, []string{"TS-A", "TS-B", "TS-C", "TS-E"}, "暂无需要您处理的工单", "网络运维部"},
		{"王", nil, []string{"TS-C", "TS-D"}, []string{"TS-A", "TS-B", "TS-E"}, "暂无需要您处理的工单", "全部部门"},
	} {
		code, page := ps.get(t, tt.who, "/console/")
		mine, waiting, ok := strings.Cut(page, `id="waiting"`)
		if code != http.StatusOK || !ok {
			t.Fatalf("%s: GET /console/ = %d %.300s", tt.who, code, page)
		}
		inOrder(t, tt.who+" mine", mine, tt.mine)
		inOrder(t, tt.who+" waiting", waiting, tt.waiting)
		for _, id := range tt.nowhere {
			if strings.Contains(page, ">"+id+"<") {
				t.Errorf("%s: the queue lists %s", tt.who, id)
			}
		}
		if !strings.Contains(mine, tt.mineText) || !strings.Contains(waiting, tt.waitingText) {
			t.Errorf("%s: the queue lacks %q or %q:\n%s", tt.who, tt.mineText, tt.waitingText, page)
		}
	}
	// TS-B's acknowledgement was due on 3 March 09:30.
	if _, page := ps.get(t, "甲", "/console/"); !strings.Contains(page, "已超时 2 天 5 小时") {
		t.Errorf("the overdue clock of TS-B is not shown:\n%s", page)
	}
	if code, loc := ps.get(t, "", "/console/"); code != http.StatusSeeOther || loc != "/console/signin" {
		t.Errorf("without a session GET /console/ = %d %s, want the sign-in page", code, loc)
	}
}

// inOrder checks that page links the cases ids, each once and in order.
func inOrder(tb testing.TB, what, page string, ids []string) {
	tb.Helper()
	at := 0
	for _, id := range ids {
		link := `href="/console/cases/` + id + `"`
		i := strings.Index(page[at:], link)
		if i < 0 {
			tb.Errorf("%s: %s missing or out of order", what, id)
			return
		}
		at += i + len(link)
	}
	if n := strings.Count(page, `href="/console/cases/`); n != len(ids) {
		tb.Errorf("%s: %d cases listed, want %v", what, n, ids)
	}
}

// TestSearch: the box finds all the words of a Chinese phrase, only in
// cases the agent may see; filters show their facet counts; a wrong
// parameter is named; pages link each other.
func TestSearch(t *testing.T) {
	ps := newPagesServer(t, fixtures(t)...)
	for _, tt := range []struct {
		who, query string
		code       int
		want       []string
		unwanted   []string
	}{
		{"王", "q=" + url.QueryEscape("信号很差"), http.StatusOK, []string{"/console/cases/TS-D", "/console/cases/TS-B", `value="信号很差"`}, []string{"/console/cases/TS-C"}},
		{"甲", "q=" + url.QueryEscape("信号很差"), http.StatusOK, []string{"/console/cases/TS-B"}, []string{"/console/cases/TS-D"}},
		{"乙", "q=" + url.QueryEscape(`"信号差"`), http.StatusOK, nil, []string{"/console/cases/TS-B"}},
		{"王", "status=open", http.StatusOK, []string{"已受理（2）", "/console/cases/TS-C", "/console/cases/TS-D", "第 1–2 条，共 2 条"}, []string{"/console/cases/TS-A"}},
		{"王", "status=open&department=" + url.QueryEscape("网络运维部") + "&q=&from=", http.StatusOK, []string{"/console/cases/TS-D", `<option value="网络运维部" selected>`}, []string{"/console/cases/TS-C"}},
		{"王", "status=open&limit=1&sort=received_at", http.StatusOK, []string{"第 1–1 条，共 2 条", `rel="next"`, "/console/cases/TS-C"}, []string{`rel="prev"`}},
		{"甲", "assignee=me", http.StatusOK, []string{"/console/cases/TS-A", "/console/cases/TS-E"}, []string{"/console/cases/TS-B"}}, // closed cases too
		{"甲", "phone=" + url.QueryEscape("139 1234 0003"), http.StatusOK, []string{"/console/cases/TS-C"}, []string{"/console/cases/TS-A"}},
		{"王", "due_before=2026-03-04", http.StatusOK, []string{"/console/cases/TS-B", `value="2026-03-04"`}, []string{"/console/cases/TS-C"}},
		{"甲", "assigne=me", http.StatusBadRequest, []string{"查询条件“assigne”无效"}, []string{"/console/cases/"}},
		{"甲", "", http.StatusOK, []string{`id="q"`}, []string{"/console/cases/"}},
	} {
		ps.check(t, tt.who, "/console/search?"+tt.query, tt.code, tt.want, tt.unwanted)
	}
}

// TestUncertainCategoryQueue: cases whose category the model was not sure
// of wait under 待确认分类 for the people who may see them, and the case
// page names the suggestions and offers them first.
func TestUncertainCategoryQueue(t *testing.T) {
	unsure := func(suggestions ...string) func(c *router.Case) {
		return func(c *router.Case) {
			c.Route.Department = "客户服务中心"
			c.CategoryUncertain, c.CategorySuggestions = true, suggestions
		}
	}
	cases := append(fixtures(t),
		complaint(t, "TS-F", "+8613912340006", "营业厅的人说送流量结果扣了钱，3月1号办的", time.Date(2026, 3, 4, 11, 0, 0, 0, cst), unsure("营销活动问题", "费用问题")),
		complaint(t, "TS-G", "+8613912340007", "手机有问题，麻烦看下", time.Date(2026, 3, 3, 11, 0, 0, 0, cst), func(c *router.Case) {
			unsure("网络问题", "业务使用问题")(c)
			c.Status = router.StatusClosed
		}))
	ps := newPagesServer(t, cases...)
	for _, tt := range []struct {
		who  string
		want []string
	}{
		{"甲", []string{"TS-F"}},
		{"乙", nil}, // 网络运维部 may not see 客户服务中心's case
	} {
		code, page := ps.get(t, tt.who, "/console/")
		_, uncertain, ok := strings.Cut(page, `id="uncertain"`)
		if code != http.StatusOK || !ok {
			t.Fatalf("%s: GET /console/ = %d, no 待确认分类 section: %.300s", tt.who, code, page)
		}
		inOrder(t, tt.who+" uncertain", uncertain, tt.want)
	}
	_, page := ps.get(t, "甲", "/console/cases/TS-F")
	notice, _, _ := strings.Cut(page[strings.Index(page, `id="category-uncertain"`)+1:], "</p>")
	if !strings.Contains(notice, "待确认分类") || !strings.Contains(notice, "“营销活动问题”或“费用问题”") {
		t.Errorf("case page lacks the suggestions: %q", notice)
	}
	_, options, _ := strings.Cut(page, `id="r-category" name="category">`)
	if !strings.HasPrefix(options, "<option>营销活动问题</option><option>费用问题</option>") || strings.Count(options, "<option>费用问题</option>") != 1 {
		t.Errorf("更正分类 does not offer the suggestions first: %.200s", options)
	}
	if _, page := ps.get(t, "甲", "/console/cases/TS-C"); strings.Contains(page, `id="category-uncertain"`) {
		t.Error("a case decided with confidence is marked 待确认分类")
	}
}
