package bus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/tousu/tousu/internal/backoff"
)

// DefaultPartitionWatchInterval is how often a Follower looks for
// partitions added to its topic, when FollowerConfig leaves it zero.
const DefaultPartitionWatchInterval = 30 * time.Second

// FollowerConfig names the topic a Follower reads and tunes it. Zero
// durations mean their defaults.
type FollowerConfig struct {
	// Topic is the topic to follow.
	Topic string

	// MinBackoff and MaxBackoff bound the exponential backoff between
	// attempts of a transiently failing message and between failed broker
	// calls. Defaults 100ms and 10s, as for a Consumer.
	MinBackoff time.Duration
	MaxBackoff time.Duration
	// MaxWait is how long a fetch waits at the broker for new records.
	// Default 250ms.
	MaxWait time.Duration
	// PartitionWatchInterval is how often the Follower asks the broker for
	// the topic's partitions, to start reading partitions added since.
	// Default 30s.
	PartitionWatchInterval time.Duration
	// CaughtUp, when set, is called once per Run, from Run's goroutine,
	// when every message the topic held as Run started reading it has
	// been handled (done or rejected): from then on the follower's state
	// is at least as new as the topic was at its start. It is not called
	// if ctx ends first. On a compacted topic whose last record was
	// removed after it was counted, it may never be called; use it on
	// topics with time retention.
	CaughtUp func()
}

// Validate reports the first invalid field.
func (fc *FollowerConfig) Validate() error {
	if fc.Topic == "" {
		return errors.New("bus: follower: topic is required")
	}
	if err := checkNotNegative("follower", map[string]time.Duration{
		"min_backoff": fc.MinBackoff, "max_backoff": fc.MaxBackoff, "max_wait": fc.MaxWait,
		"partition_watch_interval": fc.PartitionWatchInterval,
	}); err != nil {
		return err
	}
	d := fc.withDefaults()
	return checkReading("follower", d.MinBackoff, d.MaxBackoff, d.MaxWait)
}

func (fc FollowerConfig) withDefaults() FollowerConfig {
	defaultDuration(&fc.MinBackoff, DefaultMinBackoff)
	defaultDuration(&fc.MaxBackoff, DefaultMaxBackoff)
	defaultDuration(&fc.MaxWait, DefaultMaxWait)
	defaultDuration(&fc.PartitionWatchInterval, DefaultPartitionWatchInterval)
	return fc
}

// backoff returns the pause before attempt+1 (see backoff.Capped).
func (fc FollowerConfig) backoff(attempt int) time.Duration {
	return backoff.Capped(fc.MinBackoff, fc.MaxBackoff, attempt)
}

// Follower reads every partition of one topic from its first retained
// offset and keeps following it, for state that every instance of a
// service needs whole (the agents' category corrections every router
// trains on), as opposed to a Consumer, whose group shares the partitions
// out. A Follower joins no consumer group and commits nothing: each Run
// reads the topic from the beginning again, which suits a small compacted
// topic whose latest record per key is the state.
//
// Run hands each message to the Handler with these rules, which differ
// from a Consumer's:
//   - The Handler is called from one goroutine, one message at a time, in
//     offset order within a partition; messages of different partitions
//     interleave in no particular order.
//   - Returning nil means done. Returning an error made by Reject (or
//     panicking) means the message can never be used: it is logged at
//     error level with its reason and skipped, so a bad message never
//     stalls following. It is not dead-lettered: every follower of the
//     topic, at every start, would write the same dead letter again.
//   - Any other error is transient: the same message is offered again
//     after a capped exponential backoff until it is done, rejected, or ctx
//     ends; meanwhile no other message is handled.
//   - The Handler must honour ctx and return promptly when it ends.
//     Because every Run starts from the first offset, the Handler sees
//     messages it saw before and must be idempotent.
//
// A Follower is immutable and safe for concurrent use; each Run is an
// independent reader of the whole topic.
type Follower struct {
	cfg     Config
	fc      FollowerConfig
	handler Handler
	logger  *zap.Logger
	metrics *followerMetrics
}

