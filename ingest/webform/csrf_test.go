package webform

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"html"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/tousu/tousu/internal/secret"
)

const (
	secretA = "replica-secret-a-0123456789abcdef-0123456789"
	secretB = "replica-secret-b-0123456789abcdef-0123456789"
)

// fakeClock is a clock tests move by hand. It is safe for concurrent use.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// replica is a gateway with the given CSRF secret whose tokens follow
// clock (the real clock when nil).
func replica(tb testing.TB, key string, clock *fakeClock) *testEnv {
	tb.Helper()
	e := newTestEnv(tb, Config{CSRFSecret: secret.Inline(key), RateLimit: 1000})
	if clock != nil {
		e.form.tokens.now = clock.Now
	}
	e.lookup.cases[knownRef] = CaseStatus{Reference: knownRef, Status: "处理中", Phone: "+8613800138000"}
	return e
}

// refused fails unless the answer is the CSRF error page of the status
// page.
func refused(tb testing.TB, resp *http.Response, body string) {
	tb.Helper()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "页面已过期") || !strings.Contains(body, msgExpired) {
		tb.Fatalf("status %d, want 403 with the expired-page message; body: %.200s", resp.StatusCode, body)
	}
}

// retyped fails unless the answer is the complaint form again, with status,
// summary above it and every field as the customer typed it in fields,
// ready to be sent again: it returns the rendered form's session, with
// the cookie of prev unless the answer set another.
func retyped(tb testing.TB, resp *http.Response, body string, status int, summary string, fields map[string]string, prev session) session {
	tb.Helper()
	if resp.StatusCode != status || !strings.Contains(body, summary) || !strings.Contains(body, `<form method="post"`) {
		tb.Fatalf("status %d, want %d with the form again and %q; body: %.300s", resp.StatusCode, status, summary, body)
	}
	for name, v := range fields {
		if name == fieldCSRF || name == fieldNonce {
			continue
		}
		if name == fieldConsent {
			if !strings.Contains(body, `name="consent" value="`+html.EscapeString(v)+`" checked`) {
				tb.Errorf("the form came back with the consent box unticked")
			}
			continue
		}
		if !strings.Contains(body, html.EscapeString(v)) {
			tb.Errorf("the form came back without the %s typed: %q", name, v)
		}
	}
	s := session{cookie: prev.cookie}
	for _, c := range resp.Cookies() {
		if c.Name == csrfCookieName {
			s.cookie = c
		}
	}
	m, n := csrfRe.FindStringSubmatch(body), nonceRe.FindStringSubmatch(body)
	if m == nil || n == nil || s.cookie == nil {
		tb.Fatalf("the form came back without a token, a nonce or a cookie")
	}
	s.csrf, s.nonce = m[1], n[1]
	if s.csrf != s.cookie.Value {
		tb.Fatalf("the form's token %q is not its cookie's %q", s.csrf, s.cookie.Value)
	}
	return s
}

func TestCSRFAcrossReplicas(t *testing.T) {
	tests := []struct {
		page, action string
		fields       map[string]string
	}{
		{"/", "/complaints", validFields()},
		{"/status", "/status", map[string]string{"reference": knownRef, "digits": "8000"}},
	}
	for _, tt := range tests {
		t.Run(tt.action, func(t *testing.T) {
			a, b := replica(t, secretA, nil), replica(t, secretA, nil)
			s, _ := a.open(t, tt.page)
			resp, body := b.post(t, tt.action, s, tt.fields, nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("replica B answered %d to a form of replica A: %.200s", resp.StatusCode, body)
			}
			if tt.action == "/complaints" && (len(b.pub.Published()) != 1 || len(a.pub.Published()) != 0) {
				t.Fatalf("published A=%d B=%d, want A=0 B=1", len(a.pub.Published()), len(b.pub.Published()))
			}
		})
	}
}

func TestCSRFOtherSecretRefused(t *testing.T) {
	a, b := replica(t, secretA, nil), replica(t, secretB, nil)
	s, _ := a.open(t, "/")
	resp, body := b.post(t, "/complaints", s, validFields(), nil)
	again := retyped(t, resp, body, http.StatusForbidden, msgRetype, validFields(), s)
	if n := len(b.pub.Published()); n != 0 {
		t.Fatalf("published %d envelopes", n)
	}
	if got := b.counter(t, "tousu_webform_submissions_total", map[string]string{"channel": "webform", "outcome": "csrf"}); got != 1 {
		t.Fatalf("csrf outcome counted %v, want 1", got)
	}
	// The form came back with a token of this replica: sent again, it is
	// taken.
	if again.csrf == s.csrf {
		t.Fatal("the refused token was rendered again")
	}
	if resp, body := b.post(t, "/complaints", again, validFields(), nil); resp.StatusCode != http.StatusOK || len(b.pub.Published()) != 1 {
		t.Fatalf("the form sent again: %d, %d published: %.200s", resp.StatusCode, len(b.pub.Published()), body)
	}
}

