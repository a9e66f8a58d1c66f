package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tousu/tousu/internal/browsertest"
	"github.com/tousu/tousu/internal/polltest"
	"github.com/tousu/tousu/internal/servertest"
)

// visitor is a browser of the test: it keeps the cookies it is given,
// whichever console replica gave them, and sends them to every replica.
type visitor struct {
	tb      testing.TB
	cookies map[string]string
}

var csrfField = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// do sends form (nil: none) to base+path and returns the status, the
// Location and the body.
func (v *visitor) do(base, method, path string, form url.Values, header ...string) (int, string, string) {
	v.tb.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, base+path, body)
	if err != nil {
		v.tb.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	for name, value := range v.cookies {
		req.AddCookie(&http.Cookie{Name: name, Value: value})
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		v.tb.Fatal(err)
	}
	defer resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.MaxAge < 0 || c.Value == "" {
			delete(v.cookies, c.Name)
		} else {
			v.cookies[c.Name] = c.Value
		}
	}
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(b)
}

// form returns the CSRF token of the form on base+path.
func (v *visitor) form(base, path string) string {
	v.tb.Helper()
	_, _, page := v.do(base, http.MethodGet, path, nil)
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		v.tb.Fatalf("no form on %s%s: %.300s", base, path, page)
	}
	return m[1]
}

// signIn signs in on base and returns the status and where it leads.
func (v *visitor) signIn(base, name, password string) (int, string) {
	v.tb.Helper()
	code, where, _ := v.do(base, http.MethodPost, "/console/signin", url.Values{"_csrf": {v.form(base, "/console/signin")}, "name": {name}, "password": {password}})
	return code, where
}

// roundRobin is a reverse proxy in front of console replicas that sends
// each request to the next replica in turn, as a load balancer without
// sticky sessions does, and keeps which replica served which request.
type roundRobin struct {
	replicas []*httputil.ReverseProxy

	mu     sync.Mutex
	n      int
	served []servedBy
}

// servedBy is a request the proxy passed on and the replica it went to.
type servedBy struct {
	method, path string
	replica      int
}

// newRoundRobin serves a round-robin proxy in front of the replicas' base
// URLs until the test ends, and returns it with its base URL.
func newRoundRobin(tb testing.TB, bases ...string) (*roundRobin, string) {
	tb.Helper()
	rr := &roundRobin{}
	for _, base := range bases {
		u, err := url.Parse(base)
		if err != nil {
			tb.Fatal(err)
		}
		rr.replicas = append(rr.replicas, httputil.NewSingleHostReverseProxy(u))
	}
	srv := httptest.NewServer(rr)
	tb.Cleanup(srv.Close)
	return rr, srv.URL
}

func (rr *roundRobin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rr.mu.Lock()
	i := rr.n % len(rr.replicas)
	rr.n++
	rr.served = append(rr.served, servedBy{r.Method, r.URL.Path, i})
	rr.mu.Unlock()
	rr.replicas[i].ServeHTTP(w, r)
}

// next is the replica the next request goes to.
func (rr *roundRobin) next() int {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	return rr.n % len(rr.replicas)
}

// last is the replica that served the last request of method and path.
func (rr *roundRobin) last(method, path string) int {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	for i := len(rr.served) - 1; i >= 0; i-- {
		if s := rr.served[i]; s.method == method && s.path == path {
			return s.replica
		}
	}
	return -1
}

// replicasServing are the replicas that served a GET of a path with the
// prefix since the from-th request, each once.
func (rr *roundRobin) replicasServing(prefix string, from int) []int {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	var out []int
	for _, s := range rr.served[from:] {
		if s.method == http.MethodGet && strings.HasPrefix(s.path, prefix) && !slices.Contains(out, s.replica) {
			out = append(out, s.replica)
		}
	}
	slices.Sort(out)
	return out
}

// count is how many requests the proxy passed on.
func (rr *roundRobin) count() int {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	return rr.n
}

