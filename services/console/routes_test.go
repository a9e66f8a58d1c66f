package console

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/tousu/tousu/internal/secret"
	"github.com/tousu/tousu/normalize"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/services/accounts"
	"github.com/tousu/tousu/services/httpapi"
	"github.com/tousu/tousu/sinks/bleveindex"
	"github.com/tousu/tousu/sinks/caseindex"
)

// walkTokens are the API tokens of the route walk: one named after an
// agent's account, one after a disabled account, a service token with no
// account, and an intake token.
var walkTokens = httpapi.AuthConfig{Tokens: []httpapi.Token{
	{Name: "zhang.wei", Token: secret.Inline("agent-token-zhangwei-0123"), Role: httpapi.RoleAgent},
	{Name: "zhao.lei", Token: secret.Inline("agent-token-zhaolei-01234"), Role: httpapi.RoleAgent},
	{Name: "crm-sync", Token: secret.Inline("service-token-crm-0123456"), Role: httpapi.RoleSupervisor},
	{Name: "kiosk", Token: secret.Inline("intake-token-kiosk-012345"), Role: httpapi.RoleIntake},
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

// walkServer is the console process as modules.go wires it: the HTTP
// server with the sessions, the pages, the case API and the admin API.
func walkServer(tb testing.TB) (*env, *fiber.App) {
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
	idx, err := bleveindex.Open(bleveindex.Config{Path: filepath.Join(tb.TempDir(), "cases.bleve")}, zap.NewNop())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { idx.Close() })
	if err := idx.Upsert(context.Background(), walkCases()); err != nil {
		tb.Fatal(err)
	}
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
	acts := &httpapi.CaseActions{Publish: func(context.Context, router.Action) error { return nil }}
	httpapi.NewConsole(idx, auth, acts, []byte("customer-key-of-the-walk-0123456"), zap.NewNop()).Mount(app)
	httpapi.NewAdmin(e.store, auth, zap.NewNop()).Mount(app)
	MountStatic(app, zap.NewNop())
	httpapi.MountOps(app, auth, func(context.Context) []httpapi.GroupLag { return nil }, zap.NewNop())
	mountStandInPages(app, s, idx)
	e.app, e.sessions = app, s
	return e, app
}

// mountStandInPages stands in for the case pages another change brings
// (queue, search, case): behind RequirePage, the case page answers 404
// for a case the principal may not see. Once the real pages are mounted,
// this goes and the walk runs against them.
func mountStandInPages(app *fiber.App, s *Sessions, idx caseindex.Index) {
	ok := func(c *fiber.Ctx) error { return c.SendString("页面 " + httpapi.PrincipalOf(c).Name) }
	app.Get(Path+"/", s.RequirePage(), ok)
	app.Get(Path+"/search", s.RequirePage(), ok)
	app.Get(Path+"/cases/:id", s.RequirePage(), func(c *fiber.Ctx) error {
		cs, err := idx.Get(c.UserContext(), c.Params("id"))
		if err != nil || !httpapi.PrincipalOf(c).MaySee(cs) {
			return c.SendStatus(fiber.StatusNotFound)
		}
		return ok(c)
	})
}

// requester is who makes a request of the walk.
type requester struct {
	name string
	// account signs in with password; token is sent as a bearer token.
	account, password, token string
}

var requesters = []requester{
	{name: "nobody"},
	{name: "agent", account: "zhang.wei", password: agentPassword},
	{name: "supervisor", account: "li.na", password: superPassword},
	{name: "admin", account: "wu.admin", password: "管理员Wu-2024-pass"},
	{name: "ops", account: "qian.ops", password: "运维Qian-2024-pass"},
	{name: "agent token", token: "agent-token-zhangwei-0123"},
	{name: "service token", token: "service-token-crm-0123456"},
	{name: "intake token", token: "intake-token-kiosk-012345"},
	{name: "disabled account's token", token: "agent-token-zhaolei-01234"},
}

// TestEveryRouteByRole walks every route of the console process with
// every role, signed in or by token, and without either: 401 without
// credentials on the API and 303 to the sign-in page on the pages, 403
// for a role that may not, 404 for a case the principal may not see.
//
// After the case pages are merged, the stand-ins of mountStandInPages
// give way to them and these rows stay: /console/, /console/search,
// /console/cases/TSA, /console/cases/TSB (and any POST of the pages, which
// must answer 403 without the CSRF token).
func TestEveryRouteByRole(t *testing.T) {
	_, app := walkServer(t)
	type row struct {
		method, path string
		// codes by requester, in the order of requesters.
		codes []int
	}
	const (
		ok, accepted, see, unauth, forbid, none = 200, 202, 303, 401, 403, 404
	)
	//                                                       nobody  agent   super   admin   ops     agentT  svcT    intakeT disabledT
	rows := []row{
		{"GET", "/healthz", []int{ok, ok, ok, ok, ok, ok, ok, ok, ok}},
		{"GET", "/readyz", []int{ok, ok, ok, ok, ok, ok, ok, ok, ok}},
		{"GET", "/metrics", []int{unauth, forbid, ok, ok, ok, forbid, ok, forbid, unauth}},
		{"GET", "/api/v1/ops/lag", []int{unauth, forbid, ok, ok, ok, forbid, ok, forbid, unauth}},
		{"GET", "/api/v1/cases", []int{unauth, ok, ok, ok, forbid, ok, ok, forbid, unauth}},
		{"GET", "/api/v1/cases?q=理赔", []int{unauth, ok, ok, ok, forbid, ok, ok, forbid, unauth}},
		{"GET", httpapi.PathExport, []int{unauth, ok, ok, ok, forbid, ok, ok, forbid, unauth}},
		{"GET", "/api/v1/cases/TSA", []int{unauth, ok, ok, ok, forbid, ok, ok, forbid, unauth}},
		{"GET", "/api/v1/cases/TSB", []int{unauth, none, ok, ok, forbid, none, ok, forbid, unauth}},
		{"GET", "/api/v1/cases/TSC", []int{unauth, ok, ok, ok, forbid, ok, ok, forbid, unauth}},
		{"GET", "/api/v1/cases/TS404", []int{unauth, none, none, none, forbid, none, none, forbid, unauth}},
		{"POST", "/api/v1/cases/TSA/actions", []int{unauth, accepted, accepted, accepted, forbid, accepted, accepted, forbid, unauth}},
		{"POST", "/api/v1/cases/TSB/actions", []int{unauth, none, accepted, accepted, forbid, none, accepted, forbid, unauth}},
		{"GET", "/api/v1/cases/TSA/actions/api:x", []int{unauth, ok, ok, ok, forbid, ok, ok, forbid, unauth}},
		{"GET", "/api/v1/cases/TSB/actions/api:x", []int{unauth, none, ok, ok, forbid, none, ok, forbid, unauth}},
		{"GET", httpapi.PathAdminUsers, []int{unauth, forbid, forbid, ok, forbid, forbid, forbid, forbid, unauth}},
		{"GET", httpapi.PathAdminUsers + "/zhang.wei", []int{unauth, forbid, forbid, ok, forbid, forbid, forbid, forbid, unauth}},
		{"GET", PathSignIn, []int{ok, see, see, see, see, ok, ok, ok, ok}},
		{"GET", PathPassword, []int{see, ok, ok, ok, ok, ok, ok, forbid, see}},
		{"GET", Path + "/", []int{see, ok, ok, ok, ok, ok, ok, forbid, see}},
		{"GET", Path + "/search", []int{see, ok, ok, ok, ok, ok, ok, forbid, see}},
		{"GET", Path + "/cases/TSA", []int{see, ok, ok, ok, none, ok, ok, forbid, see}},
		{"GET", Path + "/cases/TSB", []int{see, none, ok, ok, none, none, ok, forbid, see}},
		{"GET", Path + "/static/console.css", []int{ok, ok, ok, ok, ok, ok, ok, ok, ok}},
	}
	for _, r := range requesters {
		t.Run(r.name, func(t *testing.T) {
			b := &browser{tb: t, app: app, cookies: map[string]string{}, ip: "203.0.113.9"}
			if r.account != "" {
				if a := b.signIn(r.account, r.password, ""); a.code != see {
					t.Fatalf("sign-in of %s: %d %.200s", r.account, a.code, a.body)
				}
			}
			token := ""
			if r.account != "" {
				token = csrf(t, b.do(http.MethodGet, PathPassword, nil))
			}
			col := slices.IndexFunc(requesters, func(x requester) bool { return x.name == r.name })
			for _, row := range rows {
				var header []string
				if r.token != "" {
					header = append(header, "Authorization", "Bearer "+r.token)
				}
				body := ""
				if row.method == http.MethodPost {
					header = append(header, CSRFHeader, token, "Content-Type", "application/json")
					body = `{"kind":"note","note":"已致电客户，约定明天上午回访"}`
				}
				a := b.doBody(row.method, row.path, body, header...)
				if a.code != row.codes[col] {
					t.Errorf("%s %s: %d, want %d (%.200s)", row.method, row.path, a.code, row.codes[col], a.body)
				}
				if a.code == see && r.account == "" && !strings.HasPrefix(a.location, PathSignIn+"?next=") {
					t.Errorf("%s %s: redirected to %q, want the sign-in page", row.method, row.path, a.location)
				}
				// Who may read the metrics also reads the readiness details.
				if details := strings.Contains(a.body, `"checks"`); row.path == "/readyz" && details != (rows[2].codes[col] == ok) {
					t.Errorf("/readyz: details %v, want %v", details, !details)
				}
			}
		})
	}
}

// TestSearchIsScoped: an agent's search, signed in or by a token named
// after the account, finds the cases of their department and those they
// hold, with contact data masked; a supervisor's finds every case in full.
func TestSearchIsScoped(t *testing.T) {
	_, app := walkServer(t)
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
