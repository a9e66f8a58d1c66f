package alertsink

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tousu/tousu/router"
)

func TestFilterMatch(t *testing.T) {
	urge := router.Notice{ID: "u", Kind: router.NoticeUrge}
	batch := router.Notice{ID: "b", Kind: router.NoticeBatch}
	esc := func(level int, notify ...string) router.Notice {
		return router.Notice{ID: "e", Kind: router.NoticeEscalation, Level: level, Notify: notify}
	}
	quality := Filter{Kinds: []string{router.NoticeEscalation}, MinLevel: 2, Notify: []string{"质量总监"}}
	tests := []struct {
		name   string
		filter Filter
		n      router.Notice
		want   bool
	}{
		{"zero filter, urge", Filter{}, urge, true},
		{"zero filter, escalation", Filter{}, esc(0), true},
		{"zero filter, unknown kind", Filter{}, router.Notice{ID: "x", Kind: "future"}, true},
		{"kinds keep", Filter{Kinds: []string{"urge", "batch"}}, batch, true},
		{"kinds drop", Filter{Kinds: []string{"urge", "batch"}}, esc(3), false},
		{"kinds drop unknown kind", Filter{Kinds: []string{"urge"}}, router.Notice{ID: "x", Kind: "future"}, false},
		{"level below", Filter{MinLevel: 2}, esc(1), false},
		{"level equal", Filter{MinLevel: 2}, esc(2), true},
		{"level does not drop urges", Filter{MinLevel: 2}, urge, true},
		{"notify shares a role", Filter{Notify: []string{"质量总监", "总经理"}}, esc(1, "部门负责人", "总经理"), true},
		{"notify shares none", Filter{Notify: []string{"质量总监"}}, esc(1, "部门负责人"), false},
		{"notify, escalation without roles", Filter{Notify: []string{"质量总监"}}, esc(1), false},
		{"notify does not drop batches", Filter{Notify: []string{"质量总监"}}, batch, true},
		{"quality robot, its escalation", quality, esc(2, "部门负责人", "质量总监"), true},
		{"quality robot, low level", quality, esc(1, "质量总监"), false},
		{"quality robot, other role", quality, esc(3, "部门负责人"), false},
		{"quality robot, urge", quality, urge, false},
		{"quality robot, batch", quality, batch, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.filter.Match(tt.n); got != tt.want {
				t.Fatalf("Match = %v, want %v", got, tt.want)
			}
		})
	}
}

// counter reads a delivery counter from reg.
func counter(tb testing.TB, reg *prometheus.Registry, sink, outcome string) float64 {
	tb.Helper()
	families, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, mf := range families {
		if mf.GetName() != "tousu_alert_deliveries_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["sink"] == sink && labels["outcome"] == outcome {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func TestNewRoutesByFilter(t *testing.T) {
	quality, qsrv := newServer(t, http.StatusOK)
	ops, osrv := newServer(t, http.StatusOK)
	t.Setenv("TEST_ALERT_SECRET_QUALITY", " "+testSecret+"\n")
	t.Setenv("TEST_ALERT_URL_OPS", osrv.URL+"/hook?key=abc")
	cfg := Config{Log: true, Webhooks: []WebhookConfig{
		{Name: "quality", URL: qsrv.URL, SecretEnv: "TEST_ALERT_SECRET_QUALITY", Kinds: []string{"escalation"}, MinLevel: 2, Notify: []string{"质量总监"}},
		{Name: "ops", URLEnv: "TEST_ALERT_URL_OPS", Unsigned: true, Kinds: []string{"urge", "batch"}},
	}}
	cfg.Provision()
	var logs bytes.Buffer
	reg := prometheus.NewRegistry()
	d, err := New(cfg, jsonLogger(&logs), reg)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()

	low := escalation()
	low.ID, low.Level = "esc:TS1:reply:50%", 1
	notices := []router.Notice{
		escalation(), low,
		{V: 1, ID: "urge:TS2:C9", Kind: router.NoticeUrge, Case: "TS2"},
		{V: 1, ID: "batch:PL1", Kind: router.NoticeBatch, Batch: "PL1"},
	}
	for _, n := range notices {
		if err := d.Deliver(context.Background(), n); err != nil {
			t.Fatalf("%s: %v", n.ID, err)
		}
	}
	ids := func(rs []request) (out []string) {
		for _, r := range rs {
			out = append(out, r.header.Get(HeaderNoticeID))
		}
		return out
	}
	if got := strings.Join(ids(quality.received()), " "); got != "esc:TS1:reply:breach" {
		t.Errorf("quality got %q", got)
	}
	q := quality.received()[0]
	if err := VerifySignature([]byte(testSecret), q.header.Get(HeaderTimestamp), q.body, q.header.Get(HeaderSignature)); err != nil {
		t.Errorf("quality signature (secret from the environment, trimmed): %v", err)
	}
	if got := strings.Join(ids(ops.received()), " "); got != "urge:TS2:C9 batch:PL1" {
		t.Errorf("ops got %q", got)
	}
	if n := strings.Count(logs.String(), `"msg":"alert"`); n != 4 {
		t.Errorf("%d alert log lines, want 4: %s", n, logs.String())
	}
	for _, c := range []struct {
		sink, outcome string
		want          float64
	}{
		{"log", "delivered", 4}, {"quality", "delivered", 1}, {"quality", "filtered", 3}, {"ops", "delivered", 2}, {"ops", "filtered", 2}, {"ops", "failed", 0},
	} {
		if got := counter(t, reg, c.sink, c.outcome); got != c.want {
			t.Errorf("deliveries{sink=%s,outcome=%s} = %v, want %v", c.sink, c.outcome, got, c.want)
		}
	}
}

func TestNewReadsEnvironment(t *testing.T) {
	t.Setenv("TEST_ALERT_SHORT", "short")
	t.Setenv("TEST_ALERT_BAD_URL", "ftp://example.com/?key=TOKEN-77")
	t.Setenv("TEST_ALERT_SECRET", testSecret)
	unset := "TEST_ALERT_UNSET_7f3a"
	tests := []struct {
		name string
		w    WebhookConfig
		want string
	}{
		{"secret unset", WebhookConfig{Name: "a", URL: "https://example.com", SecretEnv: unset}, "alertsink: webhooks[0].secret_env: the environment variable " + unset + " is not set"},
		{"secret short", WebhookConfig{Name: "a", URL: "https://example.com", SecretEnv: "TEST_ALERT_SHORT"}, "alertsink: webhooks[0].secret_env: the secret in TEST_ALERT_SHORT must be at least 16 bytes"},
		{"url unset", WebhookConfig{Name: "a", URLEnv: unset, SecretEnv: "TEST_ALERT_SECRET"}, "alertsink: webhooks[0].url_env: the environment variable " + unset + " is not set"},
		{"bad url", WebhookConfig{Name: "a", URLEnv: "TEST_ALERT_BAD_URL", SecretEnv: "TEST_ALERT_SECRET"}, "http or https"},
		{"invalid config", WebhookConfig{Name: "a", URL: "https://example.com"}, "alertsink: webhooks[0].secret_env: required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{Webhooks: []WebhookConfig{tt.w}}
			cfg.Provision()
			_, err := New(cfg, nil, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v, want an error with %q", err, tt.want)
			}
			for _, secret := range []string{"short", "TOKEN-77", testSecret} {
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("the error shows a secret: %v", err)
				}
			}
		})
	}
}

