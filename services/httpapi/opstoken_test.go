package httpapi

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/tousu/tousu/internal/secret"
	"github.com/tousu/tousu/normalize"
	"github.com/tousu/tousu/router"
)

// TestOpsTokenWatchesButSeesNoCase: a monitoring system's token of role
// ops is valid configuration; it scrapes /metrics and reads the
// readiness details, and is refused every case.
func TestOpsTokenWatchesButSeesNoCase(t *testing.T) {
	auth := AuthConfig{Tokens: []Token{{Name: "prometheus", Token: secret.Inline("prom-scrape-token-0123456789"), Role: RoleOps}}}
	auth.Provision()
	if err := auth.Validate(); err != nil {
		t.Fatalf("Validate() = %v, want an ops token accepted", err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "tousu_test_total", Help: "A test counter."}))
	s := New(provisioned(), zap.NewNop(), reg, NewAuthenticator(auth))
	idx := fakeIndex{c: router.Case{ID: "TS20261206-0031", Customer: normalize.Customer{Phone: "+8613912345678"}}}
	NewConsole(idx, NewAuthenticator(auth), nil, testCustomerKey, zap.NewNop()).Mount(s.App())
	tests := []struct {
		path     string
		code     int
		contains string
	}{
		{"/metrics", 200, "tousu_test_total 0"},
		{"/readyz", 200, `"checks"`},
		{"/api/v1/cases?q=信号差", 403, ""},
		{"/api/v1/cases/TS20261206-0031", 403, ""},
	}
	for _, tt := range tests {
		code, body := get(t, s, tt.path, "prom-scrape-token-0123456789")
		if code != tt.code || !strings.Contains(body, tt.contains) || strings.Contains(body, "13912345678") {
			t.Errorf("GET %s with the ops token = %d %s; want %d containing %q", tt.path, code, body, tt.code, tt.contains)
		}
	}
}
