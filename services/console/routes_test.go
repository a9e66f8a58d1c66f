package console

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/internal/secret"
	"github.com/tousu/tousu/normalize"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/services/accounts"
	"github.com/tousu/tousu/services/httpapi"
	"github.com/tousu/tousu/services/ops"
	"github.com/tousu/tousu/services/privacy"
	"github.com/tousu/tousu/sinks/caseindex"
)

// walkTokens are the API tokens of the route walk: one named after an
// agent's account, one after a disabled account, a service token with no
// account, an intake token and a monitoring system's.
var walkTokens = httpapi.AuthConfig{Tokens: []httpapi.Token{
	{Name: "zhang.wei", Token: secret.Inline("agent-token-zhangwei-0123"), Role: httpapi.RoleAgent},
	{Name: "zhao.lei", Token: secret.Inline("agent-token-zhaolei-01234"), Role: httpapi.RoleAgent},
	{Name: "crm-sync", Token: secret.Inline("service-token-crm-0123456"), Role: httpapi.RoleSupervisor},
	{Name: "kiosk", Token: secret.Inline("intake-token-kiosk-012345"), Role: httpapi.RoleIntake},
	{Name: "prometheus", Token: secret.Inline("monitor-token-prom-012345"), Role: httpapi.RoleMonitor},
}}

// walkCases are the cases of the route walk: TSA of the agent's
// department, TSB of another, TSC of another but held by the agent.
func walkCases() []router.Case {
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	mk := func(id, dep, assignee, text string) router.Case {
		return router.Case{V: router.SchemaVersion, ID: id, Revision: 1, References: []string{id}, Channel: "webform",
			Customer:    normalize.Customer{Name: "王女士", Phone: "+8613912340001", Key: "phone:+8613912340001"},
			Description: text, Category: "network", Status: router.StatusOpen, ReceivedAt: at, UpdatedAt: at,
			Route: router.Route{Department: dep}, Assignee: assignee}
	}
	return []router.Case{
		mk("TSA", "投诉处理一部", "", "宽带断网两天，客服电话一直打不通"),
		mk("TSB", "理赔部", "", "车险理赔拖了一个月还没到账"),
		mk("TSC", "理赔部", "zhang.wei", "理赔员说材料不全，但没说缺什么"),
	}
}

