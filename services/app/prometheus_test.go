package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/tousu/tousu/internal/polltest"
	"github.com/tousu/tousu/internal/secret"
	"github.com/tousu/tousu/internal/servertest"
	"github.com/tousu/tousu/services/bus"
	"github.com/tousu/tousu/services/httpapi"
	"github.com/tousu/tousu/services/stages/indexer"
)

// prometheusToken is the monitor token the test's Prometheus scrapes
// with, as the README's Monitoring section advises.
const prometheusToken = "prom-scrape-monitor-token-0123456789"

// testRules writes a copy of deploy/monitoring/tousu-rules.yml into dir
// whose alerts wait forDur instead of their shipped for: durations, and
// returns its path.
func testRules(tb testing.TB, dir, forDur string) string {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(monitoringDir(tb), "tousu-rules.yml"))
	if err != nil {
		tb.Fatal(err)
	}
	var f map[string]any
	if err := yaml.Unmarshal(b, &f); err != nil {
		tb.Fatal(err)
	}
	for _, g := range f["groups"].([]any) {
		for _, r := range g.(map[string]any)["rules"].([]any) {
			r.(map[string]any)["for"] = forDur
		}
	}
	out, err := yaml.Marshal(f)
	if err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(dir, "tousu-rules.yml")
	if err := os.WriteFile(path, out, 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

// promServer is a Prometheus server of a test.
type promServer struct{ base string }

// startPrometheus runs Debian's prometheus on a loopback port with the
// configuration of deploy/monitoring/prometheus.yml, its target, token
// file and rules replaced by the test's (target scraped with the monitor
// token) and every interval a second, until the test ends.
func startPrometheus(tb testing.TB, target, rules string) *promServer {
	tb.Helper()
	bin := servertest.Require(tb, servertest.Prometheus)
	dir := tb.TempDir()
	token := filepath.Join(dir, "token")
	if err := os.WriteFile(token, []byte(prometheusToken), 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), prometheusConfig(tb, target, token, rules), 0o600); err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr)
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		cancel()
		tb.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	tb.Cleanup(func() {
		cancel()
		<-exited
		if tb.Failed() {
			tb.Logf("prometheus:\n%s", logs.String())
		}
	})
	p := &promServer{base: "http://" + addr}
	polltest.Until(tb, "prometheus ready on "+addr, func() bool {
		select {
		case <-exited:
			tb.Fatalf("prometheus exited:\n%s", logs.String())
		default:
		}
		resp, err := http.Get(p.base + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return p
}

// promConfig is the part of deploy/monitoring/prometheus.yml the test
// changes.
type promConfig struct {
	Global        map[string]string `yaml:"global"`
	RuleFiles     []string          `yaml:"rule_files"`
	ScrapeConfigs []struct {
		JobName       string `yaml:"job_name"`
		Authorization struct {
			Type            string `yaml:"type"`
			CredentialsFile string `yaml:"credentials_file"`
		} `yaml:"authorization"`
		StaticConfigs []struct {
			Targets []string `yaml:"targets"`
		} `yaml:"static_configs"`
	} `yaml:"scrape_configs"`
}

// prometheusConfig returns deploy/monitoring/prometheus.yml scraping
// target with the token in tokenFile, loading rules, every second.
func prometheusConfig(tb testing.TB, target, tokenFile, rules string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(monitoringDir(tb), "prometheus.yml"))
	if err != nil {
		tb.Fatal(err)
	}
	var cfg promConfig
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		tb.Fatal(err)
	}
	if len(cfg.ScrapeConfigs) != 1 || cfg.ScrapeConfigs[0].Authorization.Type != "Bearer" || len(cfg.ScrapeConfigs[0].StaticConfigs) != 1 {
		tb.Fatalf("deploy/monitoring/prometheus.yml: want one scrape config with a Bearer token and one static config, got %+v", cfg.ScrapeConfigs)
	}
	cfg.Global = map[string]string{"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"}
	cfg.RuleFiles = []string{rules}
	cfg.ScrapeConfigs[0].Authorization.CredentialsFile = tokenFile
	cfg.ScrapeConfigs[0].StaticConfigs[0].Targets = []string{target}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// get decodes the data of a Prometheus API answer.
func (p *promServer) get(tb testing.TB, path string, data any) {
	tb.Helper()
	resp, err := http.Get(p.base + path)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Status string
		Data   json.RawMessage
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Status != "success" {
		tb.Fatalf("GET %s: %d %v %s", path, resp.StatusCode, err, out.Data)
	}
	if err := json.Unmarshal(out.Data, data); err != nil {
		tb.Fatal(err)
	}
}

// query returns the values of an instant query, one per series.
func (p *promServer) query(tb testing.TB, q string) []string {
	tb.Helper()
	var data struct {
		Result []struct{ Value []any }
	}
	p.get(tb, "/api/v1/query?query="+url.QueryEscape(q), &data)
	var out []string
	for _, r := range data.Result {
		out = append(out, fmt.Sprint(r.Value[1]))
	}
	return out
}

// alert is an alert as /api/v1/alerts shows it.
type alert struct {
	Labels      map[string]string
	Annotations map[string]string
	State       string
}

// alerts returns the active (pending or firing) alerts named name.
func (p *promServer) alerts(tb testing.TB, name string) []alert {
	tb.Helper()
	var data struct{ Alerts []alert }
	p.get(tb, "/api/v1/alerts", &data)
	var out []alert
	for _, a := range data.Alerts {
		if a.Labels["alertname"] == name {
			out = append(out, a)
		}
	}
	return out
}

// stopConsumer closes the process's consumer of group, as if that target
// had stopped; the process's lag watcher keeps reporting the group.
// bus.Consumer does not export its group, so the test reads it by
// reflection rather than add an accessor only a test would use.
func (r *running) stopConsumer(tb testing.TB, group string) {
	tb.Helper()
	for _, c := range r.closers {
		if bc, ok := c.(*bus.Consumer); ok && reflect.ValueOf(bc).Elem().FieldByName("cc").FieldByName("Group").String() == group {
			if err := bc.Close(); err != nil {
				tb.Fatal(err)
			}
			return
		}
	}
	tb.Fatalf("no consumer of group %s runs", group)
}

// TestPrometheusSeesLagAlert: a real Prometheus scrapes a running tousu
// with a monitor token and the shipped rules (for: shortened in a test copy);
// once the indexer has stopped and complaints keep arriving,
// TousuConsumerLagGrowing goes pending for the indexer's group on the
// cases topic, and then fires.
func TestPrometheusSeesLagAlert(t *testing.T) {
	r := startTousu(t, t.TempDir(), func(c *Config) {
		c.Webform.RateLimit = 1000
		c.Auth.Tokens = append(c.Auth.Tokens, httpapi.Token{Name: "prometheus", Token: secret.Inline(prometheusToken), Role: httpapi.RoleMonitor})
	})
	dir := t.TempDir()
	prom := startPrometheus(t, strings.TrimPrefix(r.base, "http://"), testRules(t, dir, "15s"))

	lag := fmt.Sprintf(`sum(tousu_consumer_lag{group=%q, topic=%q})`, indexer.Group, bus.TopicCases)
	polltest.Until(t, "prometheus scrapes tousu with the monitor token and sees the indexer's lag at 0", func() bool {
		up := prom.query(t, `up{job="tousu"}`)
		return len(up) == 1 && up[0] == "1" && strings.Join(prom.query(t, lag), ",") == "0"
	})
	if a := prom.alerts(t, "TousuConsumerLagGrowing"); len(a) != 0 {
		t.Fatalf("lag alert before the indexer stopped: %+v", a)
	}

	r.stopConsumer(t, indexer.Group)
	complaints := []string{
		"宽带从12月3号晚上开始断断续续，报修了两次没人上门，工单号 GD20261203-0087",
		"手机欠费停机但我明明11/30交了100元话费，营业厅说系统没到账",
		"携号转网被拒，客服说有合约，可我合约2026年6月就到期了！！",
		"上个月流量费多扣了 ３８.５ 元，要求退还",
	}
	// Complaints keep arriving while the indexer is stopped: the next one
	// once Prometheus has seen the last in the indexer's lag.
	sent := 0
	arrive := func() {
		if got := prom.query(t, lag); len(got) == 1 && got[0] == fmt.Sprint(sent) {
			if _, err := postComplaint(r, fmt.Sprintf("1391234%04d", sent), complaints[sent%len(complaints)]); err != nil {
				t.Fatal(err)
			}
			sent++
		}
	}
	var pending alert
	polltest.Until(t, "TousuConsumerLagGrowing pending for the indexer on cases", func() bool {
		arrive()
		for _, a := range prom.alerts(t, "TousuConsumerLagGrowing") {
			if a.Labels["group"] == indexer.Group && a.Labels["topic"] == bus.TopicCases {
				pending = a
				return a.State == "pending"
			}
		}
		return false
	})
	if !strings.Contains(pending.Annotations["summary"], "tousu-indexer") || pending.Labels["severity"] != "warning" {
		t.Errorf("pending alert = %+v", pending)
	}
	polltest.Until(t, "TousuConsumerLagGrowing firing after the test's for: of 15s", func() bool {
		arrive()
		for _, a := range prom.alerts(t, "TousuConsumerLagGrowing") {
			if a.Labels["group"] == indexer.Group && a.State == "firing" {
				return true
			}
		}
		return false
	})
	// Only the stopped group's lag keeps growing: the others keep up (a
	// sample taken while they handle a complaint may show a short pending).
	for _, a := range prom.alerts(t, "TousuConsumerLagGrowing") {
		if a.Labels["group"] != indexer.Group && a.State == "firing" {
			t.Errorf("lag alert for a running group: %+v", a)
		}
	}
}
