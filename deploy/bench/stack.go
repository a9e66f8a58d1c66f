package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/tousu/tousu/services/app"
	"github.com/tousu/tousu/services/bus"
)

// benchToken is the admin API token of the tousu processes the harness
// starts.
const benchToken = "bench-admin-token-0123456789"

// stack is what one mode runs on: a broker, an index backend and a data
// directory for the tousu processes.
type stack struct {
	mode    string
	bus     bus.Config
	esURL   string // empty: Bleve
	prefix  string // the Elasticsearch index prefix of this run
	dir     string
	verbose bool
	// versions names the servers, for the report.
	versions []string
	close    func()
}

// startStack starts the broker (and index server) of mode.
func startStack(ctx context.Context, mode string, verbose bool) (*stack, error) {
	dir, err := os.MkdirTemp("", "tousu-bench-")
	if err != nil {
		return nil, err
	}
	s := &stack{mode: mode, dir: dir, bus: bus.DefaultConfig(), verbose: verbose}
	switch mode {
	case "embedded":
		broker, err := bus.StartBroker(bus.BrokerConfig{Dir: filepath.Join(dir, "broker")}, nil)
		if err != nil {
			return nil, err
		}
		s.bus.Brokers = []string{broker.Addr()}
		s.versions = []string{"embedded broker (franz-go kfake, with a data directory)", "Bleve (embedded)"}
		s.close = func() { broker.Close(); os.RemoveAll(dir) }
	case "distributed":
		env, err := devServices(ctx)
		if err != nil {
			return nil, err
		}
		s.bus.Brokers = []string{env["TOUSU_TEST_KAFKA"]}
		s.esURL = env["TOUSU_TEST_ES"]
		s.prefix = fmt.Sprintf("tousu-bench-%d", time.Now().Unix())
		s.versions = []string{"Apache Kafka " + envOr("TOUSU_DEV_KAFKA_VERSION", "4.1.1") + " (KRaft, one node)",
			"Elasticsearch " + envOr("TOUSU_DEV_ES_VERSION", "8.19.21") + " (one node, heap " + envOr("TOUSU_DEV_ES_HEAP", "512m") + ")"}
		s.close = func() { os.RemoveAll(dir) }
	default:
		return nil, fmt.Errorf("unknown mode %q (embedded or distributed)", mode)
	}
	if err := bus.EnsureTopics(ctx, s.bus); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// devServices starts Kafka and Elasticsearch with deploy/dev/services.sh
// (or finds them running) and returns the variables its env command
// prints.
func devServices(ctx context.Context) (map[string]string, error) {
	script, err := filepath.Abs(filepath.Join("deploy", "dev", "services.sh"))
	if err != nil {
		return nil, err
	}
	start := exec.CommandContext(ctx, script, "start")
	start.Stdout, start.Stderr = os.Stderr, os.Stderr
	if err := start.Run(); err != nil {
		return nil, fmt.Errorf("%s start: %w", script, err)
	}
	out, err := exec.CommandContext(ctx, script, "env").Output()
	if err != nil {
		return nil, fmt.Errorf("%s env: %w", script, err)
	}
	env := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "export "), "=")
		if ok {
			env[k] = strings.Trim(v, `'"`)
		}
	}
	if env["TOUSU_TEST_KAFKA"] == "" || env["TOUSU_TEST_ES"] == "" {
		return nil, fmt.Errorf("%s env printed neither Kafka nor Elasticsearch: %q", script, out)
	}
	return env, nil
}

// process is a tousu process of some targets, run in this one.
type process struct {
	*app.Process
	base   string
	cancel context.CancelFunc
	done   chan error
	// stopped is closed by stop.
	stopped chan struct{}
}

// startTousu starts the targets (e.g. "normalizer,router", "all") on the
// stack, with the code path of `tousu serve -target`.
func (s *stack) startTousu(ctx context.Context, targets string) (*process, error) {
	cfg, err := app.Load("", []string{app.EnvBootstrapToken + "=" + benchToken, "TOUSU_SECRET=bench-server-secret-0123456789abcdef"}, func(c *app.Config) {
		c.DataDir, c.HTTP.Listen = s.dir, "127.0.0.1:0"
		c.Bus.Brokers = s.bus.Brokers
		c.Log.Level = "warn"
		if s.esURL != "" {
			replicas := 0
			c.Index.Backend = "elasticsearch"
			c.Index.Elasticsearch.URLs = []string{s.esURL}
			c.Index.Elasticsearch.IndexPrefix = s.prefix
			c.Index.Elasticsearch.Replicas = &replicas
		}
	})
	if err != nil {
		return nil, err
	}
	list, err := app.ParseTargets(targets, false)
	if err != nil {
		return nil, err
	}
	logger := zap.NewNop()
	if s.verbose {
		logger = zap.New(zapcore.NewCore(zapcore.NewConsoleEncoder(zap.NewDevelopmentEncoderConfig()), zapcore.AddSync(os.Stderr), zapcore.WarnLevel))
	}
	pctx, cancel := context.WithCancel(ctx)
	p, err := app.Start(pctx, cfg, list, logger, io.Discard)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("start %s: %w", targets, err)
	}
	proc := &process{Process: p, base: "http://" + p.HTTPAddr(), cancel: cancel, done: make(chan error, 1), stopped: make(chan struct{})}
	go func() { proc.done <- p.Run(pctx) }()
	return proc, nil
}

