// Package httpapi is tousu's HTTP server: one fiber app per process that
// carries what its targets mount (web form, webhooks, the agent console API)
// beside the health, readiness and metrics endpoints every process serves.
//
// Request bodies are streamed, never buffered before a handler runs: a
// route registered with OwnBody reads its body itself within its own
// limit (package ingest/bodylimit); every other request's body is read
// up to Config.BodyLimit before its handler runs, and a longer one is
// answered 413. Config.MaxConnections caps the connections served at once.
//
// Every answer carries X-Content-Type-Options: nosniff, every JSON answer
// Cache-Control: no-store. /healthz and /readyz are public but /readyz
// tells anonymous callers only whether the process is ready; its checks
// and details, and /metrics, need an admin, supervisor or ops account
// (signed in, or by bearer token) or a monitoring system's token
// (Role.WatchesOps).
package httpapi

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/tousu/tousu/ingest/bodylimit"
)

// Config configures the HTTP server.
type Config struct {
	// Listen is the address to serve on (default DefaultListen,
	// 127.0.0.1:8080).
	Listen string `yaml:"listen"`
	// BodyLimit bounds, in bytes, the body of every request whose route
	// does not read its body itself (default 256 KiB). The web form, the
	// complaint API and the webhooks have limits of their own
	// (webform.max_attachment_bytes, webform.max_json_bytes,
	// webhook.max_body_bytes).
	BodyLimit int `yaml:"body_limit"`
	// ReadTimeout bounds reading a request (default 30s).
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// MaxConnections caps the connections served at once (default 512);
	// more are refused. With BodyLimit it bounds the memory request
	// bodies take.
	MaxConnections int `yaml:"max_connections"`
	// TrustedProxies are the addresses or CIDR ranges of the reverse
	// proxies (load balancers) in front of tousu. A request from one of
	// them is taken to come from the first address of its
	// X-Forwarded-For header, so that the per-address limits (the sign-in
	// lock, the web form's and status page's rate limits) count people,
	// not the proxy. Empty (the default): the connection's address counts,
	// and X-Forwarded-For is ignored. The proxy must set the header rather
	// than pass on the client's (nginx: proxy_set_header X-Forwarded-For
	// $remote_addr).
	TrustedProxies []string `yaml:"trusted_proxies"`
}

// Defaults of Config.
const (
	DefaultListen         = "127.0.0.1:8080"
	DefaultBodyLimit      = 256 << 10
	DefaultReadTimeout    = 30 * time.Second
	DefaultMaxConnections = 512
)

// Provision fills every zero field with its default. It opens nothing.
func (c *Config) Provision() {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.BodyLimit == 0 {
		c.BodyLimit = DefaultBodyLimit
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	if c.MaxConnections == 0 {
		c.MaxConnections = DefaultMaxConnections
	}
}

// Validate checks the configuration and reports every problem by its key.
// It changes nothing.
func (c Config) Validate() error {
	var errs []error
	if c.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Listen); err != nil {
			errs = append(errs, fmt.Errorf("listen: %w", err))
		}
	}
	if c.BodyLimit < 0 {
		errs = append(errs, errors.New("body_limit: must not be negative"))
	}
	if c.ReadTimeout < 0 {
		errs = append(errs, errors.New("read_timeout: must not be negative"))
	}
	if c.MaxConnections < 0 {
		errs = append(errs, errors.New("max_connections: must not be negative"))
	}
	for i, p := range c.TrustedProxies {
		if net.ParseIP(p) == nil {
			if _, _, err := net.ParseCIDR(p); err != nil {
				errs = append(errs, fmt.Errorf("trusted_proxies[%d]: %q is neither an IP address nor a CIDR range", i, p))
			}
		}
	}
	return errors.Join(errs...)
}

// proxyHeader is the header c.IP() reads: X-Forwarded-For behind trusted
// proxies, none (the connection's address) otherwise.
func proxyHeader(trusted []string) string {
	if len(trusted) == 0 {
		return ""
	}
	return fiber.HeaderXForwardedFor
}

// Check is one readiness condition: nil when the dependency answers.
type Check func(ctx context.Context) error

// Server is the HTTP server of one process.
type Server struct {
	cfg    Config
	app    *fiber.App
	auth   *Authenticator
	logger *zap.Logger

	mu       sync.Mutex
	checks   map[string]Check
	details  map[string]func() any
	ownBody  map[string]bool // exact paths
	ownTrees []string        // path prefixes ending in "/"
	// errorPage renders errors outside jsonPrefixes (SetErrorPage).
	errorPage ErrorPage
}