// tamper returns token with one decoded byte changed and re-encoded.
func tamper(tb testing.TB, token string, i int) string {
	tb.Helper()
	b, err := tokenEncoding.DecodeString(token)
	if err != nil {
		tb.Fatal(err)
	}
	b[i] ^= 0x01
	return tokenEncoding.EncodeToString(b)
}

func TestCSRFRefused(t *testing.T) {
	clock := newFakeClock()
	a, b := replica(t, secretA, clock), replica(t, secretA, clock)
	s, _ := a.open(t, "/")
	other, _ := b.open(t, "/") // no cookie sent: a second, different token
	if other.csrf == s.csrf {
		t.Fatal("two fresh page views got the same token")
	}
	with := func(cookie, field string) session {
		return session{cookie: &http.Cookie{Name: csrfCookieName, Value: cookie}, csrf: field, nonce: s.nonce}
	}
	tampered := func(i int) session {
		tok := tamper(t, s.csrf, i)
		return with(tok, tok)
	}
	tests := []struct {
		name  string
		s     session
		after time.Duration // how far the clock moves before the post
	}{
		{"cookie and field differ", with(s.csrf, other.csrf), 0},
		{"field of another form", with(other.csrf, s.csrf), 0},
		{"missing cookie", session{csrf: s.csrf, nonce: s.nonce}, 0},
		{"missing field", session{cookie: s.cookie, nonce: s.nonce}, 0},
		{"tampered version", tampered(0), 0},
		{"tampered nonce", tampered(1), 0},
		{"tampered expiry", tampered(tokenPayload - 1), 0},
		{"tampered mac", tampered(tokenBytes - 1), 0},
		{"truncated", with(s.csrf[:len(s.csrf)-1], s.csrf[:len(s.csrf)-1]), 0},
		{"not a token", with("forged", "forged"), 0},
		{"expired", with(s.csrf, s.csrf), 4 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock.Advance(tt.after)
			defer clock.Advance(-tt.after)
			resp, body := b.post(t, "/complaints", tt.s, validFields(), nil)
			retyped(t, resp, body, http.StatusForbidden, msgRetype, validFields(), tt.s)
		})
	}
	if n := len(b.pub.Published()); n != 0 {
		t.Fatalf("published %d envelopes without a valid token", n)
	}
	// The untouched session still goes through: the refusals above were
	// about the token, not the form.
	if resp, body := b.post(t, "/complaints", s, validFields(), nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("valid session refused: %d %.200s", resp.StatusCode, body)
	}
}

// openWith renders page with the browser's cookie s.
func (e *testEnv) openWith(tb testing.TB, path string, s session) session {
	tb.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.AddCookie(&http.Cookie{Name: csrfCookieName, Value: s.cookie.Value})
	resp, body := e.do(tb, req)
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("GET %s: %d", path, resp.StatusCode)
	}
	m := csrfRe.FindStringSubmatch(body)
	if m == nil {
		tb.Fatalf("GET %s: no CSRF token in page", path)
	}
	out := session{cookie: s.cookie, csrf: m[1], nonce: s.nonce}
	if m := nonceRe.FindStringSubmatch(body); m != nil {
		out.nonce = m[1] // bound to the page's token
	}
	for _, c := range resp.Cookies() {
		if c.Name == csrfCookieName {
			out.cookie = c
		}
	}
	if out.csrf != out.cookie.Value {
		tb.Fatalf("page token %q differs from the cookie %q", out.csrf, out.cookie.Value)
	}
	return out
}

