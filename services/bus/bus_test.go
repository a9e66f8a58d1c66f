package bus_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"

	"github.com/tousu/tousu/internal/polltest"
	"github.com/tousu/tousu/internal/servertest"
	"github.com/tousu/tousu/services/bus"
	"github.com/tousu/tousu/services/bus/bustest"
)

// startBroker starts an embedded broker in dir (empty: a temp dir) and
// stops it when the test ends.
func startBroker(tb testing.TB, dir string) *bus.Broker {
	tb.Helper()
	if dir == "" {
		dir = tb.TempDir()
	}
	b, err := bus.StartBroker(bus.BrokerConfig{Dir: dir}, zaptest.NewLogger(tb, zaptest.Level(zapcore.WarnLevel)))
	if err != nil {
		tb.Fatalf("StartBroker: %v", err)
	}
	tb.Cleanup(func() { _ = b.Close() })
	return b
}

func TestContractEmbedded(t *testing.T) {
	b := startBroker(t, "")
	bustest.Run(t, []string{b.Addr()})
}

func TestContractKafka(t *testing.T) {
	bustest.Run(t, strings.Split(servertest.Require(t, servertest.Kafka), ","))
}

// BenchmarkProducerWrite measures synchronous single-message writes of
// ~300 bytes from many concurrent callers through one shared Producer to
// the embedded broker (acks=all, 6 partitions).
func BenchmarkProducerWrite(b *testing.B) {
	br := startBroker(b, "")
	cfg := bus.Config{Brokers: []string{br.Addr()}}
	topic := bustest.CreateTopic(b, cfg, 6)
	p, err := bus.NewProducer(cfg, zap.NewNop(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	value := []byte(strings.Repeat("x", 300))
	var n atomic.Int64
	ctx := context.Background()
	b.SetParallelism(64) // 64 callers per CPU
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			key := fmt.Appendf(nil, "key-%d", n.Add(1))
			if err := p.Write(ctx, bus.Message{Topic: topic, Key: key, Value: value}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkPipelineLatency measures one message's trip from Write to the
// handler of a joined consumer (ns/op), and reports how long the consumer
// took to join a new group and receive its first message (join-ms) and
// how long a second member took until the group was stable again
// (rebalance-ms).
func BenchmarkPipelineLatency(b *testing.B) {
	br := startBroker(b, "")
	cfg := bus.Config{Brokers: []string{br.Addr()}}
	topic := bustest.CreateTopic(b, cfg, 6)
	group := bustest.Unique(b, "g")
	p := bustest.NewProducer(b, cfg)
	ctx := context.Background()
	got := make(chan struct{}, 1)
	handler := func(context.Context, bus.Message) error {
		got <- struct{}{}
		return nil
	}
	if err := p.Write(ctx, bus.Message{Topic: topic, Key: []byte("k"), Value: []byte("first")}); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	bustest.StartConsumer(b, cfg, bus.ConsumerConfig{Group: group, Topic: topic}, p, handler, nil)
	<-got
	join := time.Since(start)

	start = time.Now()
	bustest.StartConsumer(b, cfg, bus.ConsumerConfig{Group: group, Topic: topic}, p, handler, nil)
	polltest.Until(b, "two stable members", func() bool {
		g, err := bus.DescribeGroup(ctx, cfg, group)
		return err == nil && g.State == "Stable" && len(g.Members) == 2 &&
			len(g.Members[0].Partitions[topic]) > 0 && len(g.Members[1].Partitions[topic]) > 0
	})
	rebalance := time.Since(start)

	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if err := p.Write(ctx, bus.Message{Topic: topic, Key: fmt.Appendf(nil, "k%d", i), Value: []byte("v")}); err != nil {
			b.Fatal(err)
		}
		<-got
	}
	b.ReportMetric(float64(join.Milliseconds()), "join-ms")
	b.ReportMetric(float64(rebalance.Milliseconds()), "rebalance-ms")
}

// holdThird writes m0..m4 to a new one-partition topic and starts a
// consumer of a new group that handles m0..m2 and is still handling m3
// (not committed) when holdThird returns.
func holdThird(tb testing.TB, cfg bus.Config) (topic, group string, c *bustest.Running) {
	tb.Helper()
	topic = bustest.CreateTopic(tb, cfg, 1)
	group = bustest.Unique(tb, "g")
	p := bustest.NewProducer(tb, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := range 5 {
		if err := p.Write(ctx, bus.Message{Topic: topic, Key: []byte("k"), Value: fmt.Appendf(nil, "m%d", i)}); err != nil {
			tb.Fatalf("write: %v", err)
		}
	}
	holding := make(chan struct{})
	var once sync.Once
	c = bustest.StartConsumer(tb, cfg, bus.ConsumerConfig{Group: group, Topic: topic}, p, func(ctx context.Context, m bus.Message) error {
		if string(m.Value) != "m3" {
			return nil
		}
		once.Do(func() { close(holding) })
		<-ctx.Done()
		return ctx.Err()
	}, nil)
	bustest.Wait(tb, holding, "m3 in the handler")
	return topic, group, c
}

// checkResumesAtThird checks, on a restarted broker, that the group of
// holdThird still has m3 and m4 to consume and gets m3 first.
func checkResumesAtThird(t *testing.T, cfg bus.Config, topic, group string) {
	t.Helper()
	if lag := bustest.TotalLag(t, cfg, group, topic); lag != 2 {
		t.Errorf("lag after restart = %d, want 2 (m0..m2 committed)", lag)
	}
	got := make(chan string, 10)
	bustest.StartConsumer(t, cfg, bus.ConsumerConfig{Group: group, Topic: topic}, bustest.NewProducer(t, cfg), func(_ context.Context, m bus.Message) error {
		got <- string(m.Value)
		return nil
	}, nil)
	for _, want := range []string{"m3", "m4"} {
		select {
		case v := <-got:
			if v != want {
				t.Errorf("after restart got %q, want %q", v, want)
			}
		case <-time.After(time.Minute):
			t.Fatalf("%s not delivered after restart", want)
		}
	}
}

func TestBrokerRestartKeepsTopicsRecordsAndOffsets(t *testing.T) {
	dir := t.TempDir()
	b := startBroker(t, dir)
	cfg := bus.Config{Brokers: []string{b.Addr()}}
	if err := bus.EnsureTopics(context.Background(), cfg); err != nil {
		t.Fatalf("EnsureTopics: %v", err)
	}
	topic, group, c := holdThird(t, cfg)
	c.Stop(t)
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	b = startBroker(t, dir)
	cfg = bus.Config{Brokers: []string{b.Addr()}}
	if err := bus.EnsureTopics(context.Background(), cfg); err != nil {
		t.Fatalf("EnsureTopics on restart: %v", err)
	}
	lag, err := bus.Lag(context.Background(), cfg, "nobody", bus.TopicCases)
	if err != nil || len(lag) != bus.DefaultPartitions {
		t.Errorf("after restart %s has partitions %v (err %v), want %d", bus.TopicCases, lag, err, bus.DefaultPartitions)
	}
	checkResumesAtThird(t, cfg, topic, group)
}

// TestBrokerSurvivesKill kills a process running the embedded broker and
// a consumer mid-message (SIGKILL: no Close, no flush) and checks that a
// new broker on the same directory has the records and the committed
// offsets.
func TestBrokerSurvivesKill(t *testing.T) {
	if os.Getenv("TOUSU_BUS_KILL_DIR") != "" {
		t.Skip("inside the helper process")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), "TOUSU_BUS_KILL_DIR="+dir)
	out, err := cmd.Output()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("helper did not die by SIGKILL: %v\n%s", err, out)
	}
	var topic, group string
	for line := range strings.Lines(string(out)) {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "HELD" {
			topic, group = f[1], f[2]
		}
	}
	if topic == "" {
		t.Fatalf("helper did not report its topic:\n%s", out)
	}
	b := startBroker(t, dir)
	checkResumesAtThird(t, bus.Config{Brokers: []string{b.Addr()}}, topic, group)
}

// TestKillHelper is the process TestBrokerSurvivesKill kills.
func TestKillHelper(t *testing.T) {
	dir := os.Getenv("TOUSU_BUS_KILL_DIR")
	if dir == "" {
		t.Skip("helper process of TestBrokerSurvivesKill")
	}
	b, err := bus.StartBroker(bus.BrokerConfig{Dir: dir}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	topic, group, _ := holdThird(t, bus.Config{Brokers: []string{b.Addr()}})
	fmt.Printf("HELD %s %s\n", topic, group)
	_ = os.Stdout.Sync()
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {}
}

// TestBrokerRestartForgetsMembers closes the broker while a consumer is
// still a member of its group: after the restart the group must have no
// members, so a new consumer joins without waiting for the old member's
// session to time out.
func TestBrokerRestartForgetsMembers(t *testing.T) {
	dir := t.TempDir()
	b := startBroker(t, dir)
	topic, group, c := holdThird(t, bus.Config{Brokers: []string{b.Addr()}})
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	c.Stop(t)

	b = startBroker(t, dir)
	cfg := bus.Config{Brokers: []string{b.Addr()}}
	g, err := bus.DescribeGroup(context.Background(), cfg, group)
	if err != nil {
		t.Fatalf("DescribeGroup: %v", err)
	}
	if len(g.Members) != 0 {
		t.Errorf("group after restart has members %+v, want none", g.Members)
	}
	checkResumesAtThird(t, cfg, topic, group)
}