// New builds the server with /healthz, /readyz and /metrics; auth decides
// who sees the readiness details and the metrics. cfg must be provisioned
// (Config.Provision). Targets mount their routes on App before Serve.
func New(cfg Config, logger *zap.Logger, gatherer prometheus.Gatherer, auth *Authenticator) *Server {
	s := &Server{cfg: cfg, auth: auth, logger: logger, checks: map[string]Check{}, details: map[string]func() any{}, ownBody: map[string]bool{}}
	s.app = fiber.New(fiber.Config{
		AppName:                      "tousu",
		BodyLimit:                    cfg.BodyLimit,
		StreamRequestBody:            true,
		DisablePreParseMultipartForm: true,
		Concurrency:                  cfg.MaxConnections,
		ReadTimeout:                  cfg.ReadTimeout,
		DisableStartupMessage:        true,
		ErrorHandler:                 s.handleError,
		// Behind trusted proxies, c.IP() is the first valid address of
		// X-Forwarded-For for their requests, the connection's for others.
		EnableTrustedProxyCheck: len(cfg.TrustedProxies) > 0,
		TrustedProxies:          cfg.TrustedProxies,
		ProxyHeader:             proxyHeader(cfg.TrustedProxies),
		EnableIPValidation:      true,
	})
	s.app.Use(secureHeaders, recover.New(), s.limitBody)
	s.app.Get("/healthz", func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"status": "ok"}) })
	s.app.Get("/readyz", s.ready)
	s.app.Get("/metrics", auth.Require(Role.WatchesOps), adaptor.HTTPHandler(promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{})))
	return s
}

// PageCSP is the Content-Security-Policy of the HTML answers that set
// none of their own (the console's pages): scripts, styles and images
// from the binary's own files only, no inline script or style, requests
// and forms to this origin only, and no page may frame them.
const PageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// secureHeaders sets nosniff and a same-origin referrer policy on every
// answer, no-store on JSON ones and PageCSP on HTML ones without a
// policy of their own.
func secureHeaders(c *fiber.Ctx) error {
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderReferrerPolicy, "same-origin")
	err := c.Next()
	h := &c.Response().Header
	switch ct := string(h.ContentType()); {
	case strings.HasPrefix(ct, fiber.MIMEApplicationJSON):
		c.Set(fiber.HeaderCacheControl, "no-store")
	case strings.HasPrefix(ct, fiber.MIMETextHTML) && len(h.Peek(fiber.HeaderContentSecurityPolicy)) == 0:
		c.Set(fiber.HeaderContentSecurityPolicy, PageCSP)
	}
	return err
}

// OwnBody declares that the handlers of the given paths read their
// request bodies themselves, within limits of their own, through package
// bodylimit. A path ending in "/" stands for every path under it.
func (s *Server) OwnBody(paths ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range paths {
		if strings.HasSuffix(p, "/") {
			s.ownTrees = append(s.ownTrees, p)
		} else {
			s.ownBody[p] = true
		}
	}
}

func (s *Server) ownsBody(path string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ownBody[path] {
		return true
	}
	for _, prefix := range s.ownTrees {
		if strings.HasPrefix(path, prefix) {
			return true
		}
	}
	return false
}

// limitBody reads the body of a request whose route does not read its
// own, within Config.BodyLimit, and answers 413 for a longer one. After
// a route that reads its own body, it closes the connection unless the
// handler read the body to its end.
func (s *Server) limitBody(c *fiber.Ctx) error {
	if s.ownsBody(c.Path()) {
		err := c.Next()
		if c.Request().Header.ContentLength() != 0 && !bodylimit.Consumed(c) {
			c.Context().SetConnectionClose()
		}
		return err
	}
	body, err := bodylimit.Read(c, int64(s.cfg.BodyLimit))
	if errors.Is(err, bodylimit.ErrTooLarge) {
		return c.Status(fiber.StatusRequestEntityTooLarge).JSON(fiber.Map{"error": fmt.Sprintf("请求内容过大，最多 %d 字节", s.cfg.BodyLimit)})
	}
	if err != nil {
		c.Context().SetConnectionClose()
		return c.Status(fiber.StatusBadRequest).JSON(fiber.Map{"error": "请求内容读取失败"})
	}
	c.Request().SetBody(body)
	return c.Next()
}

// App returns the fiber app to mount routes on.
func (s *Server) App() *fiber.App { return s.app }

// AddCheck registers a readiness condition under a name.
func (s *Server) AddCheck(name string, check Check) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks[name] = check
}

// AddDetail registers information /readyz shows without it deciding
// readiness: the state of each mailbox, say, where one failing mailbox
// must not take the web form out of service.
func (s *Server) AddDetail(name string, detail func() any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.details[name] = detail
}