// NewFollower returns a Follower of fc.Topic on the brokers of cfg.
// Metrics are registered with reg (nil registers none). It connects to
// nothing until Run.
func NewFollower(cfg Config, fc FollowerConfig, h Handler, logger *zap.Logger, reg prometheus.Registerer) (*Follower, error) {
	cfg, err := cfg.ready()
	if err != nil {
		return nil, err
	}
	if err := fc.Validate(); err != nil {
		return nil, err
	}
	if h == nil {
		return nil, errors.New("bus: follower: handler is nil")
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	metrics, err := newFollowerMetrics(reg)
	if err != nil {
		return nil, err
	}
	return &Follower{cfg: cfg, fc: fc.withDefaults(), handler: h, logger: logger.With(zap.String("topic", fc.Topic)), metrics: metrics}, nil
}

// Run reads every partition of the topic from its first retained offset
// and hands the messages to the Handler until ctx ends; then it stops its
// readers, waits for them and returns nil. It blocks for as long as ctx
// lasts: broker errors (the topic missing, a broker down, a leader moving)
// are logged and retried with backoff, never returned. Partitions added to
// the topic are picked up within PartitionWatchInterval.
func (f *Follower) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait() // runs after cancel: the readers end with ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	msgs := make(chan kafka.Message)
	reading := map[int]bool{}
	// follow starts a reader for every partition not read yet; it reports
	// whether it learnt the partitions.
	follow := func(attempt int) bool {
		parts, err := f.partitions(ctx)
		if err != nil {
			if ctx.Err() == nil {
				f.metrics.errors.WithLabelValues(f.fc.Topic, "metadata").Inc()
				f.logger.Warn("cannot list the topic's partitions, retrying", zap.Int("attempt", attempt), zap.Error(err))
			}
			return false
		}
		for _, p := range parts {
			if !reading[p] {
				reading[p] = true
				wg.Go(func() { f.read(ctx, p, msgs) })
			}
		}
		return true
	}
	for attempt := 1; !follow(attempt); attempt++ {
		if !backoff.Sleep(ctx, f.fc.backoff(attempt)) {
			return nil
		}
	}
	f.logger.Debug("following", zap.Int("partitions", len(reading)))
	var behind map[int]int64 // partition -> the last offset to handle before CaughtUp
	if f.fc.CaughtUp != nil {
		var err error
		for attempt := 1; ; attempt++ {
			if behind, err = f.lastOffsets(ctx); err == nil {
				break
			}
			if ctx.Err() == nil {
				f.metrics.errors.WithLabelValues(f.fc.Topic, "metadata").Inc()
				f.logger.Warn("cannot list the topic's offsets, retrying", zap.Int("attempt", attempt), zap.Error(err))
			}
			if !backoff.Sleep(ctx, f.fc.backoff(attempt)) {
				return nil
			}
		}
	}
	// caughtUp calls CaughtUp once nothing is behind; handled is the
	// offset of partition just handled (-1, -1: none).
	caughtUp := func(partition int, handled int64) {
		if behind == nil {
			return
		}
		if last, ok := behind[partition]; ok && handled >= last {
			delete(behind, partition)
		}
		if len(behind) == 0 {
			behind = nil
			f.fc.CaughtUp()
		}
	}
	caughtUp(-1, -1)

	watch := time.NewTicker(f.fc.PartitionWatchInterval)
	defer watch.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case km := <-msgs:
			f.process(ctx, km)
			if ctx.Err() == nil {
				caughtUp(km.Partition, km.Offset)
			}
		case <-watch.C:
			follow(1)
		}
	}
}

// lastOffsets returns the offset of the last message of each non-empty
// partition of the topic.
func (f *Follower) lastOffsets(ctx context.Context) (map[int]int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	client, release := newClient(f.cfg)
	defer release()
	_, first, next, err := offsetRanges(ctx, client, f.fc.Topic)
	if err != nil {
		return nil, fmt.Errorf("bus: follower: %s: %w", f.fc.Topic, err)
	}
	last := map[int]int64{}
	for p, n := range next {
		if n > first[p] {
			last[p] = n - 1
		}
	}
	return last, nil
}

// partitions asks the broker for the topic's partitions, in order.
func (f *Follower) partitions(ctx context.Context) ([]int, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	client, release := newClient(f.cfg)
	defer release()
	parts, err := partitionsOf(ctx, client, f.fc.Topic)
	if err != nil {
		return nil, fmt.Errorf("bus: follower: partitions of %s: %w", f.fc.Topic, err)
	}
	if len(parts) == 0 {
		return nil, fmt.Errorf("bus: follower: topic %s has no partitions", f.fc.Topic)
	}
	slices.Sort(parts)
	return parts, nil
}

