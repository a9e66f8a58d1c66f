package httpapi

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/tousu/tousu/ingest/bodylimit"
	"github.com/tousu/tousu/ingest/ingesttest"
)

// TestOpsEndpointsTellOnlyAuthorizedCallers: anyone learns whether the
// process is ready, only admin and supervisor tokens see the checks, the
// details (mailbox errors, source names) and the metrics.
func TestOpsEndpointsTellOnlyAuthorizedCallers(t *testing.T) {
	s := newTestServer(t)
	s.AddCheck("index", func(context.Context) error { return errors.New("dial es-internal.corp:9200") })
	s.AddDetail("mailboxes", func() any { return map[string]string{"support": "LOGIN failed for support@corp"} })
	tests := []struct {
		name, path, token string
		code              int
		secret            bool // the answer names the index host or the mailbox
	}{
		{"anonymous readyz", "/readyz", "", 503, false},
		{"wrong token readyz", "/readyz", "nope-nope-nope-nope", 503, false},
		{"agent readyz", "/readyz", "agent-token-0123456789", 503, false},
		{"admin readyz", "/readyz", "admin-token-0123456789", 503, true},
		{"anonymous metrics", "/metrics", "", 401, false},
		{"agent metrics", "/metrics", "agent-token-0123456789", 403, false},
		{"admin metrics", "/metrics", "admin-token-0123456789", 200, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := get(t, s, tt.path, tt.token)
			if code != tt.code {
				t.Errorf("GET %s = %d %s, want %d", tt.path, code, body, tt.code)
			}
			secret := strings.Contains(body, "es-internal") || strings.Contains(body, "support@corp")
			if secret != tt.secret {
				t.Errorf("GET %s tells details: %v, want %v: %s", tt.path, secret, tt.secret, body)
			}
			if tt.path == "/readyz" && !strings.Contains(body, `"ready":false`) {
				t.Errorf("GET /readyz = %s, want ready false", body)
			}
			if tt.path == "/metrics" && (code == 200) != strings.Contains(body, "tousu_test_total") {
				t.Errorf("GET /metrics = %d %s", code, body)
			}
		})
	}
}

// TestSecurityHeaders: every answer says nosniff and a same-origin
// referrer policy, every JSON answer no-store, errors included; an HTML
// page without a policy of its own gets PageCSP (no inline script, no
// framing), one with its own keeps it.
func TestSecurityHeaders(t *testing.T) {
	s := newTestServer(t)
	s.App().Get("/page", func(c *fiber.Ctx) error { return c.Type("html").SendString("<p>x</p>") })
	const formCSP = "default-src 'none'; script-src 'sha256-x'"
	s.App().Get("/form", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentSecurityPolicy, formCSP)
		return c.Type("html").SendString("<form></form>")
	})
	s.App().Get("/panic", func(c *fiber.Ctx) error { panic("boom") })
	tests := []struct {
		path, token string
		code        int
		noStore     bool
		csp         string
	}{
		{"/healthz", "", 200, true, ""},
		{"/api/v1/cases", "", 401, true, ""},
		{"/api/v1/cases", "agent-token-0123456789", 200, true, ""},
		{"/no/such/route", "", 404, true, ""},
		{"/panic", "", 500, true, ""},
		{"/page", "", 200, false, PageCSP},
		{"/form", "", 200, false, formCSP},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, tt.path, nil)
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			resp, err := s.App().Test(req, -1)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.code {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.code)
			}
			if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options = %q", got)
			}
			if got := resp.Header.Get("Cache-Control"); (got == "no-store") != tt.noStore {
				t.Errorf("Cache-Control = %q, want no-store: %v", got, tt.noStore)
			}
			if got := resp.Header.Get("Referrer-Policy"); got != "same-origin" {
				t.Errorf("Referrer-Policy = %q", got)
			}
			if got := resp.Header.Get("Content-Security-Policy"); got != tt.csp {
				t.Errorf("Content-Security-Policy = %q, want %q", got, tt.csp)
			}
		})
	}
}

// serve runs s on a loopback listener that counts what the server read.
func serve(tb testing.TB, s *Server) *ingesttest.CountingListener {
	tb.Helper()
	ln := ingesttest.Listen(tb)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	tb.Cleanup(func() {
		cancel()
		<-done
	})
	return ln
}

