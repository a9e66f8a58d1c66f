package ledger_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"

	"github.com/tousu/tousu/ingest/webform"
	"github.com/tousu/tousu/internal/polltest"
	"github.com/tousu/tousu/internal/secret"
	"github.com/tousu/tousu/services/bus"
	"github.com/tousu/tousu/services/bus/bustest"
	"github.com/tousu/tousu/services/ledger"
)

const (
	reference  = "TS3K9QW2M7PX"
	csrfSecret = "a CSRF secret both replicas share, 32+ bytes"
)

// lookup knows one case, whose phone ends in 8000.
type lookup struct{}

func (lookup) LookupStatus(_ context.Context, ref string) (webform.CaseStatus, error) {
	if ref != reference {
		return webform.CaseStatus{}, webform.ErrUnknownReference
	}
	return webform.CaseStatus{Reference: ref, Status: "处理中", Phone: "+8613800138000"}, nil
}

// replica is a status page with a ledger of its own, following topic.
type replica struct {
	app    *fiber.App
	ledger *ledger.Ledger
}

func startReplica(tb testing.TB, cfg bus.Config, topic string) *replica {
	tb.Helper()
	log := zaptest.NewLogger(tb, zaptest.Level(zapcore.WarnLevel))
	l := ledger.New(bustest.NewProducer(tb, cfg).Write, topic, ledger.Retention)
	f, err := bus.NewFollower(cfg, bus.FollowerConfig{Topic: topic, CaughtUp: l.CaughtUp}, l.Follow, log, nil)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); f.Run(ctx) }()
	tb.Cleanup(func() { cancel(); <-done })
	formCfg := webform.Config{CSRFSecret: secret.Inline(csrfSecret), RateLimit: 1000}
	formCfg.Provision()
	form, err := webform.New(formCfg, webform.Shared{Ledger: l}, nil, nil, log, nil)
	if err != nil {
		tb.Fatal(err)
	}
	app := fiber.New()
	form.MountStatus(app, lookup{})
	return &replica{app: app, ledger: l}
}

var csrfRe = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// lookUp renders the status page and posts a look-up; it returns the
// status code.
func (r *replica) lookUp(tb testing.TB, digits string) int {
	tb.Helper()
	resp, err := r.app.Test(httptest.NewRequest(http.MethodGet, "/status", nil), -1)
	if err != nil {
		tb.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	m := csrfRe.FindSubmatch(page)
	if m == nil || len(resp.Cookies()) == 0 {
		tb.Fatalf("GET /status: %d, no CSRF token", resp.StatusCode)
	}
	form := url.Values{"_csrf": {string(m[1])}, "reference": {reference}, "digits": {digits}}
	req := httptest.NewRequest(http.MethodPost, "/status", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, c := range resp.Cookies() {
		req.AddCookie(c)
	}
	resp, err = r.app.Test(req, -1)
	if err != nil {
		tb.Fatal(err)
	}
	return resp.StatusCode
}

// TestLockAcrossReplicas checks that the look-ups of a reference that
// failed on one replica lock it on another, through the broker.
func TestLockAcrossReplicas(t *testing.T) {
	bustest.OnBrokers(t, func(t *testing.T, cfg bus.Config) {
		topic := bustest.CreateTopic(t, cfg, 3)
		a, b := startReplica(t, cfg, topic), startReplica(t, cfg, topic)
		for i := range webform.DefaultMaxStatusFailures {
			if code := a.lookUp(t, "1234"); code != http.StatusNotFound {
				t.Fatalf("failed look-up %d on the first replica: %d, want 404", i+1, code)
			}
		}
		polltest.Until(t, "the second replica follows the first one's look-ups", func() bool {
			return len(b.ledger.Entries("status:"+reference)) == webform.DefaultMaxStatusFailures
		})
		if code := b.lookUp(t, "8000"); code != http.StatusTooManyRequests {
			t.Fatalf("sixth look-up, right digits, on the second replica: %d, want 429", code)
		}
	})
}