// TestConsoleReplicasShareSessions runs two console processes on real
// Kafka behind a round-robin proxy, as a load balancer without sticky
// sessions spreads one person's requests. The admin creates an account
// through the proxy; its sign-in form comes from that replica and the
// sign-in posts to the other, which knows the account; the session then
// works on both: pages loaded through the proxy, over HTTP and in
// Chromium (when TOUSU_TEST_BROWSER names it), all answer the signed-in
// person whichever replica serves them. Addressing the replicas
// directly: a password changed on one ends the older sessions on both,
// and failed sign-ins on one lock the name on the other.
func TestConsoleReplicasShareSessions(t *testing.T) {
	kafka, es := servertest.Require(t, servertest.Kafka), servertest.Require(t, servertest.ES)
	root := t.TempDir()
	// Every request comes from 127.0.0.1, through the proxy too, and the
	// failed sign-ins of every run stay on the Kafka's shared ledger for
	// the lock window: the address's own lock would lock out a run that
	// follows another within it, so it is set out of reach; the test
	// locks names.
	cfgPath := realConfig(t, root, kafka, es, "session:\n  max_client_failures: 100000\n")
	env := []string{"TOUSU_BOOTSTRAP_TOKEN=" + testToken, "TOUSU_SECRET=" + testSecret}
	a := startProc(t, env, "-config", cfgPath, "-target", "console", "-data", filepath.Join(root, "console-a"))
	b := startProc(t, env, "-config", cfgPath, "-target", "console", "-data", filepath.Join(root, "console-b"))
	rr, lb := newRoundRobin(t, a.http, b.http)

	// The admin creates the account through the proxy.
	name := "it" + strconv.FormatInt(time.Now().UnixNano(), 36)
	first := "初始密码Chushi-2026"
	body := fmt.Sprintf(`{"name":%q,"display_name":"集成测试坐席","role":"agent","departments":["客服部"],"password":%q}`, name, first)
	if code := (&proc{http: lb}).request(t, http.MethodPost, "/api/v1/admin/users", body, nil); code != http.StatusCreated {
		t.Fatalf("create %s through the proxy: %d", name, code)
	}
	creator := rr.last(http.MethodPost, "/api/v1/admin/users")

	// The sign-in form comes from the creator and the sign-in goes to the
	// other replica: a request in between when the turn says otherwise,
	// and each try is a GET and a POST, which keeps the turn.
	if rr.next() != creator {
		(&visitor{tb: t, cookies: map[string]string{}}).do(lb, http.MethodGet, "/healthz", nil)
	}
	v := &visitor{tb: t, cookies: map[string]string{}}
	var code int
	var where string
	polltest.Until(t, "the account created on one replica signs in on the other", func() bool {
		code, where = v.signIn(lb, name, first)
		return code == http.StatusSeeOther
	})
	if form, signIn := rr.last(http.MethodGet, "/console/signin"), rr.last(http.MethodPost, "/console/signin"); form != creator || signIn == creator {
		t.Fatalf("the sign-in form came from replica %d and the sign-in went to %d; want from the creator %d and to the other", form, signIn, creator)
	}
	if where != "/console/password" {
		t.Fatalf("sign-in through the proxy: %d %q, want the password page first", code, where)
	}
	second := "新密码Xinmima-2027"
	token := v.form(lb, "/console/password")
	if code, where, _ := v.do(lb, http.MethodPost, "/console/password", url.Values{"_csrf": {token}, "old": {first}, "new": {second}, "again": {second}}); code != http.StatusSeeOther || where != "/console/" {
		t.Fatalf("password change through the proxy: %d %q", code, where)
	}
	// Once both replicas have read the change, every page load through
	// the proxy answers the session, whichever replica serves it.
	pages := []string{"/console/", "/console/search?q=" + url.QueryEscape("宽带断网"), "/console/alerts", "/api/v1/cases", "/console/password"}
	loads := func() bool {
		for _, path := range pages {
			if code, _, page := v.do(lb, http.MethodGet, path, nil); code != http.StatusOK || strings.HasPrefix(path, "/console/") && !strings.Contains(page, name) {
				return false
			}
		}
		return true
	}
	polltest.Until(t, "the session works on both replicas", loads)
	from := rr.count()
	for i := 0; i < 3; i++ {
		if !loads() {
			t.Fatalf("round %d of page loads through the proxy: a page did not answer the session", i+1)
		}
	}
	if got := rr.replicasServing("/", from); len(got) != 2 {
		t.Errorf("the page loads went to replicas %v, want both", got)
	}
	browseThroughProxy(t, rr, lb, name, second)

	w := &visitor{tb: t, cookies: map[string]string{}}
	if code, where := w.signIn(a.http, name, second); code != http.StatusSeeOther || where != "/console/" {
		t.Fatalf("sign-in on A with the new password: %d %q", code, where)
	}
	if code, _, _ := w.do(b.http, http.MethodGet, "/api/v1/cases", nil); code != http.StatusOK {
		t.Errorf("A's session on B: %d", code)
	}
	old := map[string]string{}
	for k, val := range w.cookies {
		old[k] = val
	}
	third := "第三个密码Disan-2028"
	token = w.form(a.http, "/console/password")
	if code, _, _ := w.do(a.http, http.MethodPost, "/console/password", url.Values{"_csrf": {token}, "old": {second}, "new": {third}, "again": {third}}); code != http.StatusSeeOther {
		t.Fatalf("second password change on A: %d", code)
	}
	stale := &visitor{tb: t, cookies: old}
	polltest.Until(t, "the session from before the change is refused on B", func() bool {
		code, _, _ := stale.do(b.http, http.MethodGet, "/api/v1/cases", nil)
		stale.cookies = map[string]string{"tousu_session": old["tousu_session"]}
		return code == http.StatusUnauthorized
	})

	// Five failures on A lock the name on B once B has read them; a
	// sign-in on B before that succeeds and clears the count, so the
	// failures are made again until B refuses.
	polltest.Until(t, "the name locked on A is locked on B", func() bool {
		for i := 0; i < 5; i++ {
			if code, _ := (&visitor{tb: t, cookies: map[string]string{}}).signIn(a.http, name, "错误密码Cuowu-"+strconv.Itoa(i)); code != http.StatusUnauthorized && code != http.StatusTooManyRequests {
				t.Fatalf("failure %d on A: %d", i, code)
			}
		}
		code, _ := (&visitor{tb: t, cookies: map[string]string{}}).signIn(b.http, name, third)
		return code == http.StatusTooManyRequests
	})
}

