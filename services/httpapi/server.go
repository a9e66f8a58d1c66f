// Package httpapi is tousu's HTTP server: one fiber app per process that
// carries what its targets mount (web form, webhooks, the agent console API)
// beside the health, readiness and metrics endpoints every process serves.
package httpapi

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
)

// Config configures the HTTP server.
type Config struct {
	// Listen is the address to serve on (default 127.0.0.1:8080).
	Listen string `yaml:"listen"`
	// BodyLimit bounds every request body in bytes (default 12 MiB, enough
	// for the web form's largest attachment); handlers set lower limits.
	BodyLimit int `yaml:"body_limit"`
	// ReadTimeout bounds reading a request (default 30s).
	ReadTimeout time.Duration `yaml:"read_timeout"`
}

// Validate checks the configuration and fills defaults.
func (c *Config) Validate() error {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8080"
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("http.listen: %w", err)
	}
	if c.BodyLimit < 0 || c.ReadTimeout < 0 {
		return errors.New("http: body_limit and read_timeout must not be negative")
	}
	if c.BodyLimit == 0 {
		c.BodyLimit = 12 << 20
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = 30 * time.Second
	}
	return nil
}

// Check is one readiness condition: nil when the dependency answers.
type Check func(ctx context.Context) error

// Server is the HTTP server of one process.
type Server struct {
	cfg    Config
	app    *fiber.App
	logger *zap.Logger

	mu      sync.Mutex
	checks  map[string]Check
	details map[string]func() any
}

// New builds the server with /healthz, /readyz and /metrics. Targets mount
// their routes on App before Serve.
func New(cfg Config, logger *zap.Logger, gatherer prometheus.Gatherer) *Server {
	s := &Server{cfg: cfg, logger: logger, checks: map[string]Check{}, details: map[string]func() any{}}
	s.app = fiber.New(fiber.Config{
		AppName:               "tousu",
		BodyLimit:             cfg.BodyLimit,
		ReadTimeout:           cfg.ReadTimeout,
		DisableStartupMessage: true,
		ErrorHandler:          s.handleError,
	})
	s.app.Use(recover.New())
	s.app.Get("/healthz", func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"status": "ok"}) })
	s.app.Get("/readyz", s.ready)
	s.app.Get("/metrics", adaptor.HTTPHandler(promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{})))
	return s
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

// ready answers 200 when every check passes and 503 otherwise, with each
// check's result and the details.
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
	info := fiber.Map{}
	for name, detail := range details {
		info[name] = detail()
	}
	return c.Status(status).JSON(fiber.Map{"ready": status == fiber.StatusOK, "checks": results, "details": info})
}

// handleError turns errors that escaped a handler into JSON answers; fiber
// errors keep their status (413 for an oversized body, 404, 405), anything
// else is a 500 that is logged.
func (s *Server) handleError(c *fiber.Ctx, err error) error {
	var fe *fiber.Error
	if errors.As(err, &fe) {
		return c.Status(fe.Code).JSON(fiber.Map{"error": fe.Message})
	}
	s.logger.Error("request failed", zap.String("path", c.Path()), zap.Error(err))
	return c.Status(fiber.StatusInternalServerError).JSON(fiber.Map{"error": "internal error"})
}

// Serve listens on ln until ctx ends, then shuts down gracefully.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- s.app.Listener(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return s.app.ShutdownWithContext(shutdown)
	}
}