// stub is a sink that returns err and counts its calls.
type stub struct {
	mu    sync.Mutex
	err   error
	calls int
}

func (s *stub) Deliver(ctx context.Context, n router.Notice) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	return s.err
}

func TestDispatcherErrors(t *testing.T) {
	permanent := func(msg string) error { return errors.Join(errors.New(msg), ErrPermanent) }
	tests := []struct {
		name string
		errs []error // one target per entry
		want string  // "ok", "transient" or "permanent"
	}{
		{"no targets", nil, "ok"},
		{"all delivered", []error{nil, nil}, "ok"},
		{"one transient", []error{nil, errors.New("503")}, "transient"},
		{"one permanent", []error{nil, permanent("400")}, "permanent"},
		{"all permanent", []error{permanent("400"), permanent("404")}, "permanent"},
		{"permanent and transient: retry", []error{permanent("400"), errors.New("503")}, "transient"},
		{"transient and permanent: retry", []error{errors.New("timeout"), permanent("410")}, "transient"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var targets []Target
			names := []string{"a", "b", "c"}
			for i, err := range tt.errs {
				targets = append(targets, Target{Name: names[i], Sink: &stub{err: err}})
			}
			reg := prometheus.NewRegistry()
			d, err := NewDispatcher(targets, reg)
			if err != nil {
				t.Fatal(err)
			}
			err = d.Deliver(context.Background(), escalation())
			if got := outcome(err); got != tt.want {
				t.Fatalf("Deliver = %v (%s), want %s", err, got, tt.want)
			}
			for i, e := range tt.errs {
				if e != nil && !strings.Contains(err.Error(), names[i]+": "+strings.Split(e.Error(), "\n")[0]) {
					t.Errorf("error %q does not name target %s and its failure", err, names[i])
				}
				want := map[string]string{"ok": "delivered", "transient": "failed", "permanent": "rejected"}[outcome(e)]
				if got := counter(t, reg, names[i], want); got != 1 {
					t.Errorf("deliveries{sink=%s,outcome=%s} = %v, want 1", names[i], want, got)
				}
			}
		})
	}
}

func TestDispatcherRefusesBadNotices(t *testing.T) {
	s := &stub{}
	d, err := NewDispatcher([]Target{{Name: "s", Sink: s}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []router.Notice{{Kind: router.NoticeUrge}, {ID: "x"}} {
		if err := d.Deliver(context.Background(), n); !errors.Is(err, ErrPermanent) {
			t.Errorf("Deliver(%+v) = %v, want a permanent error", n, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := d.Deliver(ctx, escalation()); !errors.Is(err, context.Canceled) {
		t.Errorf("Deliver with a canceled context = %v", err)
	}
	if s.calls != 0 {
		t.Errorf("the sink was called %d times", s.calls)
	}
}

func TestNewDispatcherChecksTargets(t *testing.T) {
	for _, targets := range [][]Target{
		{{Name: "", Sink: &stub{}}},
		{{Name: "a"}},
		{{Name: "a", Sink: &stub{}}, {Name: "a", Sink: &stub{}}},
	} {
		if _, err := NewDispatcher(targets, nil); err == nil {
			t.Errorf("NewDispatcher(%v) passed", targets)
		}
	}
	// Registering twice with one registry is refused, not a panic.
	reg := prometheus.NewRegistry()
	if _, err := NewDispatcher(nil, reg); err != nil {
		t.Fatal(err)
	}
	if _, err := NewDispatcher(nil, reg); err == nil {
		t.Error("second registration passed")
	}
}

func TestDispatcherConcurrentUse(t *testing.T) {
	rec, srv := newServer(t, http.StatusOK)
	w := newTestWebhook(t, WebhookConfig{URL: srv.URL}, []byte(testSecret))
	d, err := NewDispatcher([]Target{{Name: "w", Sink: w}, {Name: "log", Sink: NewLog(nil)}}, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if err := d.Deliver(context.Background(), escalation()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := len(rec.received()); n != 8 {
		t.Fatalf("%d requests, want 8", n)
	}
}
