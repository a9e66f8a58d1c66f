package httpapi

import (
	"context"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/tousu/tousu/internal/secret"
	"github.com/tousu/tousu/normalize"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/services/ops"
)

// TestMonitorTokenWatchesButSeesNoCase: a monitoring system's token (role
// monitor) is valid configuration; it scrapes /metrics, reads the
// readiness details and the ops API's figures, and is refused every
// case. A role of another spelling is an error naming the key.
func TestMonitorTokenWatchesButSeesNoCase(t *testing.T) {
	auth := AuthConfig{Tokens: []Token{{Name: "prometheus", Token: secret.Inline("prom-scrape-token-0123456789"), Role: RoleMonitor}}}
	auth.Provision()
	if err := auth.Validate(); err != nil {
		t.Fatalf("Validate() = %v, want a monitor token accepted", err)
	}
	wrong := AuthConfig{Tokens: []Token{{Name: "grafana", Token: secret.Inline("grafana-token-0123456789"), Role: "monitoring"}}}
	if err := wrong.Validate(); err == nil || !strings.Contains(err.Error(), "tokens[0].role") || !strings.Contains(err.Error(), "monitor") {
		t.Errorf("Validate(role monitoring) = %v, want an error naming tokens[0].role and the roles", err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "tousu_test_total", Help: "A test counter."}))
	s := New(provisioned(), zap.NewNop(), reg, NewAuthenticator(auth))
	idx := fakeIndex{c: router.Case{ID: "TS20261206-0031", Customer: normalize.Customer{Phone: "+8613912345678"}}}
	NewConsole(idx, NewAuthenticator(auth), nil, testCustomerKey, zap.NewNop()).Mount(s.App())
	lag := func(context.Context) []ops.GroupLag {
		return []ops.GroupLag{{Group: "tousu-indexer", Topic: "cases", Partitions: map[int]int64{0: 7}, Total: 7}}
	}
	MountOps(s.App(), NewAuthenticator(auth), OpsDeps{Lag: lag, Deployment: ops.NewDeployment()}, zap.NewNop())
	tests := []struct {
		path     string
		code     int
		contains string
	}{
		{"/metrics", 200, "tousu_test_total 0"},
		{"/readyz", 200, `"checks"`},
		{PathOpsLag, 200, `"total":7`},
		{PathOpsChannels, 200, `"channels"`},
		{PathOpsProcesses, 200, `"processes"`},
		{"/api/v1/cases?q=信号差", 403, ""},
		{"/api/v1/cases/TS20261206-0031", 403, ""},
	}
	for _, tt := range tests {
		code, body := get(t, s, tt.path, "prom-scrape-token-0123456789")
		if code != tt.code || !strings.Contains(body, tt.contains) || strings.Contains(body, "13912345678") {
			t.Errorf("GET %s with the monitor token = %d %s; want %d containing %q", tt.path, code, body, tt.code, tt.contains)
		}
	}
}
