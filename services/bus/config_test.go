package bus_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tousu/tousu/internal/polltest"
	"github.com/tousu/tousu/services/bus"
	"github.com/tousu/tousu/services/bus/bustest"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     bus.Config
		wantErr string
	}{
		{"zero value (embedded broker)", bus.Config{}, ""},
		{"defaults", bus.DefaultConfig(), ""},
		{"brokers", bus.Config{Brokers: []string{"kafka-1:9092", "10.0.0.2:9093", "[::1]:9092"}}, ""},
		{"broker without port", bus.Config{Brokers: []string{"kafka-1"}}, "brokers[0]: \"kafka-1\" is not host:port"},
		{"broker without host", bus.Config{Brokers: []string{"k:1", ":9092"}}, "brokers[1]: \":9092\" has no host"},
		{"broker port 0", bus.Config{Brokers: []string{"kafka:0"}}, "brokers[0]: \"kafka:0\" has an invalid port"},
		{"broker port not a number", bus.Config{Brokers: []string{"kafka:http"}}, "brokers[0]: \"kafka:http\" has an invalid port"},
		{"negative partitions", bus.Config{Partitions: -1}, "partitions: must be between"},
		{"negative replication", bus.Config{Replication: -3}, "replication: must be between"},
		{"min ISR 2 of 3 replicas", bus.Config{Replication: 3, MinInsyncReplicas: 2}, ""},
		{"min ISR of every replica", bus.Config{Replication: 3, MinInsyncReplicas: 3}, ""},
		{"min ISR over replication", bus.Config{Replication: 2, MinInsyncReplicas: 3}, "min_insync_replicas: must be between 1 and replication (2)"},
		{"min ISR over the default replication", bus.Config{MinInsyncReplicas: 2}, "min_insync_replicas: must be between 1 and replication (1)"},
		{"negative min ISR", bus.Config{Replication: 3, MinInsyncReplicas: -1}, "min_insync_replicas: must be between"},
		{"negative batch timeout", bus.Config{BatchTimeout: -time.Millisecond}, "batch_timeout: must not be negative"},
		{"batch timeout over a second", bus.Config{BatchTimeout: 2 * time.Second}, "batch_timeout: 2s is longer than 1s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			checkErr(t, err, tt.wantErr)
			checkKeyOnce(t, err, tt.wantErr)
		})
	}
}

func TestConfigValidateReportsEveryError(t *testing.T) {
	err := bus.Config{Brokers: []string{"a", "b:1", "c"}, Partitions: -1, BatchTimeout: -1}.Validate()
	for _, want := range []string{"brokers[0]: ", "brokers[2]: ", "partitions: ", "batch_timeout: "} {
		checkErr(t, err, want)
	}
}

func TestConfigProvision(t *testing.T) {
	cfg := bus.Config{Brokers: []string{"k:9092"}, Partitions: 3}
	cfg.Provision()
	want := bus.DefaultConfig()
	want.Brokers, want.Partitions = []string{"k:9092"}, 3
	if fmt.Sprint(cfg) != fmt.Sprint(want) {
		t.Errorf("Provision() = %+v, want %+v", cfg, want)
	}
	var b bus.BrokerConfig
	b.Provision()
	if b.Listen != bus.DefaultBrokerListen || b.Partitions != bus.DefaultPartitions {
		t.Errorf("BrokerConfig.Provision() = %+v", b)
	}
}

// checkKeyOnce fails when the key an error names (the text before the
// first ": " of want) appears more than once in err.
func checkKeyOnce(tb testing.TB, err error, want string) {
	tb.Helper()
	key, _, ok := strings.Cut(want, ": ")
	if err == nil || !ok {
		return
	}
	if n := strings.Count(err.Error(), key+":"); n != 1 {
		tb.Errorf("%q names %s %d times, want once", err, key, n)
	}
}