// TestBodyLimitStopsReading: a body over the limit is answered 413 after
// the server read no more than the limit (plus its read buffer and, for a
// body that might end soon, bodylimit.Linger bytes it drops), whether
// Content-Length announces it or the body is chunked; a route that owns
// its body reads it with its own limit; bodies within the limit arrive
// whole. A client still sending when the server closes may see the
// connection reset instead of the 413: then only what the server read is
// checked.
func TestBodyLimitStopsReading(t *testing.T) {
	const limit = 64 << 10
	s := New(withBodyLimit(limit), zap.NewNop(), prometheus.NewRegistry(), NewAuthenticator(tokens))
	echo := func(c *fiber.Ctx) error { return c.Send(c.Body()) }
	s.App().Post("/echo", echo)
	s.OwnBody("/own/")
	s.App().Post("/own/big", func(c *fiber.Ctx) error {
		body, err := bodylimit.Read(c, 4*limit)
		if err != nil {
			return c.Status(fiber.StatusRequestEntityTooLarge).SendString("own limit")
		}
		return c.Send(body)
	})
	ln := serve(t, s)

	tests := []struct {
		name, path string
		size       int64 // -1: endless and chunked
		length     bool  // send Content-Length
		code       int
		maxRead    int64
	}{
		{"small", "/echo", 1000, true, 200, 1 << 20},
		{"small chunked", "/echo", 1000, false, 200, 1 << 20},
		{"announced too large", "/echo", 512 << 20, true, 413, limit + 64<<10},
		{"chunked too large", "/echo", -1, false, 413, limit + bodylimit.Linger + 64<<10},
		{"a little too large", "/echo", limit + 1000, true, 413, limit + 64<<10},
		{"own limit allows more", "/own/big", 2 * limit, true, 200, 4 * limit},
		{"own limit chunked", "/own/big", -1, false, 413, 4*limit + bodylimit.Linger + 64<<10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body io.Reader = ingesttest.Zeros{}
			if tt.size >= 0 {
				body = io.LimitReader(ingesttest.Zeros{}, tt.size)
			}
			req, err := http.NewRequest(http.MethodPost, ln.URL()+tt.path, body)
			if err != nil {
				t.Fatal(err)
			}
			req.ContentLength = -1
			if tt.length {
				req.ContentLength = tt.size
			}
			ln.Reset()
			client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
			resp, err := client.Do(req)
			if n := ln.Read(); n > tt.maxRead {
				t.Errorf("the server read %d bytes, want at most %d", n, tt.maxRead)
			}
			if err != nil {
				if tt.code == 200 {
					t.Fatalf("POST: %v", err)
				}
				return // reset while sending the rest
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.code {
				t.Errorf("status %d %.100s, want %d", resp.StatusCode, got, tt.code)
			}
			if tt.code == 200 && int64(len(got)) != tt.size {
				t.Errorf("echoed %d bytes, want %d", len(got), tt.size)
			}
		})
	}
}

// TestBodyLimitAnswersBeforeTheBody: a request whose Content-Length is over
// the limit is answered 413, in JSON, once the server has its first
// limit+1 bytes (fasthttp reads up to that much, at most 8 KiB, before the
// handler runs), long before the announced gigabyte was sent.
func TestBodyLimitAnswersBeforeTheBody(t *testing.T) {
	s := New(withBodyLimit(1024), zap.NewNop(), prometheus.NewRegistry(), NewAuthenticator(tokens))
	s.App().Post("/echo", func(c *fiber.Ctx) error { return c.Send(c.Body()) })
	ln := serve(t, s)
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1073741824\r\n\r\n")
	conn.Write(make([]byte, 1025))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 413 || !strings.Contains(string(b), `"error":"请求内容过大`) || !resp.Close {
		t.Errorf("answer %d close=%v %s, want 413 in JSON closing the connection", resp.StatusCode, resp.Close, b)
	}
}

// withBodyLimit returns the provisioned configuration with BodyLimit
// limit.
func withBodyLimit(limit int) Config {
	cfg := Config{BodyLimit: limit}
	cfg.Provision()
	return cfg
}

