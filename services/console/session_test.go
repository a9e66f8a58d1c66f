package console

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"go.uber.org/zap"

	"github.com/tousu/tousu/internal/secret"
	"github.com/tousu/tousu/services/accounts"
	"github.com/tousu/tousu/services/bus"
	"github.com/tousu/tousu/services/bus/bustest"
	"github.com/tousu/tousu/services/httpapi"
	"github.com/tousu/tousu/services/ledger"
)

// Passwords of the test accounts.
const (
	agentPassword = "投诉处理Zw2024!"
	superPassword = "Li.Na-主管-7788"
	adminOneTime  = "KQ7XM2P4RJ5WTN3HB6YDZL2AVC"
)

// fakeClock is a clock the tests move.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *fakeClock) add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

// env is a console with sessions over accounts and a ledger in memory, as
// one replica sees them.
type env struct {
	app      *fiber.App
	sessions *Sessions
	store    *accounts.Store
	clock    *fakeClock
}

// testTokens are API tokens: one named after an account, one a service
// token.
var testTokens = httpapi.AuthConfig{Tokens: []httpapi.Token{
	{Name: "zhang.wei", Token: secret.Inline("agent-token-zhangwei-0123"), Role: httpapi.RoleAgent},
	{Name: "crm-sync", Token: secret.Inline("service-token-crm-0123456"), Role: httpapi.RoleSupervisor},
}}

// loopbackAccounts is an accounts store whose writes are read back at
// once, as its follower would read them from the topic.
func loopbackAccounts() *accounts.Store {
	var follow bus.Handler
	s := accounts.NewStore(bustest.Loopback(&follow), "console.accounts", zap.NewNop())
	follow = s.Follow
	s.CaughtUp()
	return s
}

// loopbackLedger is a ledger whose appends are followed at once.
func loopbackLedger() *ledger.Ledger {
	var follow bus.Handler
	l := ledger.New(bustest.Loopback(&follow), "gateway.ledger", ledger.Retention)
	follow = l.Follow
	l.CaughtUp()
	return l
}

// newEnv returns a console whose accounts are zhang.wei (an agent of
// 投诉处理一部), li.na (a supervisor), zhao.lei (a disabled agent) and the
// first admin, who must change the one-time password.
func newEnv(tb testing.TB) *env {
	tb.Helper()
	store := loopbackAccounts()
	start := time.Now()
	for _, a := range []struct {
		spec     accounts.Spec
		by       string
		disabled bool
	}{
		{accounts.Spec{Name: "zhang.wei", DisplayName: "张伟", Role: accounts.RoleAgent, Departments: []string{"投诉处理一部"}, Password: agentPassword}, "zhang.wei", false},
		{accounts.Spec{Name: "li.na", DisplayName: "李娜", Role: accounts.RoleSupervisor, Password: superPassword}, "li.na", false},
		{accounts.Spec{Name: "zhao.lei", Role: accounts.RoleAgent, Departments: []string{"理赔部"}, Password: agentPassword}, "zhao.lei", true},
		{accounts.Spec{Name: accounts.AdminName, Role: accounts.RoleAdmin, Password: adminOneTime}, accounts.BootstrapBy, false},
	} {
		acc, err := accounts.Create(a.spec, a.by, start.Add(-time.Hour))
		if err != nil {
			tb.Fatal(err)
		}
		acc.Disabled = a.disabled
		if err := store.Create(context.Background(), acc); err != nil {
			tb.Fatal(err)
		}
	}
	return newEnvOn(tb, store, loopbackLedger(), []byte("session-key-of-the-test-0123456789"), &fakeClock{t: start})
}