// browseThroughProxy signs name in with password in Chromium through the
// round-robin proxy at lb and loads the console's pages three times over;
// each must answer the signed-in person, and the pages must have come
// from both replicas. Without TOUSU_TEST_BROWSER (and without
// TOUSU_REQUIRE_SERVERS=1) it only says so: the checks over HTTP stand.
func browseThroughProxy(t *testing.T, rr *roundRobin, lb, name, password string) {
	t.Helper()
	if os.Getenv(servertest.Browser.Env) == "" && os.Getenv(servertest.EnvRequire) != "1" {
		t.Logf("%s is not set: the session is checked through the proxy over HTTP only", servertest.Browser.Env)
		return
	}
	ctx := browsertest.Start(t, 1100, 800, 2*time.Minute)
	until := func(what, cond string) {
		t.Helper()
		if !polltest.Within(polltest.Patience, func() bool {
			ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.readyState === "complete" && (`+cond+`)`))
			return err == nil && ok
		}) {
			loc, _ := chromedp.Run(ctx, chromedp.Location())
			t.Fatalf("%s: not at %s", what, loc)
		}
	}
	from := rr.count()
	if err := chromedp.Do(ctx, chromedp.Navigate(lb+"/console/signin")); err != nil {
		t.Fatal(err)
	}
	until("the sign-in page", `!!document.querySelector("#password")`)
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS("#name"), name),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Click(chromedp.CSS("form button[type=submit]"), chromedp.NodeVisible),
	); err != nil {
		t.Fatal(err)
	}
	who := fmt.Sprintf(`location.pathname === "/console/" && (document.querySelector(".who")||{}).innerText === %q`, name)
	until("signed in through the proxy", who)
	for round := 1; round <= 3; round++ {
		for _, path := range []string{"/console/", "/console/search?q=" + url.QueryEscape("宽带断网"), "/console/alerts", "/console/password"} {
			resp, err := chromedp.RunResponse(ctx, chromedp.Navigate(lb+path))
			if err != nil {
				t.Fatalf("round %d, %s: %v", round, path, err)
			}
			shown, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelector(".who")||{innerText:""}).innerText`))
			if err != nil || resp.Status != http.StatusOK || shown != name {
				t.Errorf("round %d, %s through the proxy: %d, signed in as %q (%v); want 200 as %s", round, path, resp.Status, shown, err, name)
			}
		}
	}
	if got := rr.replicasServing("/console/", from); len(got) != 2 {
		t.Errorf("the browser's pages came from replicas %v, want both", got)
	}
}