// TestCSRFLifetime checks that every rendered form can be sent for
// csrf_expiration, on any replica, and that page views share the browser's
// token during the first half of its lifetime.
func TestCSRFLifetime(t *testing.T) {
	clock := newFakeClock()
	a, b := replica(t, secretA, clock), replica(t, secretA, clock)
	exp := a.cfg.CSRFExpiration

	first, _ := a.open(t, "/")
	clock.Advance(exp - time.Minute)
	second := b.openWith(t, "/status", first)
	if second.csrf != first.csrf {
		t.Fatal("a page view while the token had more than csrf_expiration left did not reuse it")
	}

	clock.Advance(2 * time.Minute) // the token has less than csrf_expiration left
	third := b.openWith(t, "/", second)
	if third.csrf == second.csrf {
		t.Fatal("a page view reused a token with less than csrf_expiration left")
	}
	if resp, body := a.post(t, "/complaints", third, validFields(), nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("renewed token refused: %d %.200s", resp.StatusCode, body)
	}

	// A browser that made no page view since the second one sends that
	// form (rendered exp-1m after the token was issued) exp later.
	clock.Advance(exp - 2*time.Minute)
	second.nonce = a.form.tokens.nonce(second.csrf)
	if resp, body := a.post(t, "/complaints", second, validFields(), nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("form sent csrf_expiration after it was rendered: %d %.200s", resp.StatusCode, body)
	}
	clock.Advance(time.Minute) // twice csrf_expiration after issue
	resp, body := b.post(t, "/complaints", second, validFields(), nil)
	retyped(t, resp, body, http.StatusForbidden, msgRetype, validFields(), second)
}

func TestCSRFTokens(t *testing.T) {
	clock := newFakeClock()
	tok := newCSRFTokens([]byte(secretA), time.Hour)
	tok.now = clock.Now
	token := tok.mint()
	if len(token) != tokenEncoding.EncodedLen(tokenBytes) || strings.ContainsAny(token, "+/=;, \"") {
		t.Fatalf("token %q is not a cookie-safe token of the expected length", token)
	}
	if tok.mint() == token {
		t.Fatal("two tokens are equal")
	}
	other := newCSRFTokens([]byte(secretB), time.Hour)
	other.now = clock.Now

	tests := []struct {
		name            string
		t               *csrfTokens
		token           string
		after           time.Duration
		valid, reusable bool
	}{
		{"fresh", tok, token, 0, true, true},
		{"more than an hour left", tok, token, time.Hour - time.Second, true, true},
		{"an hour left", tok, token, time.Hour, true, false},
		{"last second", tok, token, 2*time.Hour - time.Second, true, false},
		{"at expiry", tok, token, 2 * time.Hour, false, false},
		{"other key", other, token, 0, false, false},
		{"empty", tok, "", 0, false, false},
		{"padded", tok, token + "=", 0, false, false},
		{"tampered", tok, tamper(t, token, 5), 0, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock.Advance(tt.after)
			defer clock.Advance(-tt.after)
			if got := tt.t.valid(tt.token); got != tt.valid {
				t.Errorf("valid = %v, want %v", got, tt.valid)
			}
			if got := tt.t.reusable(tt.token); got != tt.reusable {
				t.Errorf("reusable = %v, want %v", got, tt.reusable)
			}
		})
	}
}

