package app

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"

	"github.com/tousu/tousu/ingest/imap"
	"github.com/tousu/tousu/internal/servertest"
	"github.com/tousu/tousu/sinks/esindex"
)

// declaredMetrics starts an embedded tousu with every channel (a mailbox
// that cannot be reached, the hotline folder, webhooks, the web form) and
// returns the tousu_ metrics it declares, with those of the Elasticsearch
// index added (declared by an Open that cannot reach its node).
func declaredMetrics(tb testing.TB) []Metric {
	tb.Helper()
	box, err := imap.MailboxFromURL("kefu", "imap://kefu%40tousu.test:mima@127.0.0.1:1/INBOX?tls=none&poll=1h")
	if err != nil {
		tb.Fatal(err)
	}
	r := startTousu(tb, tb.TempDir(), func(c *Config) { c.IMAP.Mailboxes = []imap.MailboxConfig{box} })
	var es esindex.Config
	es.URLs = []string{"http://127.0.0.1:1"}
	es.Provision()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := esindex.Open(ctx, es, nil, r.registry); err == nil {
		tb.Fatal("esindex.Open reached a node on 127.0.0.1:1")
	}
	return r.registry.Metrics("tousu_")
}

// readmeSection returns the text of README.md between the markers
// "<!-- name:begin …" (its line) and "<!-- name:end -->".
func readmeSection(tb testing.TB, name string) string {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(tb), "README.md"))
	if err != nil {
		tb.Fatal(err)
	}
	begin, end := "<!-- "+name+":begin", "<!-- "+name+":end -->"
	s := string(b)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		tb.Fatalf("README.md has no %q … %q section", begin, end)
	}
	got := s[i:j]
	return got[strings.Index(got, "\n")+1:]
}

// TestReadmeMetrics: the README's table of metrics is the one generated
// from what a running process registers, every metric with a type and a
// meaning.
func TestReadmeMetrics(t *testing.T) {
	metrics := declaredMetrics(t)
	if len(metrics) < 40 {
		t.Fatalf("only %d tousu_ metrics declared: %v", len(metrics), metrics)
	}
	for _, m := range metrics {
		if m.Type == "" || m.Help == "" {
			t.Errorf("metric %s has no type or help: %+v", m.Name, m)
		}
	}
	if got, want := readmeSection(t, "metrics"), MetricsTable(metrics); got != want {
		t.Errorf("README.md's table of metrics is out of date; replace it with:\n%s", want)
	}
}

// monitoringDir is deploy/monitoring.
func monitoringDir(tb testing.TB) string { return filepath.Join(repoRoot(tb), "deploy", "monitoring") }