// newEnvOn returns a console replica on shared accounts and ledger.
func newEnvOn(tb testing.TB, store *accounts.Store, led *ledger.Ledger, key []byte, clock *fakeClock) *env {
	tb.Helper()
	tpl, err := LoadTemplates()
	if err != nil {
		tb.Fatal(err)
	}
	auth := httpapi.NewAuthenticator(testTokens)
	auth.UseAccounts(store)
	cfg := SessionConfig{}
	cfg.Provision()
	s := NewSessions(cfg, key, store, led, auth, tpl, zap.NewNop())
	s.now = clock.now
	app := fiber.New()
	s.Mount(app)
	page := func(c *fiber.Ctx) error {
		p := httpapi.PrincipalOf(c)
		return c.SendString("页面 " + p.Name + " " + string(p.Role) + " " + strings.Join(p.Departments, ",") + " csrf=" + CSRFToken(c))
	}
	app.Get(Path+"/", s.RequirePage(), page)
	app.Get(Path+"/search", s.RequirePage(), page)
	app.Post(Path+"/cases/:id/note", s.RequirePage(), s.CheckCSRF(), page)
	app.Get("/api/v1/whoami", auth.Require(httpapi.Role.MaySearch), page)
	app.Post("/api/v1/whoami", auth.Require(httpapi.Role.MaySearch), page)
	return &env{app: app, sessions: s, store: store, clock: clock}
}

// browser keeps cookies like a browser does for one site.
type browser struct {
	tb      testing.TB
	app     *fiber.App
	cookies map[string]string
	ip      string
}

func (e *env) browser(tb testing.TB) *browser {
	return &browser{tb: tb, app: e.app, cookies: map[string]string{}, ip: "203.0.113.7"}
}

// answer is what a request got.
type answer struct {
	code     int
	location string
	body     string
}

// do sends form (nil: none) with header's name, value pairs.
func (b *browser) do(method, path string, form url.Values, header ...string) answer {
	b.tb.Helper()
	if form == nil {
		return b.doBody(method, path, "", header...)
	}
	return b.doBody(method, path, form.Encode(), append([]string{"Content-Type", fiber.MIMEApplicationForm}, header...)...)
}

// doBody sends body (""; none) with header's name, value pairs.
func (b *browser) doBody(method, path, body string, header ...string) answer {
	b.tb.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, r)
	req.RemoteAddr = b.ip + ":40000"
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	for name, value := range b.cookies {
		req.AddCookie(&http.Cookie{Name: name, Value: value})
	}
	resp, err := b.app.Test(req, -1)
	if err != nil {
		b.tb.Fatal(err)
	}
	defer resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.MaxAge < 0 || c.Value == "" {
			delete(b.cookies, c.Name)
		} else {
			b.cookies[c.Name] = c.Value
		}
	}
	raw, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header.Get("Location"), string(raw)}
}

var csrfRe = regexp.MustCompile(`name="_csrf" value="([^"]*)"`)

// csrf returns the CSRF token of a page's form.
func csrf(tb testing.TB, a answer) string {
	tb.Helper()
	m := csrfRe.FindStringSubmatch(a.body)
	if m == nil || m[1] == "" {
		tb.Fatalf("no CSRF token in the page (%d): %.300s", a.code, a.body)
	}
	return m[1]
}

// signIn fills in the sign-in form as a person would.
func (b *browser) signIn(name, password, next string) answer {
	b.tb.Helper()
	page := b.do(http.MethodGet, PathSignIn+"?next="+url.QueryEscape(next), nil)
	return b.do(http.MethodPost, PathSignIn, url.Values{"_csrf": {csrf(b.tb, page)}, "name": {name}, "password": {password}, "next": {next}})
}

// TestSignInAndSession: a person signs in, is sent where they were going,
// and their pages and API requests are theirs, with their departments.
func TestSignInAndSession(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)
	if a := b.do(http.MethodGet, Path+"/search?q=%E9%80%80%E6%AC%BE", nil); a.code != http.StatusSeeOther || a.location != PathSignIn+"?next=%2Fconsole%2Fsearch%3Fq%3D%25E9%2580%2580%25E6%25AC%25BE" {
		t.Fatalf("without a session: %d %q", a.code, a.location)
	}
	a := b.signIn("Zhang.Wei ", agentPassword, "/console/search?q=退款")
	if a.code != http.StatusSeeOther || a.location != "/console/search?q=退款" {
		t.Fatalf("sign-in: %d %q %.300s", a.code, a.location, a.body)
	}
	for _, path := range []string{Path + "/", "/api/v1/whoami"} {
		if a := b.do(http.MethodGet, path, nil); a.code != http.StatusOK || !strings.Contains(a.body, "页面 zhang.wei agent 投诉处理一部") {
			t.Errorf("GET %s signed in: %d %.200s", path, a.code, a.body)
		}
	}
	if a := b.do(http.MethodGet, PathSignIn+"?next=/console/search", nil); a.code != http.StatusSeeOther || a.location != Path+"/search" {
		t.Errorf("the sign-in page signed in: %d %q", a.code, a.location)
	}
	b = e.browser(t)
	if a := b.signIn("li.na", superPassword, ""); a.code != http.StatusSeeOther || a.location != Path+"/" {
		t.Fatalf("supervisor's sign-in: %d %q", a.code, a.location)
	}
	if a := b.do(http.MethodGet, Path+"/", nil); !strings.Contains(a.body, "页面 li.na supervisor  csrf=") {
		t.Errorf("supervisor's page: %.200s", a.body)
	}
}