func TestCSRFSecretLogging(t *testing.T) {
	// A Form needs a key: there is no key of the process to fall back on.
	for _, cfg := range []Config{{}, {CSRFSecret: secret.Secret{File: "/run/secrets/csrf"}}} {
		cfg.Provision()
		if _, err := New(cfg, testShared(), nil, nil, nil, nil); err == nil || !strings.Contains(err.Error(), "webform: csrf_secret: required") {
			t.Errorf("New without a key at hand: err %v", err)
		}
	}

	// A configured secret is used as is, and never logged, also when a
	// token is refused.
	core, logs := observer.New(zapcore.DebugLevel)
	form, err := New(provisioned(Config{CSRFSecret: secret.Inline(secretA)}), testShared(), nil, nil, zap.New(core), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(form.tokens.key, []byte(secretA)) {
		t.Fatal("the configured secret is not the key")
	}
	e := replica(t, secretA, nil)
	e.form.log = zap.New(core)
	resp, body := e.post(t, "/complaints", session{cookie: &http.Cookie{Name: csrfCookieName, Value: secretA}, csrf: secretA}, validFields(), nil)
	retyped(t, resp, body, http.StatusForbidden, msgRetype, validFields(), session{})
	for _, entry := range logs.AllUntimed() {
		if text := fmt.Sprint(entry.Message, entry.ContextMap()); strings.Contains(text, secretA) {
			t.Fatalf("secret logged: %s", text)
		}
	}
	if logs.Len() == 0 {
		t.Fatal("the refusal was not logged")
	}
}

// TestCSRFBehindLoadBalancer runs two replicas on real listeners behind a
// round-robin proxy and a browser-like client with a cookie jar: the page
// comes from one replica, the submission goes to the other.
func TestCSRFBehindLoadBalancer(t *testing.T) {
	var backends []*url.URL
	var replicas []*testEnv
	for range 2 {
		e := replica(t, secretA, nil)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go e.app.Listener(ln)
		t.Cleanup(func() { e.app.Shutdown() })
		backends = append(backends, &url.URL{Scheme: "http", Host: ln.Addr().String()})
		replicas = append(replicas, e)
	}
	var next atomic.Uint32
	lb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		target := backends[int(next.Add(1)-1)%len(backends)]
		httputil.NewSingleHostReverseProxy(target).ServeHTTP(w, r)
	}))
	t.Cleanup(lb.Close)

	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Jar: jar}
	resp, err := client.Get(lb.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	token, nonce := csrfRe.FindSubmatch(page), nonceRe.FindSubmatch(page)
	if resp.StatusCode != http.StatusOK || token == nil || nonce == nil {
		t.Fatalf("GET /: %d, token or nonce missing", resp.StatusCode)
	}

	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	w.WriteField("_csrf", string(token[1]))
	w.WriteField("nonce", string(nonce[1]))
	w.WriteField("website", "")
	for k, v := range validFields() {
		w.WriteField(k, v)
	}
	w.Close()
	resp, err = client.Post(lb.URL+"/complaints", w.FormDataContentType(), &buf)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !refRe.Match(body) {
		t.Fatalf("POST /complaints: %d %.200s", resp.StatusCode, body)
	}
	if a, b := len(replicas[0].pub.Published()), len(replicas[1].pub.Published()); a != 0 || b != 1 {
		t.Fatalf("published on the replicas: %d, %d; want the second one only", a, b)
	}
}

// TestCSRFCrossSiteRefused: a post a browser says comes from another
// site is refused, token or not, on the form and on the status page; a
// post from the form's own origin, or with no such headers (old browsers,
// curl), goes through. httptest requests are for host example.com.
func TestCSRFCrossSiteRefused(t *testing.T) {
	tests := []struct {
		name    string
		headers map[string]string
		ok      bool
	}{
		{"no headers", nil, true},
		{"same origin", map[string]string{"Origin": "http://example.com", "Sec-Fetch-Site": "same-origin"}, true},
		{"same origin, https", map[string]string{"Origin": "https://example.com"}, true},
		{"typed in", map[string]string{"Sec-Fetch-Site": "none"}, true},
		{"referer of this site", map[string]string{"Referer": "http://example.com/"}, true},
		{"other origin", map[string]string{"Origin": "https://evil.example"}, false},
		{"other port", map[string]string{"Origin": "http://example.com:8081"}, false},
		{"null origin", map[string]string{"Origin": "null"}, false},
		{"cross-site fetch", map[string]string{"Sec-Fetch-Site": "cross-site"}, false},
		{"same-site fetch", map[string]string{"Sec-Fetch-Site": "same-site"}, false},
		{"cross-site despite origin", map[string]string{"Origin": "http://example.com", "Sec-Fetch-Site": "cross-site"}, false},
		{"referer of another site", map[string]string{"Referer": "https://evil.example/page"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, page := range []struct{ path, action string }{{"/", "/complaints"}, {"/status", "/status"}} {
				e := replica(t, secretA, nil)
				s, _ := e.open(t, page.path)
				fields := validFields()
				if page.action == "/status" {
					fields = map[string]string{"reference": knownRef, "digits": "8000"}
				}
				resp, body := e.postWith(t, page.action, s, fields, &upload{"a.png", "image/png", pngFile}, tt.headers)
				if !tt.ok && page.action == "/status" {
					refused(t, resp, body)
				}
				if !tt.ok {
					if page.action == "/complaints" {
						// Back to the customer, who may send it: never
						// published by the other site's post.
						retyped(t, resp, body, http.StatusForbidden, msgOtherSite, fields, s)
					}
					if n := len(e.pub.Published()); n != 0 {
						t.Fatalf("published %d envelopes", n)
					}
					if entries, _ := os.ReadDir(e.storeDir); len(entries) != 0 {
						t.Fatalf("the attachment of a refused post was stored: %v", entries)
					}
					continue
				}
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("POST %s: %d %.200s", page.action, resp.StatusCode, body)
				}
			}
		})
	}
}