// read fetches one partition from its first offset and sends the messages
// to out until ctx ends.
func (f *Follower) read(ctx context.Context, partition int, out chan<- kafka.Message) {
	log := f.logger.With(zap.Int("partition", partition))
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:         f.cfg.Brokers,
		Topic:           f.fc.Topic,
		Partition:       partition,
		Dialer:          f.cfg.dialer(),
		MinBytes:        1,
		MaxBytes:        10 << 20,
		MaxWait:         f.fc.MaxWait,
		ReadLagInterval: -1,
		ReadBackoffMin:  50 * time.Millisecond,
		ReadBackoffMax:  time.Second,
		Logger:          kafkaLogger(log, zapcore.DebugLevel),
		ErrorLogger:     kafkaLogger(log, zapcore.WarnLevel),
	})
	defer r.Close()
	if err := r.SetOffset(kafka.FirstOffset); err != nil {
		log.Error("cannot start reading the partition", zap.Error(err)) // only when closed
		return
	}
	failures := 0
	for {
		km, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, io.EOF) {
				return
			}
			failures++
			f.metrics.errors.WithLabelValues(f.fc.Topic, "fetch").Inc()
			delay := f.fc.backoff(failures)
			log.Warn("fetch failed, retrying", zap.Int("attempt", failures), zap.Duration("backoff", delay), zap.Error(err))
			if !backoff.Sleep(ctx, delay) {
				return
			}
			continue
		}
		failures = 0
		select {
		case out <- km:
		case <-ctx.Done():
			return
		}
	}
}

// process hands one message to the Handler until it is done or rejected,
// or ctx ends.
func (f *Follower) process(ctx context.Context, km kafka.Message) {
	m := fromKafka(km)
	log := f.logger.With(zap.Int("partition", m.Partition), zap.Int64("offset", m.Offset))
	for attempt := 1; ; attempt++ {
		err := f.call(ctx, m, log)
		switch {
		case err == nil:
			f.metrics.handled.WithLabelValues(f.fc.Topic).Inc()
			return
		case IsRejected(err):
			f.metrics.rejected.WithLabelValues(f.fc.Topic).Inc()
			log.Error("message rejected; skipping it", zap.ByteString("key", m.Key), zap.Error(err))
			return
		case ctx.Err() != nil:
			return
		}
		f.metrics.retried.WithLabelValues(f.fc.Topic).Inc()
		delay := f.fc.backoff(attempt)
		log.Warn("handler failed, retrying", zap.Int("attempt", attempt), zap.Duration("backoff", delay), zap.Error(err))
		if !backoff.Sleep(ctx, delay) {
			return
		}
	}
}

// call runs the handler once, turning a panic into a rejection.
func (f *Follower) call(ctx context.Context, m Message, log *zap.Logger) (err error) {
	defer func() {
		if r := recover(); r != nil {
			log.Error("handler panicked", zap.Any("panic", r), zap.ByteString("stack", debug.Stack()))
			err = Reject(fmt.Errorf("handler panic: %v", r))
		}
	}()
	return f.handler(ctx, m)
}

// followerMetrics are the metrics of Followers, labelled by topic.
type followerMetrics struct {
	handled  *prometheus.CounterVec
	rejected *prometheus.CounterVec
	retried  *prometheus.CounterVec
	errors   *prometheus.CounterVec
}

func newFollowerMetrics(reg prometheus.Registerer) (*followerMetrics, error) {
	counter := func(name, help string, labels ...string) (*prometheus.CounterVec, error) {
		return register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels))
	}
	var m followerMetrics
	var err, e error
	m.handled, e = counter("tousu_follower_messages_total", "Messages a follower's handler was done with (every run reads its topic from the start).", "topic")
	err = errors.Join(err, e)
	m.rejected, e = counter("tousu_follower_messages_rejected_total", "Messages a follower's handler rejected; they are logged and skipped.", "topic")
	err = errors.Join(err, e)
	m.retried, e = counter("tousu_follower_retries_total", "Handler attempts of a follower that failed transiently and were retried.", "topic")
	err = errors.Join(err, e)
	m.errors, e = counter("tousu_follower_errors_total", "Broker-side errors of followers by kind (metadata, fetch).", "topic", "kind")
	err = errors.Join(err, e)
	return &m, err
}