// ready answers 200 when every check passes and 503 otherwise. Callers
// who watch the installation (Role.WatchesOps) also get each check's result
// and the details; anyone else only whether the process is ready, since
// the details name sources, folders and sinks and quote their errors.
func (s *Server) ready(c *fiber.Ctx) error {
	s.mu.Lock()
	checks := maps.Clone(s.checks)
	details := maps.Clone(s.details)
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(c.UserContext(), 3*time.Second)
	defer cancel()
	status, results := fiber.StatusOK, fiber.Map{}
	for name, check := range checks {
		if err := check(ctx); err != nil {
			status, results[name] = fiber.StatusServiceUnavailable, err.Error()
			continue
		}
		results[name] = "ok"
	}
	if p, ok := s.auth.Caller(c); !ok || !p.Role.WatchesOps() {
		return c.Status(status).JSON(fiber.Map{"ready": status == fiber.StatusOK})
	}
	info := fiber.Map{}
	for name, detail := range details {
		info[name] = detail()
	}
	return c.Status(status).JSON(fiber.Map{"ready": status == fiber.StatusOK, "checks": results, "details": info})
}

// ErrorPage writes the whole answer to a request that ended in an error
// with status (404 for an unknown path, 405, 413, 500…) on the pages
// people open: an HTML page in Chinese. It is called on the request's
// goroutine and must not block.
type ErrorPage func(c *fiber.Ctx, status int) error

// SetErrorPage sets the page of errors outside the API (see handleError);
// the target that serves the public pages sets it before Serve.
func (s *Server) SetErrorPage(page ErrorPage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errorPage = page
}

// jsonPrefixes are the paths whose errors are JSON: the ones programs call.
var jsonPrefixes = []string{"/api/", "/webhooks/"}

// handleError answers an error that escaped a handler: fiber errors keep
// their status (413 for an oversized body, 404, 405), anything else is a
// 500 that is logged. Under jsonPrefixes the answer is JSON, {error,
// code, message} as the console API's; elsewhere the page set with
// SetErrorPage (a plain page in Chinese without one). The console's
// pages answer their own errors and do not come here.
func (s *Server) handleError(c *fiber.Ctx, err error) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	status, detail := fiber.StatusInternalServerError, "internal error"
	var fe *fiber.Error
	if errors.As(err, &fe) {
		status, detail = fe.Code, fe.Message
	} else {
		s.logger.Error("request failed", zap.String("path", c.Path()), zap.Error(err))
	}
	code, message := errorText(status)
	for _, prefix := range jsonPrefixes {
		if strings.HasPrefix(c.Path(), prefix) {
			return c.Status(status).JSON(apiError{Error: detail, Code: code, Message: message})
		}
	}
	s.mu.Lock()
	page := s.errorPage
	s.mu.Unlock()
	if page != nil {
		return page(c, status)
	}
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return c.Status(status).SendString(`<!DOCTYPE html><html lang="zh-CN"><meta charset="utf-8"><title>` + message + `</title><p>` + message + `</p></html>`)
}

// errorText returns the code and the Chinese message of an error status.
func errorText(status int) (code, message string) {
	switch {
	case status == fiber.StatusNotFound:
		return "not_found", "请求的地址不存在"
	case status == fiber.StatusMethodNotAllowed:
		return "method_not_allowed", "该地址不支持此请求方法"
	case status == fiber.StatusRequestEntityTooLarge:
		return "too_large", "请求内容过大"
	case status == fiber.StatusTooManyRequests:
		return "too_many_requests", "请求过于频繁，请稍后再试"
	case status < fiber.StatusInternalServerError:
		return "bad_request", "请求无法处理"
	default:
		return "internal", "服务器内部错误，请稍后再试"
	}
}

// Serve listens on ln until ctx ends, then shuts down gracefully:
// requests under way get shutdownGrace to finish, and then the
// connections still open are closed. A browser keeps a connection open
// that it has not sent a request on yet, which the shutdown waits for; no
// request must reach a process that stopped on it (one that restarts in
// place, as tests do).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	conns := &trackedListener{Listener: ln, conns: map[*trackedConn]bool{}}
	errc := make(chan error, 1)
	go func() { errc <- s.app.Listener(conns) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		shutdown, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		err := s.app.ShutdownWithContext(shutdown)
		conns.closeAll()
		return err
	}
}

// shutdownGrace is how long Serve lets requests under way finish.
var shutdownGrace = 10 * time.Second

// trackedListener remembers the connections it accepted until they are
// closed. It is safe for concurrent use.
type trackedListener struct {
	net.Listener
	mu    sync.Mutex
	conns map[*trackedConn]bool
}

// Accept implements net.Listener.
func (l *trackedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, l: l}
	l.mu.Lock()
	l.conns[tc] = true
	l.mu.Unlock()
	return tc, nil
}

// closeAll closes every connection still open.
func (l *trackedListener) closeAll() {
	l.mu.Lock()
	open := make([]*trackedConn, 0, len(l.conns))
	for c := range l.conns {
		open = append(open, c)
	}
	l.mu.Unlock()
	for _, c := range open {
		c.Close()
	}
}

// trackedConn is a connection of a trackedListener.
type trackedConn struct {
	net.Conn
	l *trackedListener
}

// Close implements net.Conn.
func (c *trackedConn) Close() error {
	c.l.mu.Lock()
	delete(c.l.conns, c)
	c.l.mu.Unlock()
	return c.Conn.Close()
}