func TestConsumerConfigValidate(t *testing.T) {
	ok := bus.ConsumerConfig{Group: "g", Topic: "t"}
	with := func(f func(*bus.ConsumerConfig)) bus.ConsumerConfig {
		c := ok
		f(&c)
		return c
	}
	tests := []struct {
		name    string
		cc      bus.ConsumerConfig
		wantErr string
	}{
		{"minimal", ok, ""},
		{"tuned", with(func(c *bus.ConsumerConfig) {
			c.MinBackoff, c.MaxBackoff, c.HeartbeatInterval, c.SessionTimeout = time.Millisecond, time.Second, time.Second, 6*time.Second
		}), ""},
		{"no group", with(func(c *bus.ConsumerConfig) { c.Group = "" }), "group"},
		{"no topic", with(func(c *bus.ConsumerConfig) { c.Topic = "" }), "topic"},
		{"negative backoff", with(func(c *bus.ConsumerConfig) { c.MinBackoff = -1 }), "min_backoff"},
		{"min over max backoff", with(func(c *bus.ConsumerConfig) { c.MinBackoff = time.Minute }), "exceeds"},
		{"heartbeat too slow", with(func(c *bus.ConsumerConfig) { c.HeartbeatInterval = 5 * time.Second }), "third"},
		{"max wait too short", with(func(c *bus.ConsumerConfig) { c.MaxWait = time.Millisecond }), "max_wait"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErr(t, tt.cc.Validate(), tt.wantErr)
		})
	}
}

func TestBrokerConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     bus.BrokerConfig
		wantErr string
	}{
		{"zero value", bus.BrokerConfig{}, ""},
		{"loopback fixed port", bus.BrokerConfig{Listen: "127.0.0.1:9092", Partitions: 12}, ""},
		{"hostname", bus.BrokerConfig{Listen: "localhost:0"}, ""},
		{"no port", bus.BrokerConfig{Listen: "127.0.0.1"}, "listen: \"127.0.0.1\" is not host:port"},
		{"no host", bus.BrokerConfig{Listen: ":9092"}, "listen: \":9092\" has no host"},
		{"unspecified v4", bus.BrokerConfig{Listen: "0.0.0.0:9092"}, "listen: \"0.0.0.0:9092\": the broker advertises its listen host, so it cannot be the unspecified"},
		{"unspecified v6", bus.BrokerConfig{Listen: "[::]:9092"}, "listen: \"[::]:9092\": the broker advertises its listen host, so it cannot be the unspecified"},
		{"bad port", bus.BrokerConfig{Listen: "127.0.0.1:99999"}, "listen: \"127.0.0.1:99999\": bad port"},
		{"negative partitions", bus.BrokerConfig{Partitions: -1}, "partitions: must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			checkErr(t, err, tt.wantErr)
			checkKeyOnce(t, err, tt.wantErr)
		})
	}
}

func TestReject(t *testing.T) {
	reason := errors.New("bad payload")
	tests := []struct {
		name     string
		err      error
		rejected bool
		text     string
	}{
		{"plain error", reason, false, "bad payload"},
		{"nil", nil, false, ""},
		{"rejected", bus.Reject(reason), true, "bad payload"},
		{"wrapped rejection", fmt.Errorf("decode: %w", bus.Reject(reason)), true, "decode: bad payload"},
		{"nil reason", bus.Reject(nil), true, "rejected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := bus.IsRejected(tt.err); got != tt.rejected {
				t.Errorf("IsRejected = %v, want %v", got, tt.rejected)
			}
			if tt.err != nil && tt.err.Error() != tt.text {
				t.Errorf("text %q, want %q", tt.err.Error(), tt.text)
			}
		})
	}
	if !errors.Is(bus.Reject(reason), reason) {
		t.Error("Reject(reason) does not wrap reason")
	}
}

func TestNoBrokers(t *testing.T) {
	ctx := context.Background()
	cfg := bus.Config{}
	checks := map[string]error{
		"Ping":         bus.Ping(ctx, cfg),
		"EnsureTopics": bus.EnsureTopics(ctx, cfg),
	}
	_, checks["NewProducer"] = bus.NewProducer(cfg, nil, nil)
	_, checks["Lag"] = bus.Lag(ctx, cfg, "g", "t")
	_, checks["NewLagWatcher"] = bus.NewLagWatcher(cfg, nil, nil, nil)
	for name, err := range checks {
		t.Run(name, func(t *testing.T) { checkErr(t, err, "no brokers") })
	}
}