// walkServer is the console process as startConsole (services/app)
// wires it: the HTTP server with the sessions, the real pages behind the
// sessions' middlewares, the case API and the admin API.
func walkServer(tb testing.TB) *fiber.App {
	tb.Helper()
	e := newEnv(tb)
	for _, spec := range []accounts.Spec{
		{Name: "wu.admin", DisplayName: "吴管理", Role: accounts.RoleAdmin, Password: "管理员Wu-2024-pass"},
		{Name: "qian.ops", DisplayName: "钱运维", Role: accounts.RoleOps, Password: "运维Qian-2024-pass"},
	} {
		acc, err := accounts.Create(spec, spec.Name, e.clock.now().Add(-time.Hour))
		if err != nil {
			tb.Fatal(err)
		}
		if err := e.store.Create(context.Background(), acc); err != nil {
			tb.Fatal(err)
		}
	}
	files := attachmentStore(tb)
	receipt, err := files.Put(strings.NewReader(walkFile), "报修回执.txt", 1<<20)
	if err != nil {
		tb.Fatal(err)
	}
	cases := walkCases()
	cases[0].Attachments = []ingest.Attachment{receipt}
	idx := caseIndex(tb, cases)
	auth := httpapi.NewAuthenticator(walkTokens)
	auth.UseAccounts(e.store)
	cfg := httpapi.Config{}
	cfg.Provision()
	srv := httpapi.New(cfg, zap.NewNop(), prometheus.NewRegistry(), auth)
	app := srv.App()
	tpl, err := LoadTemplates()
	if err != nil {
		tb.Fatal(err)
	}
	sessCfg := SessionConfig{}
	sessCfg.Provision()
	s := NewSessions(sessCfg, e.sessions.key, e.store, e.sessions.ledger, auth, tpl, zap.NewNop())
	s.now = e.clock.now
	s.Mount(app)
	MountStatic(app, zap.NewNop())
	acts := &httpapi.CaseActions{Publish: func(context.Context, router.Action) error { return nil }, Engine: telecomPacks(tb).ByName}
	customerKey := []byte("customer-key-of-the-walk-0123456")
	httpapi.NewConsole(idx, auth, acts, customerKey, zap.NewNop()).Mount(app)
	httpapi.NewReports(idx, auth, zap.NewNop()).Mount(app)
	admin := httpapi.NewAdmin(e.store, auth, zap.NewNop())
	dlq := httpapi.NewDeadLetters(dlqStore(tb), auth, zap.NewNop())
	rights := privacy.New(privacy.Deps{Index: idx, Publish: acts.Publish, Logger: zap.NewNop()})
	httpapi.NewPrivacy(rights, auth, zap.NewNop()).Mount(app)
	mountPages(tb, app, PagesDeps{Index: idx, Actions: acts, Admin: admin, DeadLetters: dlq, Privacy: rights, Templates: tpl, CustomerKey: customerKey, Attachments: files, RequirePage: s.RequirePage(), CheckCSRF: s.CheckCSRF(),
		CSRFToken: CSRFToken, Knows: auth.Knows})
	admin.Mount(app)
	noLag := func(context.Context) []ops.GroupLag { return nil }
	httpapi.MountOps(app, auth, httpapi.OpsDeps{Lag: noLag, Deployment: ops.NewDeployment()}, zap.NewNop())
	dlq.Mount(app)
	NewOpsPage(OpsDeps{Templates: tpl, RequirePage: s.RequirePage(), CSRFToken: CSRFToken, Lag: noLag, Deployment: ops.NewDeployment(),
		Logger: zap.NewNop()}).Mount(app)
	return app
}

// requester is who makes a request of the walk.
type requester struct {
	name string
	// account signs in with password; token is sent as a bearer token.
	account, password, token string
	// signedOut says the pages send the requester to sign in.
	signedOut bool
}

var requesters = []requester{
	{name: "nobody", signedOut: true},
	{name: "agent", account: "zhang.wei", password: agentPassword},
	{name: "supervisor", account: "li.na", password: superPassword},
	{name: "admin", account: "wu.admin", password: "管理员Wu-2024-pass"},
	{name: "ops", account: "qian.ops", password: "运维Qian-2024-pass"},
	{name: "agent token", token: "agent-token-zhangwei-0123"},
	{name: "service token", token: "service-token-crm-0123456"},
	{name: "intake token", token: "intake-token-kiosk-012345"},
	{name: "disabled account's token", token: "agent-token-zhaolei-01234", signedOut: true},
	{name: "monitor token", token: "monitor-token-prom-012345"},
}

// walkRow is a route of the walk and what each requester gets.
type walkRow struct {
	method, path string
	// codes by requester, in the order of requesters; a POST's or
	// PATCH's with the session's CSRF token (a token's requests need none).
	codes []int
	// bare are a POST's or PATCH's codes without the CSRF token.
	bare []int
	// form is what a page's POST sends, json what the API's does.
	form url.Values
	json string
}

// walkFile is the file the customer of TSA attached.
const walkFile = "宽带报修回执 2026-03-02，工单号 GD20260302001，报修电话 10000"

// walkFileLink is the download of walkFile from case id.
func walkFileLink(id string) string {
	sum := sha256.Sum256([]byte(walkFile))
	return Path + "/cases/" + id + "/attachments/" + hex.EncodeToString(sum[:])
}

// walkNote is the note the walk posts to the API.
const walkNote = `{"kind":"note","note":"已致电客户，约定明天上午回访"}`