// TestSignInName: a name typed with an input method left on full width,
// in capitals or with spaces is the account's name.
func TestSignInName(t *testing.T) {
	for typed, want := range map[string]string{
		"zhang.wei":             "zhang.wei",
		" Zhang.Wei\t":          "zhang.wei",
		"ｚｈａｎｇ．ｗｅｉ":             "zhang.wei",
		"\u3000ＺＨＡＮＧ.wei\u3000": "zhang.wei",
		"li_na－２":               "li_na-2",
	} {
		if got := SignInName(typed); got != want {
			t.Errorf("SignInName(%q) = %q, want %q", typed, got, want)
		}
	}
	e := newEnv(t)
	if a := e.browser(t).signIn("ｚｈａｎｇ．ｗｅｉ", agentPassword, ""); a.code != http.StatusSeeOther {
		t.Errorf("sign-in with a full-width name: %d", a.code)
	}
}

// TestSignInFailureIsGeneric: a wrong password, a name that does not
// exist and a disabled account get the same answer.
func TestSignInFailureIsGeneric(t *testing.T) {
	e := newEnv(t)
	var bodies []string
	for _, tt := range []struct{ name, password string }{
		{"zhang.wei", "投诉处理zw2024!"}, // wrong case
		{"zhang.wie", agentPassword}, // typo in the name
		{"zhao.lei", agentPassword},  // disabled
		{"", ""},
	} {
		b := e.browser(t)
		a := b.signIn(tt.name, tt.password, "")
		if a.code != http.StatusUnauthorized || !strings.Contains(a.body, signInFailed) || b.cookies[SessionCookie] != "" {
			t.Errorf("sign-in %q: %d, cookie %q, %.300s", tt.name, a.code, b.cookies[SessionCookie], a.body)
		}
		_, rest, _ := strings.Cut(a.body, "<main")
		bodies = append(bodies, strings.ReplaceAll(strings.ReplaceAll(rest, `value="`+tt.name+`"`, ""), csrf(t, a), ""))
	}
	for _, body := range bodies[1:3] {
		if body != bodies[0] {
			t.Errorf("failed sign-ins differ:\n%s\n%s", bodies[0], body)
		}
	}
}

// TestSessionCookieTampering: a cookie changed in any way, or signed with
// another key, is no session.
func TestSessionCookieTampering(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)
	b.signIn("zhang.wei", agentPassword, "")
	good := b.cookies[SessionCookie]
	payload, sum, _ := strings.Cut(good, ".")
	now := e.clock.now()
	forged := encodeSession([]byte("another-installation-key-012345"), session{Name: "li.na", Issued: now, Seen: now, Nonce: "x"})
	raw := strings.Replace(decoded(t, payload), "zhang.wei", "li.na....", 1)
	for name, value := range map[string]string{
		"name changed":      encoded(raw) + "." + sum,
		"signature cut":     payload + "." + sum[:len(sum)-2],
		"no signature":      payload,
		"other key":         forged,
		"garbage":           "%%%.%%%",
		"empty payload":     "." + sum,
		"signature swapped": sum + "." + payload,
	} {
		b.cookies[SessionCookie] = value
		if a := b.do(http.MethodGet, Path+"/", nil); a.code != http.StatusSeeOther || !strings.HasPrefix(a.location, PathSignIn) {
			t.Errorf("%s: %d %q", name, a.code, a.location)
		}
		b.cookies[SessionCookie] = value
		if a := b.do(http.MethodGet, "/api/v1/whoami", nil); a.code != http.StatusUnauthorized {
			t.Errorf("%s on the API: %d", name, a.code)
		}
	}
	b.cookies[SessionCookie] = good
	if a := b.do(http.MethodGet, Path+"/", nil); a.code != http.StatusOK {
		t.Errorf("the untouched cookie: %d", a.code)
	}
}