// ruleFile is the part of a Prometheus rule file the tests read.
type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert string `yaml:"alert"`
			Expr  string `yaml:"expr"`
			For   string `yaml:"for"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// ruleExprs returns the expressions of deploy/monitoring/tousu-rules.yml
// by alert name.
func ruleExprs(tb testing.TB) map[string]string {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(monitoringDir(tb), "tousu-rules.yml"))
	if err != nil {
		tb.Fatal(err)
	}
	var f ruleFile
	if err := yaml.Unmarshal(b, &f); err != nil {
		tb.Fatal(err)
	}
	exprs := map[string]string{}
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			exprs[r.Alert] = r.Expr
		}
	}
	return exprs
}

// dashboardExprs returns the queries of the Grafana dashboard by panel
// title, each with its variables replaced so that it is plain PromQL.
func dashboardExprs(tb testing.TB) map[string][]string {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(monitoringDir(tb), "grafana-dashboard.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var d struct {
		Title  string `json:"title"`
		Panels []struct {
			Type, Title string
			Targets     []struct{ Expr string }
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		tb.Fatalf("grafana-dashboard.json: %v", err)
	}
	vars := strings.NewReplacer("$job", "tousu.*", "$__rate_interval", "5m")
	exprs := map[string][]string{}
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			tb.Errorf("dashboard panel %q has no query", p.Title)
		}
		for _, t := range p.Targets {
			exprs[p.Title] = append(exprs[p.Title], vars.Replace(t.Expr))
		}
	}
	return exprs
}

// metricName finds the metrics an expression reads.
var metricName = regexp.MustCompile(`\btousu_[a-z0-9_]+`)

// TestMonitoringUsesDeclaredMetrics: every metric the alert rules and the
// dashboard query is one a process declares (a histogram through its
// _bucket, _sum or _count series), and the alerts and panels the README
// and the issue name are there.
func TestMonitoringUsesDeclaredMetrics(t *testing.T) {
	types := map[string]string{}
	for _, m := range declaredMetrics(t) {
		types[m.Name] = m.Type
	}
	known := func(name string) bool {
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(name, suffix); ok && types[base] == "histogram" {
				return true
			}
		}
		return types[name] != ""
	}
	rules, panels := ruleExprs(t), dashboardExprs(t)
	uses := map[string][]string{}
	for alert, expr := range rules {
		uses["rule "+alert] = []string{expr}
	}
	for title, exprs := range panels {
		uses["panel "+title] = exprs
	}
	for where, exprs := range uses {
		for _, e := range exprs {
			names := metricName.FindAllString(e, -1)
			if len(names) == 0 && !strings.Contains(e, "up{") {
				t.Errorf("%s: %q reads no tousu metric", where, e)
			}
			for _, n := range names {
				if !known(n) {
					t.Errorf("%s: %s is not a metric tousu declares", where, n)
				}
			}
		}
	}
	for _, alert := range []string{"TousuConsumerLagGrowing", "TousuDeadLettersGrowing", "TousuMailboxNotPolled", "TousuChannelSilent", "TousuBreachesRising", "TousuTargetDown"} {
		if rules[alert] == "" {
			t.Errorf("tousu-rules.yml has no alert %s", alert)
		}
	}
	for _, want := range []string{"tousu_consumer_lag", "tousu_producer_messages_total", "tousu_consumer_messages_dead_lettered_total",
		"tousu_webform_submissions_total", "tousu_escalator_alerts_due_total", "tousu_webform_publish_duration_seconds_bucket"} {
		found := false
		for _, exprs := range panels {
			for _, e := range exprs {
				found = found || slices.Contains(metricName.FindAllString(e, -1), want)
			}
		}
		if !found {
			t.Errorf("the dashboard has no panel on %s", want)
		}
	}
}

// promtool is the promtool beside the prometheus of TOUSU_TEST_PROMETHEUS.
func promtool(tb testing.TB) string {
	tb.Helper()
	return filepath.Join(filepath.Dir(servertest.Require(tb, servertest.Prometheus)), "promtool")
}

// TestMonitoringRules: promtool accepts the rules and their unit tests
// pass; the dashboard's queries, as recording rules, are valid PromQL.
func TestMonitoringRules(t *testing.T) {
	tool := promtool(t)
	var records strings.Builder
	records.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for i, title := range slices.Sorted(maps.Keys(dashboardExprs(t))) {
		for j, e := range dashboardExprs(t)[title] {
			q, err := json.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&records, "      - record: dashboard:panel%d_%d # %s\n        expr: %s\n", i, j, title, q)
		}
	}
	dashboard := filepath.Join(t.TempDir(), "dashboard-rules.yml")
	if err := os.WriteFile(dashboard, []byte(records.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
	}{
		{"the rules", []string{"check", "rules", "tousu-rules.yml"}},
		{"their unit tests", []string{"test", "rules", "tousu-rules_test.yml"}},
		{"the dashboard's queries", []string{"check", "rules", dashboard}},
	}
	for _, tt := range tests {
		cmd := exec.Command(tool, tt.args...)
		cmd.Dir = monitoringDir(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: promtool %s: %v\n%s", tt.name, strings.Join(tt.args, " "), err, out)
		}
	}
}

// TestRegistryRemembersMetrics: the registry knows the name, type, labels
// and help of every metric registered, with series or not, and the table
// escapes a | in a help text.
func TestRegistryRemembersMetrics(t *testing.T) {
	r := newRegistry()
	r.MustRegister(
		prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tousu_t_rows_total", Help: "Hotline rows by folder and outcome."}, []string{"folder", "outcome"}),
		prometheus.NewGauge(prometheus.GaugeOpts{Name: "tousu_t_waiting", Help: `Files waiting ("未完成" | backing off).`}),
		prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "tousu_t_seconds", Help: "Publish time."}, []string{"channel"}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tousu_t_func", Help: "A function's value."}, func() float64 { return 1 }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tousu_t_calls_total", Help: "Calls."}, func() float64 { return 2 }),
	)
	if err := r.Register(prometheus.NewCounter(prometheus.CounterOpts{Name: "tousu_t_waiting", Help: "again"})); err == nil {
		t.Error("a second tousu_t_waiting was registered")
	}
	want := []Metric{
		{Name: "tousu_t_calls_total", Type: "counter", Help: "Calls."},
		{Name: "tousu_t_func", Type: "gauge", Help: "A function's value."},
		{Name: "tousu_t_rows_total", Type: "counter", Help: "Hotline rows by folder and outcome.", Labels: []string{"folder", "outcome"}},
		{Name: "tousu_t_seconds", Type: "histogram", Help: "Publish time.", Labels: []string{"channel"}},
		{Name: "tousu_t_waiting", Type: "gauge", Help: `Files waiting ("未完成" | backing off).`},
	}
	if got := r.Metrics("tousu_t_"); !reflect.DeepEqual(got, want) {
		t.Errorf("Metrics() =\n%+v\nwant\n%+v", got, want)
	}
	if row := "| `tousu_t_waiting` | gauge | — | Files waiting (\"未完成\" \\| backing off). |\n"; !strings.Contains(MetricsTable(want), row) {
		t.Errorf("MetricsTable() =\n%s\nwant the row %s", MetricsTable(want), row)
	}
}