// walkRows are the routes of the console process and what each requester
// gets: 401 without credentials on the API and 303 to the sign-in page
// on the pages, 403 for a role that may not (and for a form posted by a
// session without its CSRF token), 404 for a case the principal may not
// see and for the board and the accounts pages to whoever may not use
// them.
func walkRows() []walkRow {
	const (
		ok, created, accepted, see, unauth, forbid, none, invalid = 200, 201, 202, 303, 401, 403, 404, 422
	)
	// The codes of each row are those of: nobody, agent, supervisor, admin,
	// ops, agent token, service token, intake token, disabled account's token,
	// monitor token.
	return []walkRow{
		{method: "GET", path: "/healthz", codes: []int{ok, ok, ok, ok, ok, ok, ok, ok, ok, ok}},
		{method: "GET", path: "/readyz", codes: []int{ok, ok, ok, ok, ok, ok, ok, ok, ok, ok}},
		{method: "GET", path: "/metrics", codes: []int{unauth, forbid, ok, ok, ok, forbid, ok, forbid, unauth, ok}},
		{method: "GET", path: "/api/v1/ops/lag", codes: []int{unauth, forbid, ok, ok, ok, forbid, ok, forbid, unauth, ok}},
		{method: "GET", path: httpapi.PathOpsChannels, codes: []int{unauth, forbid, forbid, ok, ok, forbid, forbid, forbid, unauth, ok}},
		{method: "GET", path: httpapi.PathOpsProcesses, codes: []int{unauth, forbid, forbid, ok, ok, forbid, forbid, forbid, unauth, ok}},
		{method: "GET", path: "/api/v1/cases", codes: []int{unauth, ok, ok, ok, forbid, ok, ok, forbid, unauth, forbid}},
		{method: "GET", path: "/api/v1/cases?q=理赔", codes: []int{unauth, ok, ok, ok, forbid, ok, ok, forbid, unauth, forbid}},
		{method: "GET", path: httpapi.PathExport, codes: []int{unauth, ok, ok, ok, forbid, ok, ok, forbid, unauth, forbid}},
		{method: "GET", path: "/api/v1/cases/TSA", codes: []int{unauth, ok, ok, ok, forbid, ok, ok, forbid, unauth, forbid}},
		{method: "GET", path: "/api/v1/cases/TSB", codes: []int{unauth, none, ok, ok, forbid, none, ok, forbid, unauth, forbid}},
		{method: "GET", path: "/api/v1/cases/TSC", codes: []int{unauth, ok, ok, ok, forbid, ok, ok, forbid, unauth, forbid}},
		{method: "GET", path: "/api/v1/cases/TS404", codes: []int{unauth, none, none, none, forbid, none, none, forbid, unauth, forbid}},
		{method: "POST", path: "/api/v1/cases/TSA/actions", json: walkNote,
			codes: []int{unauth, accepted, accepted, accepted, forbid, accepted, accepted, forbid, unauth, forbid},
			bare:  []int{unauth, unauth, unauth, unauth, unauth, accepted, accepted, forbid, unauth, forbid}},
		{method: "POST", path: "/api/v1/cases/TSB/actions", json: walkNote,
			codes: []int{unauth, none, accepted, accepted, forbid, none, accepted, forbid, unauth, forbid},
			bare:  []int{unauth, unauth, unauth, unauth, unauth, none, accepted, forbid, unauth, forbid}},
		{method: "GET", path: "/api/v1/cases/TSA/actions/api:x", codes: []int{unauth, ok, ok, ok, forbid, ok, ok, forbid, unauth, forbid}},
		{method: "GET", path: "/api/v1/cases/TSB/actions/api:x", codes: []int{unauth, none, ok, ok, forbid, none, ok, forbid, unauth, forbid}},
		{method: "POST", path: "/api/v1/cases/TSA/reveal", json: `{"field":"phone"}`,
			codes: []int{unauth, ok, ok, ok, forbid, ok, ok, forbid, unauth, forbid},
			bare:  []int{unauth, unauth, unauth, unauth, unauth, ok, ok, forbid, unauth, forbid}},
		{method: "POST", path: "/api/v1/cases/TSB/reveal", json: `{"field":"phone"}`,
			codes: []int{unauth, none, ok, ok, forbid, none, ok, forbid, unauth, forbid},
			bare:  []int{unauth, unauth, unauth, unauth, unauth, none, ok, forbid, unauth, forbid}},
		// The admin creates 周强's account once.
		{method: "POST", path: httpapi.PathAdminUsers,
			json:  `{"name":"zhou.qiang","display_name":"周强","role":"agent","departments":["投诉处理一部"],"password":"周强Zq-2024-pass"}`,
			codes: []int{unauth, forbid, forbid, created, forbid, forbid, forbid, forbid, unauth, forbid},
			bare:  []int{unauth, unauth, unauth, unauth, unauth, forbid, forbid, forbid, unauth, forbid}},
		{method: "PATCH", path: httpapi.PathAdminUsers + "/zhao.lei", json: `{"display_name":"赵磊"}`,
			codes: []int{unauth, forbid, forbid, ok, forbid, forbid, forbid, forbid, unauth, forbid},
			bare:  []int{unauth, unauth, unauth, unauth, unauth, forbid, forbid, forbid, unauth, forbid}},
		{method: "GET", path: httpapi.PathAdminUsers, codes: []int{unauth, forbid, forbid, ok, forbid, forbid, forbid, forbid, unauth, forbid}},
		{method: "GET", path: httpapi.PathAdminUsers + "/zhang.wei", codes: []int{unauth, forbid, forbid, ok, forbid, forbid, forbid, forbid, unauth, forbid}},
		// The sign-in form's token is bound to the browser before there is a
		// session: no session's token opens it.
		{method: "POST", path: PathSignIn, form: url.Values{"name": {"zhang.wei"}, "password": {"不是这个密码-123"}},
			codes: []int{forbid, forbid, forbid, forbid, forbid, forbid, forbid, forbid, forbid, forbid},
			bare:  []int{forbid, forbid, forbid, forbid, forbid, forbid, forbid, forbid, forbid, forbid}},
		{method: "GET", path: PathSignIn, codes: []int{ok, see, see, see, see, ok, ok, ok, ok, ok}},
		{method: "GET", path: PathPassword, codes: []int{see, ok, ok, ok, ok, ok, ok, forbid, see, forbid}},
		// Only an account changes its password, and the old one is wrong.
		{method: "POST", path: PathPassword, form: url.Values{"old": {"不是原密码-2024"}, "new": {"新的密码Abc-2025"}, "again": {"新的密码Abc-2025"}},
			codes: []int{see, invalid, invalid, invalid, invalid, forbid, forbid, forbid, see, forbid},
			bare:  []int{see, forbid, forbid, forbid, forbid, forbid, forbid, forbid, see, forbid}},
		{method: "GET", path: Path + "/", codes: []int{see, ok, ok, ok, ok, ok, ok, forbid, see, forbid}},
		{method: "GET", path: Path + "/search?q=" + url.QueryEscape("理赔"), codes: []int{see, ok, ok, ok, forbid, ok, ok, forbid, see, forbid}},
		{method: "GET", path: Path + "/search/export?q=" + url.QueryEscape("理赔"), codes: []int{see, ok, ok, ok, forbid, ok, ok, forbid, see, forbid}},
		{method: "GET", path: Path + "/cases/TSA", codes: []int{see, ok, ok, ok, none, ok, ok, forbid, see, forbid}},
		{method: "GET", path: Path + "/cases/TSB", codes: []int{see, none, ok, ok, none, none, ok, forbid, see, forbid}},
		{method: "GET", path: Path + "/cases/TSC", codes: []int{see, ok, ok, ok, none, ok, ok, forbid, see, forbid}},
		{method: "GET", path: walkFileLink("TSA"), codes: []int{see, ok, ok, ok, none, ok, ok, forbid, see, forbid}},
		{method: "GET", path: walkFileLink("TSB"), codes: []int{see, none, none, none, none, none, none, forbid, see, forbid}},
		{method: "POST", path: Path + "/cases/TSA/actions", form: url.Values{"kind": {"note"}, "note": {"已致电客户，约定明天上午回访"}},
			codes: []int{see, see, see, see, none, see, see, forbid, see, forbid},
			bare:  []int{see, forbid, forbid, forbid, forbid, see, see, forbid, see, forbid}},
		{method: "POST", path: Path + "/cases/TSB/actions", form: url.Values{"kind": {"note"}, "note": {"客户要求尽快理赔到账"}},
			codes: []int{see, none, see, see, none, none, see, forbid, see, forbid},
			bare:  []int{see, forbid, forbid, forbid, forbid, none, see, forbid, see, forbid}},
		// An agent is shown the phone number; whoever sees it anyway goes back
		// to the case.
		{method: "POST", path: Path + "/cases/TSA/reveal", form: url.Values{"field": {"phone"}},
			codes: []int{see, ok, see, see, none, ok, see, forbid, see, forbid},
			bare:  []int{see, forbid, forbid, forbid, forbid, ok, see, forbid, see, forbid}},
		{method: "POST", path: Path + "/cases/TSB/reveal", form: url.Values{"field": {"phone"}},
			codes: []int{see, none, see, see, none, none, see, forbid, see, forbid},
			bare:  []int{see, forbid, forbid, forbid, forbid, none, see, forbid, see, forbid}},
		{method: "GET", path: PathOps, codes: []int{see, forbid, forbid, ok, ok, forbid, forbid, forbid, see, forbid}},
		{method: "GET", path: Path + "/board", codes: []int{see, none, ok, ok, none, none, ok, forbid, see, forbid}},
		{method: "GET", path: Path + "/reports?from=2026-03-01&to=2026-03-31", codes: []int{see, none, ok, ok, none, none, ok, forbid, see, forbid}},
		{method: "GET", path: httpapi.PathReportSLA + "?from=2026-03-01&to=2026-03-31&format=xlsx", codes: []int{unauth, forbid, ok, ok, forbid, forbid, ok, forbid, unauth, forbid}},
		{method: "GET", path: Path + "/alerts", codes: []int{see, ok, ok, ok, ok, ok, ok, forbid, see, forbid}},
		{method: "POST", path: Path + "/alerts/read", form: url.Values{"all": {"1"}},
			codes: []int{see, see, see, see, see, see, see, forbid, see, forbid},
			bare:  []int{see, forbid, forbid, forbid, forbid, see, see, forbid, see, forbid}},
		{method: "GET", path: pathUsers, codes: []int{see, none, none, ok, none, none, none, forbid, see, forbid}},
		{method: "GET", path: pathUsers + "/zhang.wei", codes: []int{see, none, none, ok, none, none, none, forbid, see, forbid}},
		// The admin creates 孙丽's account once.
		{method: "POST", path: pathUsers, form: url.Values{"name": {"sun.li"}, "display_name": {"孙丽"}, "role": {"agent"}, "departments": {"投诉处理一部"}},
			codes: []int{see, none, none, created, none, none, none, forbid, see, forbid},
			bare:  []int{see, none, none, forbid, none, none, none, forbid, see, forbid}},
		{method: "POST", path: pathUsers + "/zhao.lei", form: url.Values{"display_name": {"赵磊"}, "role": {"agent"}, "departments": {"理赔部"}, "disabled": {"yes"}},
			codes: []int{see, none, none, see, none, none, none, forbid, see, forbid},
			bare:  []int{see, none, none, forbid, none, none, none, forbid, see, forbid}},
		{method: "POST", path: pathUsers + "/zhao.lei/password",
			codes: []int{see, none, none, ok, none, none, none, forbid, see, forbid},
			bare:  []int{see, none, none, forbid, none, none, none, forbid, see, forbid}},
		// The dead letters are for ops and admins; a replay is confirmed first.
		{method: "GET", path: httpapi.PathDeadLetters, codes: []int{unauth, forbid, forbid, ok, ok, forbid, forbid, forbid, unauth, ok}},
		{method: "GET", path: httpapi.PathDeadLetters + "/0-1", codes: []int{unauth, forbid, forbid, ok, ok, forbid, forbid, forbid, unauth, ok}},
		{method: "POST", path: httpapi.PathDeadLetters + "/replay", json: `{"ids":["0-9"]}`,
			codes: []int{unauth, forbid, forbid, ok, ok, forbid, forbid, forbid, unauth, forbid},
			bare:  []int{unauth, unauth, unauth, unauth, unauth, forbid, forbid, forbid, unauth, forbid}},
		{method: "GET", path: pathDeadLetters, codes: []int{see, forbid, forbid, ok, ok, forbid, forbid, forbid, see, forbid}},
		{method: "GET", path: pathDeadLetters + "/0-1", codes: []int{see, forbid, forbid, ok, ok, forbid, forbid, forbid, see, forbid}},
		{method: "POST", path: pathDeadLetters + "/0-1/reveal",
			codes: []int{see, forbid, forbid, ok, ok, forbid, forbid, forbid, see, forbid},
			bare:  []int{see, forbid, forbid, forbid, forbid, forbid, forbid, forbid, see, forbid}},
		{method: "POST", path: pathDeadLetters + "/replay", form: url.Values{"id": {"0-1"}},
			codes: []int{see, forbid, forbid, ok, ok, forbid, forbid, forbid, see, forbid},
			bare:  []int{see, forbid, forbid, forbid, forbid, forbid, forbid, forbid, see, forbid}},
		// A customer's personal information is for admins: the API and
		// the page, whose erasure is confirmed first.
		{method: "GET", path: httpapi.PathAdminCustomers + "?phone=13912340001", codes: []int{unauth, forbid, forbid, ok, forbid, forbid, forbid, forbid, unauth, forbid}},
		{method: "POST", path: httpapi.PathAdminErase, json: `{"reference":"TSZ","reason":"客户3月2日来电申请删除"}`,
			codes: []int{unauth, forbid, forbid, accepted, forbid, forbid, forbid, forbid, unauth, forbid},
			bare:  []int{unauth, unauth, unauth, unauth, unauth, forbid, forbid, forbid, unauth, forbid}},
		{method: "GET", path: pathPrivacy + "?kind=phone&value=13912340001", codes: []int{see, none, none, ok, none, none, none, forbid, see, forbid}},
		{method: "GET", path: pathPrivacy + "/export?kind=phone&value=13912340001", codes: []int{see, none, none, ok, none, none, none, forbid, see, forbid}},
		{method: "POST", path: pathPrivacy + "/erase", form: url.Values{"kind": {"phone"}, "value": {"13912340001"}},
			codes: []int{see, none, none, ok, none, none, none, forbid, see, forbid},
			bare:  []int{see, none, none, forbid, none, none, none, forbid, see, forbid}},
		{method: "GET", path: Path + "/static/console.css", codes: []int{ok, ok, ok, ok, ok, ok, ok, ok, ok, ok}},
		// Last: signing out ends the walk's session.
		{method: "POST", path: PathSignOut,
			codes: []int{see, see, see, see, see, see, see, see, see, see},
			bare:  []int{see, forbid, forbid, forbid, forbid, see, see, see, see, see}},
	}
}