// TestSessionExpiry: a session used often lives until its absolute
// expiry; one left alone ends after the idle time.
func TestSessionExpiry(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)
	b.signIn("zhang.wei", agentPassword, "")
	for i := 0; i < 35; i++ { // 35 × 20 min = 11 h 40 min
		e.clock.add(20 * time.Minute)
		if a := b.do(http.MethodGet, Path+"/", nil); a.code != http.StatusOK {
			t.Fatalf("after %d × 20 min of use: %d %q", i+1, a.code, a.location)
		}
	}
	e.clock.add(20 * time.Minute)
	if a := b.do(http.MethodGet, Path+"/", nil); a.code != http.StatusSeeOther {
		t.Fatalf("after 12 h: %d", a.code)
	}
	if _, ok := b.cookies[SessionCookie]; ok {
		t.Error("the expired cookie was not cleared")
	}

	b.signIn("zhang.wei", agentPassword, "")
	e.clock.add(29 * time.Minute)
	if a := b.do(http.MethodGet, "/api/v1/whoami", nil); a.code != http.StatusOK {
		t.Fatalf("after 29 min idle: %d", a.code)
	}
	e.clock.add(30 * time.Minute)
	if a := b.do(http.MethodGet, "/api/v1/whoami", nil); a.code != http.StatusUnauthorized {
		t.Fatalf("after 30 min idle: %d", a.code)
	}
}

// TestSessionEndsWithAccount: disabling the account, or setting its
// password, ends its sessions on every replica.
func TestSessionEndsWithAccount(t *testing.T) {
	for _, tt := range []struct {
		name  string
		patch accounts.Patch
	}{
		{"disabled", accounts.Patch{Disabled: ptr(true)}},
		{"password set by an admin", accounts.Patch{Password: ptr("重置后的Pass-2024")}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			b := e.browser(t)
			b.signIn("zhang.wei", agentPassword, "")
			e.clock.add(time.Minute)
			if _, err := e.store.Update(context.Background(), "zhang.wei", func(a accounts.Account) (accounts.Account, error) {
				return accounts.Apply(a, tt.patch, "admin", e.clock.now())
			}); err != nil {
				t.Fatal(err)
			}
			if a := b.do(http.MethodGet, Path+"/", nil); a.code != http.StatusSeeOther || !strings.HasPrefix(a.location, PathSignIn) {
				t.Errorf("page: %d %q", a.code, a.location)
			}
		})
	}
}