// TestCSRFCookieSecure: the CSRF cookie is Secure when the page is served
// over HTTPS (here: behind a proxy that says so) or cookie_secure is set,
// and not on plain HTTP, where a browser would drop it.
func TestCSRFCookieSecure(t *testing.T) {
	tests := []struct {
		name   string
		cfg    Config
		proto  string
		secure bool
	}{
		{"http", Config{}, "", false},
		{"https behind a proxy", Config{}, "https", true},
		{"configured", Config{CookieSecure: true}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t, tt.cfg)
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			if tt.proto != "" {
				req.Header.Set("X-Forwarded-Proto", tt.proto)
			}
			resp, _ := e.do(t, req)
			var cookie *http.Cookie
			for _, c := range resp.Cookies() {
				if c.Name == csrfCookieName {
					cookie = c
				}
			}
			if cookie == nil || cookie.Secure != tt.secure || !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode {
				t.Fatalf("cookie %+v, want Secure %v, HttpOnly, SameSite=Lax", cookie, tt.secure)
			}
		})
	}
}

// TestFormNonceBoundToToken: a submission's id derives from the nonce of
// the rendered form, which is bound to its CSRF token, so one token cannot
// be turned into many complaints by making up nonces, nor by taking the
// nonce of a form rendered with another token.
func TestFormNonceBoundToToken(t *testing.T) {
	e := replica(t, secretA, nil)
	s, _ := e.open(t, "/")
	other, _ := e.open(t, "/") // another browser: another token
	tests := []struct {
		name  string
		nonce string
		ok    bool
	}{
		{"the form's nonce", s.nonce, true},
		{"another form of the same token", e.form.tokens.nonce(s.csrf), true},
		{"made up", strings.Repeat("ab", 32), false},
		{"old style", strings.Repeat("ab", 16), false},
		{"another token's form", other.nonce, false},
		{"tampered", s.nonce[:len(s.nonce)-1] + "0", s.nonce[len(s.nonce)-1] == '0'},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.post(t, "/complaints", s, map[string]string{"nonce": tt.nonce, "description": "信号差", "phone": "13800138000", "consent": DefaultPrivacyVersion}, nil)
			if (resp.StatusCode == http.StatusOK) != tt.ok {
				t.Fatalf("status %d, want ok %v: %.200s", resp.StatusCode, tt.ok, body)
			}
			if !tt.ok {
				retyped(t, resp, body, http.StatusBadRequest, msgRetype, map[string]string{"description": "信号差", "phone": "13800138000"}, s)
			}
		})
	}
	// Posting the same form again is the same complaint.
	_, first := e.post(t, "/complaints", s, validFields(), nil)
	_, again := e.post(t, "/complaints", s, validFields(), nil)
	if r := refRe.FindString(first); r == "" || r != refRe.FindString(again) {
		t.Fatalf("references %q and %q, want one", r, refRe.FindString(again))
	}
}

func FuzzCSRFToken(f *testing.F) {
	clock := newFakeClock()
	tok := newCSRFTokens([]byte(secretA), time.Hour)
	tok.now = clock.Now
	// The seeds must be the same in every fuzz worker process, so they are
	// signed from fixed nonces rather than minted.
	minted := map[string]bool{}
	for i := range 3 {
		payload := make([]byte, tokenPayload)
		payload[0] = tokenVersion
		payload[1] = byte(i)
		binary.BigEndian.PutUint64(payload[1+tokenNonce:], uint64(clock.Now().Add(time.Hour).Unix()))
		token := tokenEncoding.EncodeToString(tok.sign(payload))
		minted[token] = true
		f.Add(token)
		f.Add(token[:len(token)-1])
		f.Add(token + "A")
		f.Add(strings.ToUpper(token))
	}
	for _, s := range []string{"", "forged", "=", strings.Repeat("A", 76), strings.Repeat("_", 76), "\x00\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		// Nobody without the key can make a valid token, so the only
		// accepted strings are the minted ones, byte for byte.
		if tok.valid(s) != minted[s] {
			t.Fatalf("valid(%q) = %v", s, !minted[s])
		}
		if tok.reusable(s) && !minted[s] {
			t.Fatalf("reusable(%q)", s)
		}
	})
}