// TestEveryRouteByRole walks every route of the console process with
// every role, signed in or by token, and without either (walkRows), each
// POST and PATCH with and without the session's CSRF token.
func TestEveryRouteByRole(t *testing.T) {
	app := walkServer(t)
	for _, r := range requesters {
		t.Run(r.name, func(t *testing.T) {
			b := &browser{tb: t, app: app, cookies: map[string]string{}, ip: "203.0.113.9"}
			token := ""
			if r.account != "" {
				if a := b.signIn(r.account, r.password, ""); a.code != http.StatusSeeOther {
					t.Fatalf("sign-in of %s: %d %.200s", r.account, a.code, a.body)
				}
				token = csrf(t, b.do(http.MethodGet, PathPassword, nil))
			}
			col := slices.IndexFunc(requesters, func(x requester) bool { return x.name == r.name })
			rows := walkRows()
			metrics := rows[slices.IndexFunc(rows, func(x walkRow) bool { return x.path == "/metrics" })]
			for _, row := range rows {
				if row.method != http.MethodGet {
					walk(t, b, r, row, "", row.bare[col])
				}
				a := walk(t, b, r, row, token, row.codes[col])
				// Who may read the metrics also reads the readiness details.
				if details := strings.Contains(a.body, `"checks"`); row.path == "/readyz" && details != (metrics.codes[col] == http.StatusOK) {
					t.Errorf("/readyz: details %v, want %v", details, !details)
				}
			}
		})
	}
}