// TestFirstAdminMustChangePassword: the first admin signs in with the
// one-time password and can do nothing before choosing a new one; the
// new one works and the one-time password no longer does.
func TestFirstAdminMustChangePassword(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)
	if a := b.signIn("admin", adminOneTime, "/console/search"); a.code != http.StatusSeeOther || a.location != PathPassword {
		t.Fatalf("sign-in: %d %q", a.code, a.location)
	}
	if a := b.do(http.MethodGet, Path+"/search", nil); a.code != http.StatusSeeOther || a.location != PathPassword {
		t.Errorf("a page before the change: %d %q", a.code, a.location)
	}
	if a := b.do(http.MethodGet, "/api/v1/whoami", nil); a.code != http.StatusUnauthorized {
		t.Errorf("the API before the change: %d", a.code)
	}
	page := b.do(http.MethodGet, PathPassword, nil)
	if page.code != http.StatusOK || !strings.Contains(page.body, "须先修改密码") || !strings.Contains(page.body, `<label for="again">`) {
		t.Fatalf("password page: %d %.300s", page.code, page.body)
	}
	token := csrf(t, page)
	for _, tt := range []struct {
		old, new, again, code string
	}{
		{"kq7xm2p4rj5wtn3hb6ydzl2avc", "新的密码Abc-123", "新的密码Abc-123", "old_password_wrong"},
		{adminOneTime, "新的密码Abc-123", "新的密码Abc-l23", "password_mismatch"},
		{adminOneTime, "短密码1", "短密码1", "password_too_short"},
		{adminOneTime, adminOneTime, adminOneTime, "password_unchanged"},
	} {
		a := b.do(http.MethodPost, PathPassword, url.Values{"_csrf": {token}, "old": {tt.old}, "new": {tt.new}, "again": {tt.again}})
		if a.code != http.StatusUnprocessableEntity || !strings.Contains(a.body, `data-code="`+tt.code+`"`) {
			t.Errorf("change %q → %q: %d %.400s", tt.old, tt.new, a.code, a.body)
		}
	}
	if a := b.do(http.MethodPost, PathPassword, url.Values{"old": {adminOneTime}, "new": {"新的密码Abc-123"}, "again": {"新的密码Abc-123"}}); a.code != http.StatusForbidden {
		t.Errorf("change without the CSRF token: %d", a.code)
	}
	e.clock.add(time.Second)
	if a := b.do(http.MethodPost, PathPassword, url.Values{"_csrf": {token}, "old": {adminOneTime}, "new": {"新的密码Abc-123"}, "again": {"新的密码Abc-123"}}); a.code != http.StatusSeeOther || a.location != Path+"/" {
		t.Fatalf("change: %d %q %.300s", a.code, a.location, a.body)
	}
	if a := b.do(http.MethodGet, "/api/v1/whoami", nil); a.code != http.StatusOK || !strings.Contains(a.body, "admin admin") {
		t.Errorf("after the change: %d %.200s", a.code, a.body)
	}
	if a := e.browser(t).signIn("admin", adminOneTime, ""); a.code != http.StatusUnauthorized {
		t.Errorf("the one-time password after the change: %d", a.code)
	}
	if a := e.browser(t).signIn("admin", "新的密码Abc-123", ""); a.code != http.StatusSeeOther || a.location != Path+"/" {
		t.Errorf("the new password: %d %q", a.code, a.location)
	}
}

// TestSignInNextIsLocal: next= leads only to the console's own pages.
func TestSignInNextIsLocal(t *testing.T) {
	for _, tt := range []struct{ next, want string }{
		{"/console/cases/c-123?tab=notes", "/console/cases/c-123?tab=notes"},
		{"/console/search?q=空调漏水", "/console/search?q=空调漏水"},
		{"", "/console/"},
		{"https://evil.example/console/", "/console/"},
		{"//evil.example/console/", "/console/"},
		{"/\\evil.example", "/console/"},
		{"/console\\..\\admin", "/console/"},
		{"/console/../api/v1/admin/users", "/console/"},
		{"javascript:alert(1)", "/console/"},
		{"/consolex", "/console/"},
		{"/api/v1/cases", "/console/"},
		{"https:/console/", "/console/"},
		{"/console/signout", "/console/"},
		{"/console/\r\nLocation: https://evil.example", "/console/"},
		{"／／evil.example", "/console/"}, // full-width slashes
	} {
		if got := LocalNext(tt.next); got != tt.want {
			t.Errorf("LocalNext(%q) = %q; want %q", tt.next, got, tt.want)
		}
	}
	e := newEnv(t)
	if a := e.browser(t).signIn("zhang.wei", agentPassword, "https://evil.example/"); a.location != Path+"/" {
		t.Errorf("sign-in with an outside next: %q", a.location)
	}
}