// TestSubmitNeverLosesText: whatever was wrong with a post, the customer
// gets the form back with everything they typed (but the file, which the
// page asks for again), and sending that form again is taken.
func TestSubmitNeverLosesText(t *testing.T) {
	typed := map[string]string{
		"name":        "王 小明",
		"phone":       "139-1234-5678",
		"email":       "wxm@example.com",
		"subject":     "宽带断网<三天>",
		"description": "12月3日起家里宽带一直断网，报修两次（工单号 BX20261203-77）师傅都没上门，\r\n要求退还本月费用 & 赔偿。",
		"consent":     DefaultPrivacyVersion,
	}
	clock := newFakeClock()
	tests := []struct {
		name    string
		headers map[string]string
		file    bool
		prepare func(t *testing.T, page session) (*testEnv, session) // the server posted to, the post's session
		status  int
		summary string
	}{
		{"restarted on the same secret, token expired meanwhile", nil, false, func(t *testing.T, page session) (*testEnv, session) {
			clock.Advance(3 * time.Hour)
			return replica(t, secretA, clock), page
		}, http.StatusForbidden, msgRetype},
		{"replica with another secret", nil, false, func(t *testing.T, page session) (*testEnv, session) {
			return replica(t, secretB, clock), page
		}, http.StatusForbidden, msgRetype},
		{"cookie gone", nil, false, func(t *testing.T, page session) (*testEnv, session) {
			page.cookie = nil
			return replica(t, secretA, clock), page
		}, http.StatusForbidden, msgRetype},
		{"expired, with a file", nil, true, func(t *testing.T, page session) (*testEnv, session) {
			clock.Advance(3 * time.Hour)
			return replica(t, secretA, clock), page
		}, http.StatusForbidden, msgRetype + msgFileAgain},
		{"nonce of another form", nil, false, func(t *testing.T, page session) (*testEnv, session) {
			page.nonce = strings.Repeat("ab", 32)
			return replica(t, secretA, clock), page
		}, http.StatusBadRequest, msgRetype},
		{"from another site's page", map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}, false, func(t *testing.T, page session) (*testEnv, session) {
			return replica(t, secretA, clock), page
		}, http.StatusForbidden, msgOtherSite},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first := replica(t, secretA, clock)
			page, _ := first.open(t, "/")
			e, s := tt.prepare(t, page)
			var file *upload
			if tt.file {
				file = &upload{"断网截图.png", "image/png", pngFile}
			}
			resp, body := e.postWith(t, "/complaints", s, typed, file, tt.headers)
			again := retyped(t, resp, body, tt.status, tt.summary, typed, s)
			if n := len(e.pub.Published()); n != 0 {
				t.Fatalf("published %d envelopes from a refused post", n)
			}
			resp, body = e.post(t, "/complaints", again, typed, nil)
			if resp.StatusCode != http.StatusOK || len(e.pub.Published()) != 1 {
				t.Fatalf("the form sent again: %d, %d published: %.300s", resp.StatusCode, len(e.pub.Published()), body)
			}
			if got := e.pub.Published()[0].Description; !strings.Contains(got, "BX20261203-77") {
				t.Fatalf("published description %q", got)
			}
		})
	}
}

// TestSubmitRateLimitedKeepsText: a post over the rate limit is not
// taken, but its text comes back, with the same form identity, so that
// sending it later makes the complaint the first post would have made.
func TestSubmitRateLimitedKeepsText(t *testing.T) {
	e := newTestEnv(t, Config{RateLimit: 1, RateWindow: time.Hour})
	s, _ := e.open(t, "/")
	typed := validFields()
	typed["description"] = "营业厅工作人员态度恶劣，11月30日下午办理销户被推诿三次。"
	if resp, _ := e.post(t, "/complaints", s, map[string]string{"description": "x"}, nil); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("first post: %d", resp.StatusCode)
	}
	resp, body := e.post(t, "/complaints", s, typed, &upload{"a.png", "image/png", pngFile})
	again := retyped(t, resp, body, http.StatusTooManyRequests, msgWait+msgFileAgain, typed, s)
	if again.nonce != s.nonce || again.csrf != s.csrf {
		t.Error("a good token and nonce were replaced")
	}
	if resp.Header.Get("Retry-After") != "3600" {
		t.Errorf("Retry-After %q", resp.Header.Get("Retry-After"))
	}
	if n := len(e.pub.Published()); n != 0 {
		t.Fatalf("published %d envelopes over the limit", n)
	}
	if entries, _ := os.ReadDir(e.storeDir); len(entries) != 0 {
		t.Fatalf("the attachment of a limited post was stored: %v", entries)
	}
}