// walk sends row's request as r from b, with the CSRF token csrfToken
// when it changes something, and checks its status is want.
func walk(tb testing.TB, b *browser, r requester, row walkRow, csrfToken string, want int) answer {
	tb.Helper()
	var header []string
	if r.token != "" {
		header = append(header, "Authorization", "Bearer "+r.token)
	}
	body := ""
	switch {
	case row.method == http.MethodGet:
	case row.json != "":
		header = append(header, CSRFHeader, csrfToken, "Content-Type", fiber.MIMEApplicationJSON)
		body = row.json
	default:
		form := url.Values{}
		for k, v := range row.form {
			form[k] = v
		}
		form.Set(CSRFField, csrfToken)
		header = append(header, "Content-Type", fiber.MIMEApplicationForm)
		body = form.Encode()
	}
	a := b.doBody(row.method, row.path, body, header...)
	what := ""
	switch {
	case row.method == http.MethodGet:
	case csrfToken != "":
		what = " with the CSRF token"
	default:
		what = " without it"
	}
	if a.code != want {
		tb.Errorf("%s %s%s: %d, want %d (%.200s)", row.method, row.path, what, a.code, want, a.body)
	}
	// Only the signed out are sent to sign in (and everyone who signs out).
	if toSignIn := strings.HasPrefix(a.location, PathSignIn+"?next="); a.code == http.StatusSeeOther && row.path != PathSignOut && toSignIn != r.signedOut {
		tb.Errorf("%s %s%s: redirected to %q", row.method, row.path, what, a.location)
	}
	return a
}

