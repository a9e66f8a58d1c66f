package app

import (
	"context"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/tousu/tousu/internal/polltest"
	"github.com/tousu/tousu/services/ops"
)

// runTargets starts a process of targets (nil: all) with the
// configuration edit makes, the admin token testToken and the webhook
// source "acme", and runs it until the test ends or it is stopped.
func runTargets(tb testing.TB, targets []Target, edit ...func(*Config)) *running {
	tb.Helper()
	cfg, err := Load("", []string{"TOUSU_BOOTSTRAP_TOKEN=" + testToken, "TOUSU_WEBHOOK_SECRET_ACME=" + testWebhookSecret}, edit...)
	if err != nil {
		tb.Fatal(err)
	}
	if targets == nil {
		if targets, err = ParseTargets("all", cfg.Embedded()); err != nil {
			tb.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	p, err := Start(ctx, cfg, targets, zap.NewNop(), io.Discard)
	if err != nil {
		cancel()
		tb.Fatal(err)
	}
	r := &running{Process: p, base: "http://" + p.HTTPAddr(), cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- p.Run(ctx) }()
	tb.Cleanup(r.stop)
	return r
}

// TestDeploymentOnTheBroker: on the embedded broker, the console sees the
// beat of every process (itself running every target, and a normalizer
// of its own started on another data directory), the hotline folder and
// the JSON API count the complaints they took, a bad hotline row and a
// webhook signed with the wrong secret count as errors of their channels
// by class, the lag view has the
// per-partition details, and a process stopped on purpose is shown
// stopped (its last beat says so), not lost.
func TestDeploymentOnTheBroker(t *testing.T) {
	fast := func(c *Config) { c.Heartbeat.Every = time.Second }
	dir := t.TempDir()
	r := startTousu(t, dir, fast)

	second := runTargets(t, []Target{TargetNormalizer}, fast, func(c *Config) {
		c.DataDir, c.HTTP.Listen, c.Bus.Brokers = t.TempDir(), "127.0.0.1:0", []string{r.BrokerAddr()}
	})

	csv := "工单号,受理时间,来电号码,客户姓名,投诉内容\r\n" +
		"GD20261206001,2026/12/6 9:15,13800138000,张三,宽带12月3号起天天断网，报修两次没人来\r\n" +
		"GD20261206002,2026-12-06 09:20,0755-12345678,李四,\"话费多扣30元，\r\n客服说查不到\"\r\n" +
		"GD20261206003,2026/12/6 9:31,1.38001E+10,王五,套餐被莫名其妙改成了199元的\r\n"
	folder := filepath.Join(dir, DefaultHotlineFolder)
	if err := os.WriteFile(filepath.Join(folder, "rexian.csv"), []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(folder, "rexian.csv.done"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r.submit(t, "手机信号差了三天，打电话总是断线", "")
	body := `{"phone":"13912345678","description":"12月5日下单的路由器至今未发货"}`
	if code := r.signedWebhook(t, "not-acme-s-secret-0123456789", body, "evt-1206", nil); code != 401 {
		t.Fatalf("webhook signed with another secret: %d, want 401", code)
	}

	var procs struct{ Processes []ops.ProcessView }
	var chans struct{ Channels []ops.ChannelView }
	targetsOf := func(ps []ops.ProcessView) [][]string {
		var out [][]string
		for _, p := range ps {
			if !p.Gone() {
				out = append(out, p.Targets)
			}
		}
		return out
	}
	count := func(key string) int {
		i := slices.IndexFunc(chans.Channels, func(c ops.ChannelView) bool { return c.Key() == key })
		if i < 0 {
			return -1
		}
		return chans.Channels[i].Hour
	}
	channel := func(key string) ops.ChannelView {
		if i := slices.IndexFunc(chans.Channels, func(c ops.ChannelView) bool { return c.Key() == key }); i >= 0 {
			return chans.Channels[i]
		}
		return ops.ChannelView{}
	}
	if !polltest.Within(polltest.Patience, func() bool {
		r.api(t, "GET", "/api/v1/ops/processes", nil, nil, &procs)
		r.api(t, "GET", "/api/v1/ops/channels", nil, nil, &chans)
		return len(targetsOf(procs.Processes)) == 2 && count("hotline:hotline") == 2 && count("api") == 1 && channel("webhook:acme").Errors == 1
	}) {
		t.Fatalf("processes %+v\nchannels %+v", procs.Processes, chans.Channels)
	}
	for key, want := range map[string]map[string]int{"hotline:hotline": {"字段“来电号码”有误": 1}, "webhook:acme": {"签名无效": 1}} {
		if ch := channel(key); ch.Errors != 1 || !maps.Equal(ch.Refused, want) || ch.LastError == "" {
			t.Errorf("%s: %d errors, refused %v, last error %q; want 1 error, %v", key, ch.Errors, ch.Refused, ch.LastError, want)
		}
	}
	if got := targetsOf(procs.Processes); !slices.ContainsFunc(got, func(ts []string) bool { return slices.Equal(ts, []string{"normalizer"}) }) {
		t.Errorf("targets %v: the normalizer's process is missing", got)
	}
	if i := slices.IndexFunc(chans.Channels, func(c ops.ChannelView) bool { return c.Key() == "webform" }); i < 0 || chans.Channels[i].Hour != 0 {
		t.Errorf("the web form, which took nothing, is not listed with 0: %+v", chans.Channels)
	}

	var lag struct{ Groups []ops.GroupLag }
	r.api(t, "GET", "/api/v1/ops/lag", nil, nil, &lag)
	if i := slices.IndexFunc(lag.Groups, func(g ops.GroupLag) bool { return g.Group == "tousu-normalizer" }); i < 0 ||
		lag.Groups[i].Members != 2 || len(lag.Groups[i].Details) == 0 {
		t.Errorf("lag %+v: the normalizer group has two members and its partitions", lag.Groups)
	}

	second.stop()
	if !polltest.Within(polltest.Patience, func() bool {
		r.api(t, "GET", "/api/v1/ops/processes", nil, nil, &procs)
		i := slices.IndexFunc(procs.Processes, func(p ops.ProcessView) bool { return slices.Equal(p.Targets, []string{"normalizer"}) })
		return len(targetsOf(procs.Processes)) == 1 && i >= 0 && procs.Processes[i].Stopped && !procs.Processes[i].Lost
	}) {
		t.Errorf("the stopped normalizer is not shown stopped: %+v", procs.Processes)
	}
}