// starter returns a start function for timed that runs the targets.
func (s *stack) starter(ctx context.Context, targets string) func() (func() error, error) {
	return func() (func() error, error) {
		p, err := s.startTousu(ctx, targets)
		if err != nil {
			return nil, err
		}
		return p.stop, nil
	}
}

// stopOnce stops the process unless it was stopped.
func (p *process) stopOnce() {
	select {
	case <-p.stopped:
	default:
		p.stop()
	}
}

// stop ends the process and waits for it; call it once.
func (p *process) stop() error {
	defer close(p.stopped)
	p.cancel()
	err := <-p.done
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// groupTopic is a consumer group and a topic it reads.
type groupTopic struct{ group, topic string }

// lag sums the lag of the groups on their topics, upstream first: when
// every stage upstream of one had no lag when it was read, what that stage
// still has to do is in its own lag.
func (s *stack) lag(ctx context.Context, chain []groupTopic) (int64, error) {
	var sum int64
	for _, gt := range chain {
		l, err := bus.Lag(ctx, s.bus, gt.group, gt.topic)
		// bus.Lag rides out a coordinator's short moves; on a busy node
		// loading the group's offsets takes longer: ask again for 30 s.
		for tries := 0; tries < 30 && err != nil; tries++ {
			select {
			case <-ctx.Done():
				return 0, ctx.Err()
			case <-time.After(time.Second):
			}
			l, err = bus.Lag(ctx, s.bus, gt.group, gt.topic)
		}
		if err != nil {
			return 0, fmt.Errorf("lag of %s on %s: %w", gt.group, gt.topic, err)
		}
		for _, v := range l {
			sum += v
		}
	}
	return sum, nil
}

// drain waits until the chain's lag is zero and returns how long that took
// from since. A chain whose lag does not move for idle fails.
func (s *stack) drain(ctx context.Context, chain []groupTopic, since time.Time, idle time.Duration) (time.Duration, error) {
	last, lastMove := int64(-1), time.Now()
	for {
		l, err := s.lag(ctx, chain)
		if err != nil {
			return 0, err
		}
		now := time.Now()
		if l == 0 {
			return now.Sub(since), nil
		}
		if l != last {
			last, lastMove = l, now
		}
		if now.Sub(lastMove) > idle {
			return 0, fmt.Errorf("lag stuck at %d for %s", l, idle)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// timed starts what handles the chain's records (start) and returns how
// many records the chain had when it started (its lag: records no group
// of the chain has committed) and how long until it had none, from when
// start returned: joining the groups is included, starting the process
// (opening its stores, loading its policies) is not, as the direct
// loaders' timings leave out creating their index; the CPU time it
// reports is over the same span.
func (s *stack) timed(ctx context.Context, chain []groupTopic, start func() (stop func() error, err error)) (rate, error) {
	n, err := s.lag(ctx, chain)
	if err != nil {
		return rate{}, err
	}
	stop, err := start()
	if err != nil {
		return rate{}, err
	}
	clock := startMeter()
	d, err := s.drain(ctx, chain, clock.start, idle)
	r := clock.rate(n, 0)
	r.d = d
	if stopErr := stop(); err == nil {
		err = stopErr
	}
	return r, err
}

// endOffsets returns the next offset of every partition of topic.
func (s *stack) endOffsets(ctx context.Context, topic string) (map[int]int64, error) {
	client := &kafka.Client{Addr: kafka.TCP(s.bus.Brokers...), Timeout: 10 * time.Second}
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, err
	}
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for _, t := range meta.Topics {
		for _, p := range t.Partitions {
			req.Topics[topic] = append(req.Topics[topic], kafka.LastOffsetOf(p.ID))
		}
	}
	res, err := client.ListOffsets(ctx, req)
	if err != nil {
		return nil, err
	}
	out := map[int]int64{}
	for _, p := range res.Topics[topic] {
		if p.Error != nil {
			return nil, p.Error
		}
		out[p.Partition] = p.LastOffset
	}
	return out, nil
}

// readRange returns the records of topic from the offsets from to the
// offsets to, partition by partition.
func (s *stack) readRange(ctx context.Context, topic string, from, to map[int]int64) ([]kafka.Message, error) {
	var out []kafka.Message
	for p, end := range to {
		start := from[p]
		if start >= end {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: s.bus.Brokers, Topic: topic, Partition: p, MinBytes: 1, MaxBytes: 10 << 20, MaxWait: 100 * time.Millisecond})
		if err := r.SetOffset(start); err != nil {
			r.Close()
			return nil, err
		}
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				r.Close()
				return nil, fmt.Errorf("read %s/%d: %w", topic, p, err)
			}
			out = append(out, m)
			if m.Offset+1 >= end {
				break
			}
		}
		r.Close()
	}
	return out, nil
}