// TestEveryRouteHasARow: every route the console process mounts is
// walked by TestEveryRouteByRole, so a new page cannot be mounted without
// saying who may use it.
func TestEveryRouteHasARow(t *testing.T) {
	app := walkServer(t)
	rows := walkRows()
	for _, rt := range app.GetRoutes(true) {
		if rt.Method == http.MethodHead {
			continue // fiber answers HEAD with each GET's handlers
		}
		if !slices.ContainsFunc(rows, func(row walkRow) bool { return row.method == rt.Method && routeMatches(rt.Path, row.path) }) {
			t.Errorf("%s %s is mounted but not walked: add a row to walkRows", rt.Method, rt.Path)
		}
	}
	for _, row := range rows {
		if l := len(requesters); len(row.codes) != l || row.method != http.MethodGet && len(row.bare) != l || row.method == http.MethodGet && row.bare != nil {
			t.Errorf("%s %s: codes for %d requesters (%d without the CSRF token), want %d", row.method, row.path, len(row.codes), len(row.bare), l)
		}
	}
}

// routeMatches reports whether path (with its query) is one of the
// route pattern's: a ":name" segment matches any segment but an empty
// one.
func routeMatches(pattern, path string) bool {
	path, _, _ = strings.Cut(path, "?")
	want, got := strings.Split(pattern, "/"), strings.Split(path, "/")
	if len(want) != len(got) {
		return false
	}
	for i, seg := range want {
		if param := strings.HasPrefix(seg, ":"); param && got[i] == "" || !param && seg != got[i] {
			return false
		}
	}
	return true
}