// TestTrustedProxies: behind a trusted proxy a request counts as coming
// from the first address of X-Forwarded-For; from any other address, and
// without trusted proxies, the header is ignored (a client cannot choose
// its address for the per-address limits).
func TestTrustedProxies(t *testing.T) {
	tests := []struct {
		name    string
		trusted []string
		xff     string
		want    string
	}{
		{"no proxies: the header is ignored", nil, "203.0.113.7", "127.0.0.1"},
		{"the proxy's header counts", []string{"127.0.0.1"}, "203.0.113.7", "203.0.113.7"},
		{"a chain: the first address", []string{"127.0.0.0/8"}, "203.0.113.7, 10.0.0.2", "203.0.113.7"},
		{"garbage in the header: the proxy", []string{"127.0.0.1"}, "不是地址", "127.0.0.1"},
		{"another proxy's request: the header is ignored", []string{"10.0.0.0/8"}, "203.0.113.7", "127.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{TrustedProxies: tt.trusted}
			cfg.Provision()
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			s := New(cfg, zap.NewNop(), prometheus.NewRegistry(), NewAuthenticator(tokens))
			s.App().Get("/ip", func(c *fiber.Ctx) error { return c.SendString(c.IP()) })
			ln := serve(t, s)
			req, _ := http.NewRequest(http.MethodGet, "http://"+ln.Addr().String()+"/ip", nil)
			req.Header.Set("X-Forwarded-For", tt.xff)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			got, _ := io.ReadAll(resp.Body)
			if string(got) != tt.want {
				t.Fatalf("c.IP() = %q, want %q", got, tt.want)
			}
		})
	}
	bad := Config{TrustedProxies: []string{"10.0.0.0/33", "lb.internal"}}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "trusted_proxies[0]") || !strings.Contains(err.Error(), "trusted_proxies[1]") {
		t.Fatalf("Validate = %v", err)
	}
}

// TestErrorsByPath: errors under /api/ and /webhooks/ are JSON in the
// console API's shape; elsewhere they are the page of SetErrorPage, or a
// plain page in Chinese without one.
func TestErrorsByPath(t *testing.T) {
	tests := []struct {
		name, method, path string
		page               bool // an error page is set
		status             int
		want               string // in the answer
		json               bool
	}{
		{"unknown public path", http.MethodGet, "/tousu/2026/投诉", true, 404, "page 404", false},
		{"receipt's URL opened", http.MethodGet, "/boom-post", true, 405, "page 405", false},
		{"handler failed", http.MethodGet, "/boom", true, 500, "page 500", false},
		{"no page set", http.MethodGet, "/nosuch", false, 404, "请求的地址不存在", false},
		{"unknown API path", http.MethodGet, "/api/v1/nosuch", true, 404, `"code":"not_found","message":"请求的地址不存在"`, true},
		{"API handler failed", http.MethodGet, "/api/v1/boom", true, 500, `"code":"internal","message":"服务器内部错误，请稍后再试"`, true},
		{"webhook method", http.MethodGet, "/webhooks/crm", true, 405, `"code":"method_not_allowed","message":"该地址不支持此请求方法"`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestServer(t)
			if tt.page {
				s.SetErrorPage(func(c *fiber.Ctx, status int) error {
					c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
					return c.Status(status).SendString("page " + strconv.Itoa(status))
				})
			}
			failing := func(*fiber.Ctx) error { return errors.New("index: connection refused") }
			s.App().Get("/boom", failing)
			s.App().Get("/api/v1/boom", failing)
			s.App().Post("/boom-post", failing)
			s.App().Post("/webhooks/:source", failing)
			resp, err := s.App().Test(httptest.NewRequest(tt.method, tt.path, nil), -1)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			body := string(b)
			if resp.StatusCode != tt.status || !strings.Contains(body, tt.want) {
				t.Fatalf("%s %s = %d %s, want %d with %q", tt.method, tt.path, resp.StatusCode, body, tt.status, tt.want)
			}
			json := strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json")
			if json != tt.json || strings.Contains(body, "connection refused") {
				t.Fatalf("answer %s %q, want JSON %v and no internal error", resp.Header.Get("Content-Type"), body, tt.json)
			}
		})
	}
}

// TestServeClosesConnectionsWhenItStops: a connection a browser opened and
// has sent no request on yet is closed when Serve returns, so that a
// request sent on it later never reaches the stopped server.
func TestServeClosesConnectionsWhenItStops(t *testing.T) {
	defer func(d time.Duration) { shutdownGrace = d }(shutdownGrace)
	shutdownGrace = 50 * time.Millisecond
	s := newTestServer(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A request on another connection proves the first one was accepted
	// (the server accepts in order).
	if resp, err := http.Get("http://" + ln.Addr().String() + "/healthz"); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	cancel()
	<-done
	conn.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"))
	if answer, _ := io.ReadAll(bufio.NewReader(conn)); len(answer) != 0 {
		t.Fatalf("the stopped server answered %q", answer)
	}
}
