package app

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tousu/tousu/internal/proctest"
	"github.com/tousu/tousu/internal/secret"
)

// TestGatewaySpoolsWhileTheBrokerIsAway: a gateway of its own keeps
// answering 202 with a reference while the broker (and the pipeline with
// it) is stopped, stays ready, and shows the spooled complaints on
// /readyz; once the broker is back every spooled complaint becomes exactly
// one case.
func TestGatewaySpoolsWhileTheBrokerIsAway(t *testing.T) {
	pipelineDir, brokerAddr := t.TempDir(), proctest.FreeAddr(t)
	// The gateway's references and the console's status page share the
	// server secret.
	shared := secret.Inline(strings.Repeat("投诉", 8))
	withoutGateway := func(tb testing.TB) []Target {
		tb.Helper()
		all, err := ParseTargets("all", true)
		if err != nil {
			tb.Fatal(err)
		}
		return slices.DeleteFunc(all, func(t Target) bool { return t == TargetGateway })
	}
	pipeline := func() *running {
		return runTargets(t, withoutGateway(t), func(c *Config) {
			c.DataDir, c.HTTP.Listen, c.Broker.Listen, c.Security.Secret = pipelineDir, "127.0.0.1:0", brokerAddr, shared
		})
	}
	rest := pipeline()
	gatewayDir := t.TempDir()
	gateway := runTargets(t, []Target{TargetGateway}, func(c *Config) {
		c.DataDir, c.HTTP.Listen, c.Bus.Brokers, c.Security.Secret = gatewayDir, "127.0.0.1:0", []string{brokerAddr}, shared
		c.Spool.BrokerWait = 300 * time.Millisecond
	})
	before := gateway.submit(t, "营业厅办的套餐和合同写的不一样，每月多扣20元", "")
	rest.waitFor(t, url.Values{"reference": {before}}, 1)

	rest.stop()
	refs := []string{
		gateway.submit(t, "12月5号起家里宽带每天晚上断网，报修电话打不通", ""),
		gateway.submit(t, "客服承诺48小时内回电，到现在都没人联系我", ""),
	}
	files, err := filepath.Glob(filepath.Join(gatewayDir, "spool", "*.json"))
	if err != nil || len(files) != 2 {
		t.Fatalf("spool holds %v (%v), want the two complaints", files, err)
	}
	var ready struct {
		Ready   bool
		Details struct{ Spool map[string]any }
	}
	if code := gateway.api(t, http.MethodGet, "/readyz", nil, nil, &ready); code != http.StatusOK || !ready.Ready {
		t.Errorf("gateway /readyz while spooling: %d %+v, want ready", code, ready)
	}
	if depth := ready.Details.Spool["depth"]; depth != float64(2) {
		t.Errorf("/readyz spool details %v, want depth 2", ready.Details.Spool)
	}

	rest = pipeline()
	for _, ref := range refs {
		rest.waitFor(t, url.Values{"reference": {ref}}, 1)
	}
	rest.waitDrained(t)
	if res := rest.search(t, url.Values{}); res.Total != 3 {
		t.Errorf("%d cases, want 3: %+v", res.Total, res.Hits)
	}
	left, err := os.ReadDir(filepath.Join(gatewayDir, "spool"))
	if err != nil || len(left) != 0 {
		t.Errorf("spool after the relay: %v (%v), want empty", left, err)
	}
}