// TestSearchIsScoped: an agent's search, signed in or by a token named
// after the account, finds the cases of their department and those they
// hold, with contact data masked; a supervisor's finds every case in full.
func TestSearchIsScoped(t *testing.T) {
	app := walkServer(t)
	for _, tt := range []struct {
		who       requester
		want      []string
		phoneFull bool
	}{
		{requesters[1], []string{"TSA", "TSC"}, false},
		{requesters[5], []string{"TSA", "TSC"}, false},
		{requesters[2], []string{"TSA", "TSB", "TSC"}, true},
		{requesters[6], []string{"TSA", "TSB", "TSC"}, true},
	} {
		b := &browser{tb: t, app: app, cookies: map[string]string{}, ip: "203.0.113.10"}
		var header []string
		if tt.who.account != "" {
			b.signIn(tt.who.account, tt.who.password, "")
		} else {
			header = []string{"Authorization", "Bearer " + tt.who.token}
		}
		for _, path := range []string{"/api/v1/cases", "/api/v1/cases?q=" + url.QueryEscape("理赔")} {
			a := b.do(http.MethodGet, path, nil, header...)
			var res caseindex.Result
			if err := json.Unmarshal([]byte(a.body), &res); err != nil {
				t.Fatalf("%s: %d %.200s", tt.who.name, a.code, a.body)
			}
			var got []string
			for _, h := range res.Hits {
				got = append(got, h.ID)
				if full := h.Customer.Phone == "+8613912340001"; full != tt.phoneFull {
					t.Errorf("%s: phone %q", tt.who.name, h.Customer.Phone)
				}
			}
			want := tt.want
			if strings.Contains(path, "q=") {
				want = slices.DeleteFunc(slices.Clone(want), func(id string) bool { return id == "TSA" })
			}
			if slices.Sort(got); !slices.Equal(got, want) || res.Total != len(want) {
				t.Errorf("%s %s: %v (total %d), want %v", tt.who.name, path, got, res.Total, want)
			}
		}
	}
}