func TestPingDeadBroker(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := bus.Ping(ctx, bus.Config{Brokers: []string{addr}}); err == nil {
		t.Fatal("Ping of a closed port succeeded")
	}
}

func TestAdminAndProducerErrors(t *testing.T) {
	b := startBroker(t, "")
	cfg := bus.Config{Brokers: []string{b.Addr()}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	if err := bus.Ping(ctx, cfg); err != nil {
		t.Errorf("Ping: %v", err)
	}
	checkErr(t, bus.CreateTopics(ctx, cfg, -1, "x"), "negative")
	checkErr(t, bus.CreateTopics(ctx, cfg, 1, ""), "empty topic")
	topic, other := bustest.CreateTopic(t, cfg, 2), bustest.CreateTopic(t, cfg, 1)
	if err := bus.CreateTopics(ctx, cfg, 2, topic); err != nil {
		t.Errorf("creating an existing topic again: %v", err)
	}

	p := bustest.NewProducer(t, cfg)
	tests := []struct {
		name    string
		msgs    []bus.Message
		wantErr string
	}{
		{"nothing", nil, ""},
		{"no topic", []bus.Message{{Value: []byte("v")}}, "no topic"},
		{"unknown topic (no auto-creation)", []bus.Message{{Topic: bustest.Unique(t, "missing"), Value: []byte("v")}}, "Unknown Topic"},
		{"nil key", []bus.Message{{Topic: topic, Value: []byte("v")}}, ""},
		{"two topics at once", []bus.Message{{Topic: topic, Key: []byte("a")}, {Topic: other, Key: []byte("b")}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErr(t, p.Write(ctx, tt.msgs...), tt.wantErr)
		})
	}

	closed, err := bus.NewProducer(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	err = closed.Write(ctx, bus.Message{Topic: topic, Value: []byte("v")})
	if !errors.Is(err, io.ErrClosedPipe) {
		t.Errorf("Write after Close = %v, want io.ErrClosedPipe", err)
	}
}

func TestNewConsumerErrors(t *testing.T) {
	cfg := bus.Config{Brokers: []string{"127.0.0.1:1"}}
	p, err := bus.NewProducer(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	h := func(context.Context, bus.Message) error { return nil }
	cc := bus.ConsumerConfig{Group: "g", Topic: "t"}
	tests := []struct {
		name    string
		cfg     bus.Config
		cc      bus.ConsumerConfig
		p       *bus.Producer
		h       bus.Handler
		wantErr string
	}{
		{"no brokers", bus.Config{}, cc, p, h, "no brokers"},
		{"bad consumer config", cfg, bus.ConsumerConfig{Topic: "t"}, p, h, "group"},
		{"no producer", cfg, cc, nil, h, "producer"},
		{"no handler", cfg, cc, p, nil, "handler"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := bus.NewConsumer(tt.cfg, tt.cc, tt.p, tt.h, nil, nil)
			if c != nil {
				c.Close()
			}
			checkErr(t, err, tt.wantErr)
		})
	}
}

// TestConsumerCloseStopsRetries checks that Close ends a Run that keeps
// retrying a failing message, and that the message stays uncommitted.
func TestConsumerCloseStopsRetries(t *testing.T) {
	b := startBroker(t, "")
	cfg := bus.Config{Brokers: []string{b.Addr()}}
	topic := bustest.CreateTopic(t, cfg, 1)
	group := bustest.Unique(t, "g")
	p := bustest.NewProducer(t, cfg)
	if err := p.Write(context.Background(), bus.Message{Topic: topic, Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	var attempts atomic.Int64
	c, err := bus.NewConsumer(cfg, bus.ConsumerConfig{Group: group, Topic: topic, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}, p,
		func(context.Context, bus.Message) error {
			attempts.Add(1)
			return errors.New("down")
		}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(context.Background()) }()
	polltest.Until(t, "several attempts", func() bool { return attempts.Load() >= 3 })

	if err := c.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("second Run = %v, want an error", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := <-done; err != nil {
		t.Errorf("Run after Close = %v, want nil", err)
	}
	if err := c.Run(context.Background()); err != nil {
		t.Errorf("Run after Close = %v, want nil", err)
	}
	if lag := bustest.TotalLag(t, cfg, group, topic); lag != 1 {
		t.Errorf("lag = %d, want 1: a failing message must not be committed", lag)
	}
}

// TestConsumerStopsWhenProducerClosed checks that a rejection that cannot
// be dead-lettered stops Run with an error instead of skipping the
// message.
func TestConsumerStopsWhenProducerClosed(t *testing.T) {
	b := startBroker(t, "")
	cfg := bus.Config{Brokers: []string{b.Addr()}}
	topic := bustest.CreateTopic(t, cfg, 1)
	group := bustest.Unique(t, "g")
	p := bustest.NewProducer(t, cfg)
	if err := p.Write(context.Background(), bus.Message{Topic: topic, Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	dead, err := bus.NewProducer(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	dead.Close()
	c, err := bus.NewConsumer(cfg, bus.ConsumerConfig{Group: group, Topic: topic}, dead,
		func(context.Context, bus.Message) error { return bus.Reject(errors.New("no")) }, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.Run(ctx); err == nil || !errors.Is(err, io.ErrClosedPipe) {
		t.Errorf("Run = %v, want an error wrapping io.ErrClosedPipe", err)
	}
	if lag := bustest.TotalLag(t, cfg, group, topic); lag != 1 {
		t.Errorf("lag = %d, want 1: an undelivered dead letter must not be committed", lag)
	}
}

func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("unexpected error: %v", err)
	case want != "" && err == nil:
		t.Errorf("no error, want one containing %q", want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Errorf("error %q does not contain %q", err, want)
	}
}

func TestLagWatcherRun(t *testing.T) {
	b := startBroker(t, "")
	cfg := bus.Config{Brokers: []string{b.Addr()}}
	topic := bustest.CreateTopic(t, cfg, 2)
	p := bustest.NewProducer(t, cfg)
	if err := p.Write(context.Background(), bus.Message{Topic: topic, Key: []byte("k"), Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	w, err := bus.NewLagWatcher(cfg, map[string][]string{"watched": {topic}}, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, 10*time.Millisecond) }()
	polltest.Until(t, "lag gauge of 1", func() bool {
		return bustest.GaugeSum(t, reg, "tousu_consumer_lag", map[string]string{"group": "watched", "topic": topic}) == 1
	})
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run after cancel = %v, want nil", err)
	}

	checkErr(t, w.Run(context.Background(), 0), "interval")
	_, err = bus.NewLagWatcher(cfg, map[string][]string{"": {topic}}, nil, nil)
	checkErr(t, err, "empty group")
}

// TestSharedRegistry checks that producers and consumers of one process
// share their metrics on one registry, and that a clashing metric is an
// error rather than a panic.
func TestSharedRegistry(t *testing.T) {
	cfg := bus.Config{Brokers: []string{"127.0.0.1:1"}}
	reg := prometheus.NewRegistry()
	h := func(context.Context, bus.Message) error { return nil }
	for i := range 2 {
		p, err := bus.NewProducer(cfg, nil, reg)
		if err != nil {
			t.Fatalf("producer %d: %v", i, err)
		}
		defer p.Close()
		c, err := bus.NewConsumer(cfg, bus.ConsumerConfig{Group: "g", Topic: "t"}, p, h, nil, reg)
		if err != nil {
			t.Fatalf("consumer %d: %v", i, err)
		}
		defer c.Close()
		w, err := bus.NewLagWatcher(cfg, map[string][]string{"g": {"t"}}, reg, nil)
		if err != nil || w == nil {
			t.Fatalf("lag watcher %d: %v", i, err)
		}
	}

	clash := prometheus.NewRegistry()
	clash.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "tousu_producer_messages_total", Help: "other"}))
	_, err := bus.NewProducer(cfg, nil, clash)
	checkErr(t, err, "register metrics")
}