// TestCSRF: every form needs the token of its session; the API needs it
// in a header when the session cookie authenticates a change.
func TestCSRF(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)
	if a := b.do(http.MethodPost, PathSignIn, url.Values{"name": {"zhang.wei"}, "password": {agentPassword}}); a.code != http.StatusForbidden || b.cookies[SessionCookie] != "" {
		t.Fatalf("sign-in without a token: %d", a.code)
	}
	b.signIn("zhang.wei", agentPassword, "")
	token := csrf(t, answer{body: `name="_csrf" value="` + strings.TrimSpace(strings.SplitAfter(b.do(http.MethodGet, Path+"/", nil).body, "csrf=")[1]) + `"`})
	other := e.browser(t)
	other.signIn("li.na", superPassword, "")
	otherToken := strings.SplitAfter(other.do(http.MethodGet, Path+"/", nil).body, "csrf=")[1]
	for _, tt := range []struct {
		name   string
		method string
		path   string
		form   url.Values
		header []string
		code   int
	}{
		{"form without token", http.MethodPost, Path + "/cases/c1/note", url.Values{"note": {"已致电客户，约定明日上门"}}, nil, http.StatusForbidden},
		{"form with another session's token", http.MethodPost, Path + "/cases/c1/note", url.Values{"_csrf": {otherToken}}, nil, http.StatusForbidden},
		{"form with its token", http.MethodPost, Path + "/cases/c1/note", url.Values{"_csrf": {token}, "note": {"已致电客户"}}, nil, http.StatusOK},
		{"API change without header", http.MethodPost, "/api/v1/whoami", url.Values{}, nil, http.StatusUnauthorized},
		{"API change with a wrong header", http.MethodPost, "/api/v1/whoami", url.Values{}, []string{CSRFHeader, otherToken}, http.StatusUnauthorized},
		{"API change with the header", http.MethodPost, "/api/v1/whoami", url.Values{}, []string{CSRFHeader, token}, http.StatusOK},
		{"sign-out without token", http.MethodPost, PathSignOut, url.Values{}, nil, http.StatusForbidden},
		{"bearer token needs none", http.MethodPost, "/api/v1/whoami", url.Values{}, []string{"Authorization", "Bearer agent-token-zhangwei-0123"}, http.StatusOK},
	} {
		if a := b.do(tt.method, tt.path, tt.form, tt.header...); a.code != tt.code {
			t.Errorf("%s: %d; want %d (%.200s)", tt.name, a.code, tt.code, a.body)
		}
	}
	if a := b.do(http.MethodPost, PathSignOut, url.Values{"_csrf": {token}}); a.code != http.StatusSeeOther || a.location != PathSignIn {
		t.Fatalf("sign-out: %d %q", a.code, a.location)
	}
	if a := b.do(http.MethodGet, Path+"/", nil); a.code != http.StatusSeeOther {
		t.Errorf("after sign-out: %d", a.code)
	}
}

// TestSignInLockOut: repeated failures lock the name, whatever the
// client, and a client, whatever the name; the lock is shared by the
// replicas through the ledger.
func TestSignInLockOut(t *testing.T) {
	e := newEnv(t)
	replica := newEnvOn(t, e.store, e.sessions.ledger.(*ledger.Ledger), e.sessions.key, e.clock)
	for i := 0; i < DefaultMaxAccountFailures; i++ {
		b := e.browser(t)
		b.ip = "198.51.100." + string(rune('1'+i))
		if a := b.signIn("zhang.wei", "123456", ""); a.code != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i, a.code)
		}
	}
	a := replica.browser(t).signIn("zhang.wei", agentPassword, "")
	if a.code != http.StatusTooManyRequests || !strings.Contains(a.body, "已暂时锁定") {
		t.Fatalf("right password on the other replica after %d failures: %d %.300s", DefaultMaxAccountFailures, a.code, a.body)
	}
	if a := e.browser(t).signIn("li.na", superPassword, ""); a.code != http.StatusSeeOther {
		t.Errorf("another account: %d", a.code)
	}

	attacker := replica.browser(t)
	attacker.ip = "192.0.2.66"
	for i := 0; i < DefaultMaxClientFailures; i++ {
		attacker.signIn("user"+string(rune('a'+i)), "password1", "")
	}
	if a := attacker.signIn("li.na", superPassword, ""); a.code != http.StatusTooManyRequests {
		t.Errorf("the locked client with a right password: %d", a.code)
	}
}

func decoded(tb testing.TB, s string) string {
	b, err := base64URL.DecodeString(s)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

func encoded(s string) string { return base64URL.EncodeToString([]byte(s)) }