// TestOpsSeesNoCase: an ops account, whose scope names no department,
// finds no case in the console: the navigation offers no search, search
// and its export answer 403, a case's page 404; an agent's do not.
func TestOpsSeesNoCase(t *testing.T) {
	ps := newPagesServer(t, fixtures(t)...)
	search := "/console/search?q=" + url.QueryEscape("信号")
	for _, tt := range []struct {
		who, path      string
		code           int
		want, unwanted []string
	}{
		{"钱", "/console/", http.StatusOK, []string{"我的工单"}, []string{`href="/console/search"`, "/console/cases/"}},
		{"钱", search, http.StatusForbidden, []string{"您的账号不能查看或搜索工单"}, []string{"/console/cases/", "TS-B", "TS-D"}},
		{"钱", "/console/search/export?q=" + url.QueryEscape("信号"), http.StatusForbidden, []string{"您的账号不能查看或搜索工单"}, []string{"TS-B", "TS-D"}},
		{"钱", "/console/cases/TS-D", http.StatusNotFound, []string{"工单不存在"}, []string{"小区基站"}},
		{"乙", "/console/", http.StatusOK, []string{`href="/console/search"`, "/console/cases/TS-D"}, nil},
		{"乙", search, http.StatusOK, []string{"/console/cases/TS-D"}, []string{"/console/cases/TS-B"}},
	} {
		ps.check(t, tt.who, tt.path, tt.code, tt.want, tt.unwanted)
	}
}
