package bus

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/internal/backoff"
)

// DeadLetterVersion is the payload version of a DeadLetter.
const DeadLetterVersion = 1

// DeadLetter is the payload written to complaints.dlq for a message a
// handler rejected. It carries the original bytes so the message can be
// inspected and replayed.
type DeadLetter struct {
	V int `json:"v"`
	// Topic, Partition and Offset locate the original message.
	Topic     string `json:"topic"`
	Partition int    `json:"partition"`
	Offset    int64  `json:"offset"`
	// Key is the original key (base64 in JSON, so any bytes survive).
	Key []byte `json:"key"`
	// Reason is the text of the error the handler rejected the message with.
	Reason string `json:"reason"`
	// Original is the original value (base64 in JSON). Of an original
	// too large to fit in a dead letter (see maxDeadLetterOriginal) it is
	// the first maxDeadLetterOriginal bytes and Truncated is set; the
	// whole stays at Topic, Partition and Offset while the topic retains
	// it, and OriginalSHA256 and OriginalSize identify it.
	Original []byte `json:"original"`
	// OriginalSize and OriginalSHA256 (hex) are the whole original's.
	OriginalSize   int    `json:"original_size"`
	OriginalSHA256 string `json:"original_sha256"`
	Truncated      bool   `json:"truncated,omitempty"`
	// Headers are the original headers.
	Headers map[string]string `json:"headers,omitempty"`
	// At is when the message was rejected (UTC).
	At time.Time `json:"at"`
	// Group is the consumer group whose handler rejected the message.
	Group string `json:"group"`
	// Source names where input that never reached a topic came from, such
	// as a mail an intake adapter quarantined ("imap:support"); Topic is
	// empty then.
	Source string `json:"source,omitempty"`
}

// maxDeadLetterOriginal bounds DeadLetter.Original: in base64, with the
// rest of the dead letter, it stays well below MaxRecordBytes, so the dead
// letter of a message of any size the broker took is itself writable.
const maxDeadLetterOriginal = 512 << 10

// maxDeadLetterText bounds the reason and each header of a dead letter, in
// bytes.
const maxDeadLetterText = 4 << 10

// newDeadLetter is the dead letter of m, rejected by group at when for
// reason: the original within maxDeadLetterOriginal bytes, with the whole
// original's size and SHA-256.
func newDeadLetter(m Message, reason, group string, at time.Time) DeadLetter {
	sum := sha256.Sum256(m.Value)
	dl := DeadLetter{
		V: DeadLetterVersion, Topic: m.Topic, Partition: m.Partition, Offset: m.Offset,
		Key: truncateBytes(m.Key, maxDeadLetterText), Reason: ingest.TruncateUTF8(reason, maxDeadLetterText),
		Original: m.Value, OriginalSize: len(m.Value), OriginalSHA256: hex.EncodeToString(sum[:]),
		At: at.UTC(), Group: group,
	}
	if len(m.Value) > maxDeadLetterOriginal {
		dl.Original, dl.Truncated = m.Value[:maxDeadLetterOriginal], true
	}
	if len(m.Headers) > 0 {
		dl.Headers = make(map[string]string, len(m.Headers))
		for k, v := range m.Headers {
			dl.Headers[ingest.TruncateUTF8(k, 256)] = ingest.TruncateUTF8(v, maxDeadLetterText)
		}
	}
	return dl
}

// truncateBytes returns at most n bytes of b.
func truncateBytes(b []byte, n int) []byte {
	return b[:min(len(b), n)]
}

// rejected marks a permanent handler error.
type rejected struct{ reason error }

func (r *rejected) Error() string { return r.reason.Error() }
func (r *rejected) Unwrap() error { return r.reason }

// Reject wraps reason as a permanent error. A Handler that returns it (or
// an error wrapping it) has its message written to the dead-letter topic
// with the error text as reason and the original bytes, after which the
// message is committed and the partition moves on.
func Reject(reason error) error {
	if reason == nil {
		reason = errors.New("rejected")
	}
	return &rejected{reason: reason}
}

// IsRejected reports whether err is, or wraps, an error made by Reject.
func IsRejected(err error) bool {
	var r *rejected
	return errors.As(err, &r)
}

// Handler processes one message.
//
// Returning nil means done: the offset is committed. Returning an error
// made by Reject means the message can never be processed: it is written
// to the dead-letter topic and committed. Any other error is transient: the
// same message is offered again after a capped exponential backoff, for as
// long as it takes; it is never skipped. A panic counts as a rejection with
// the panic text as reason.
//
// A Consumer calls its Handler from one goroutine, one message at a time,
// in partition order. The Handler must honour ctx: when ctx ends it should
// return ctx.Err() promptly, and the message is then not committed (it is
// delivered again later, possibly to another consumer). Because delivery
// is at least once, a Handler must be idempotent.
type Handler func(ctx context.Context, m Message) error

// BatchHandler processes messages fetched together, for stages whose
// effect is much cheaper in bulk (an index write). Returning nil means every
// message is done and they are committed together. On any error the
// Consumer handles the same messages again one by one with its Handler,
// which decides per message between done, rejected and retry; so a batch
// handler need not isolate a bad message itself. The rules of Handler on
// ctx and idempotency apply. It is called for one batch at a time, or,
// with ConsumerConfig.InFlight above 1, concurrently for up to that many;
// the Handler is still called from one goroutine.
type BatchHandler func(ctx context.Context, msgs []Message) error

// Defaults applied to zero fields of ConsumerConfig.
const (
	DefaultMinBackoff        = 100 * time.Millisecond
	DefaultMaxBackoff        = 10 * time.Second
	DefaultMaxWait           = 250 * time.Millisecond
	DefaultHeartbeatInterval = 250 * time.Millisecond
	DefaultSessionTimeout    = 10 * time.Second
	DefaultRebalanceTimeout  = 10 * time.Second
	DefaultJoinGroupBackoff  = 500 * time.Millisecond
	DefaultMaxBatch          = 500
	DefaultBatchWait         = 5 * time.Millisecond
	DefaultYieldWait         = 2 * time.Second
)

// ConsumerConfig names the group and topic of a Consumer and tunes it.
// Zero durations mean their defaults.
type ConsumerConfig struct {
	// Group is the consumer group id. Consumers of one group, in one
	// process or several, share the topic's partitions.
	Group string
	// Topic is the topic to read.
	Topic string
	// CoTopics are further topics the group reads together with Topic,
	// co-partitioned: partition i of every topic goes to the same member,
	// so a stage that keeps state by key can take its input from several
	// topics keyed alike (complaints and case actions by customer key).
	// The topics must have the same number of partitions.
	CoTopics []string
	// DeadLetterTopic receives rejected messages. Default TopicDLQ.
	DeadLetterTopic string

	// MinBackoff and MaxBackoff bound the exponential backoff between
	// attempts of a transiently failing message (and of a failing dead
	// letter write). Defaults 100ms and 10s.
	MinBackoff time.Duration
	MaxBackoff time.Duration

	// MaxWait is how long a fetch waits at the broker for new records.
	// Default 250ms.
	MaxWait time.Duration
	// HeartbeatInterval is how often the consumer tells the group
	// coordinator it is alive; it also bounds how fast it notices a
	// rebalance. Default 250ms.
	HeartbeatInterval time.Duration
	// SessionTimeout is how long the coordinator waits for a heartbeat
	// before it evicts a member (a crashed process). Brokers reject values
	// below their group.min.session.timeout.ms (6s by default). Default 10s.
	SessionTimeout time.Duration
	// RebalanceTimeout is how long the coordinator waits for members to
	// rejoin during a rebalance. Default 10s.
	RebalanceTimeout time.Duration
	// JoinGroupBackoff is the pause before joining again after a failed
	// join. Default 500ms.
	JoinGroupBackoff time.Duration

	// Batch, when set, receives up to MaxBatch messages at a time: after
	// the first, the Consumer takes what arrives within BatchWait of the
	// previous one, and while the batch cannot be handed over yet (InFlight
	// batches at the handler) everything that arrives. Defaults 500 and 5ms.
	Batch     BatchHandler
	MaxBatch  int
	BatchWait time.Duration
	// InFlight, with Batch, is how many batches may be at the BatchHandler
	// at once. Default 1: one batch at a time, in partition order, while
	// the next one is fetched. Above 1 the Consumer hands over the next
	// batch while earlier ones are still being handled, and finishes them
	// (commits, or handles their messages again one by one) strictly in the
	// order it fetched them, each only after every earlier batch was
	// finished; so an offset is committed only when every message up to it
	// is done. Messages of one key may then be handled in any order across
	// batches: only a BatchHandler whose effect does not depend on the
	// order (a write versioned by the record, as the search index's) may
	// set it above 1, and it must be safe for concurrent calls.
	InFlight int
	// Intake, with Batch, is the intake of the process the Consumer runs
	// in. While it is busy (Intake.Busy), a batch is not handed over
	// until YieldWait has passed since its first message or the intake is
	// no longer busy; meanwhile it keeps filling up to MaxBatch. So the
	// stage leaves the cores to the submissions, whose answers wait for
	// the broker's acknowledgement, and catches up afterwards in fewer,
	// larger batches; under an intake that stays busy it still hands over
	// a batch every YieldWait. Nil: never busy. YieldWait defaults to 2s.
	Intake    *Intake
	YieldWait time.Duration
}

// Validate reports the first invalid field.
func (cc *ConsumerConfig) Validate() error {
	if cc.Group == "" {
		return errors.New("bus: consumer: group is required")
	}
	if cc.Topic == "" {
		return errors.New("bus: consumer: topic is required")
	}
	if slices.Contains(cc.CoTopics, cc.Topic) || slices.Contains(cc.CoTopics, "") {
		return errors.New("bus: consumer: co-topics must be named and differ from topic")
	}
	if err := checkNotNegative("consumer", map[string]time.Duration{
		"min_backoff": cc.MinBackoff, "max_backoff": cc.MaxBackoff, "max_wait": cc.MaxWait,
		"heartbeat_interval": cc.HeartbeatInterval, "session_timeout": cc.SessionTimeout,
		"rebalance_timeout": cc.RebalanceTimeout, "join_group_backoff": cc.JoinGroupBackoff,
		"batch_wait": cc.BatchWait, "yield_wait": cc.YieldWait,
	}); err != nil {
		return err
	}
	if cc.MaxBatch < 0 {
		return fmt.Errorf("bus: consumer: max_batch must not be negative, got %d", cc.MaxBatch)
	}
	if cc.InFlight < 0 {
		return fmt.Errorf("bus: consumer: in_flight must not be negative, got %d", cc.InFlight)
	}
	d := cc.withDefaults()
	if d.HeartbeatInterval*3 > d.SessionTimeout {
		return fmt.Errorf("bus: consumer: heartbeat_interval %s must be at most a third of session_timeout %s", d.HeartbeatInterval, d.SessionTimeout)
	}
	return checkReading("consumer", d.MinBackoff, d.MaxBackoff, d.MaxWait)
}

// checkNotNegative reports the first negative duration of a reader's
// (who's) configuration, by its yaml name.
func checkNotNegative(who string, named map[string]time.Duration) error {
	names := slices.Sorted(maps.Keys(named))
	for _, name := range names {
		if d := named[name]; d < 0 {
			return fmt.Errorf("bus: %s: %s must not be negative, got %s", who, name, d)
		}
	}
	return nil
}

// checkReading checks the backoff bounds and fetch wait every reader of a
// topic needs, defaults applied.
func checkReading(who string, minBackoff, maxBackoff, maxWait time.Duration) error {
	if minBackoff > maxBackoff {
		return fmt.Errorf("bus: %s: min_backoff %s exceeds max_backoff %s", who, minBackoff, maxBackoff)
	}
	if maxWait < 10*time.Millisecond {
		return fmt.Errorf("bus: %s: max_wait %s is below 10ms", who, maxWait)
	}
	return nil
}

// defaultDuration sets *d to v when it is zero.
func defaultDuration(d *time.Duration, v time.Duration) {
	if *d == 0 {
		*d = v
	}
}

func (cc ConsumerConfig) withDefaults() ConsumerConfig {
	if cc.DeadLetterTopic == "" {
		cc.DeadLetterTopic = TopicDLQ
	}
	defaultDuration(&cc.MinBackoff, DefaultMinBackoff)
	defaultDuration(&cc.MaxBackoff, DefaultMaxBackoff)
	defaultDuration(&cc.MaxWait, DefaultMaxWait)
	defaultDuration(&cc.HeartbeatInterval, DefaultHeartbeatInterval)
	defaultDuration(&cc.SessionTimeout, DefaultSessionTimeout)
	defaultDuration(&cc.RebalanceTimeout, DefaultRebalanceTimeout)
	defaultDuration(&cc.JoinGroupBackoff, DefaultJoinGroupBackoff)
	defaultDuration(&cc.BatchWait, DefaultBatchWait)
	defaultDuration(&cc.YieldWait, DefaultYieldWait)
	if cc.MaxBatch == 0 {
		cc.MaxBatch = DefaultMaxBatch
	}
	if cc.InFlight == 0 || cc.Batch == nil {
		cc.InFlight = 1
	}
	return cc
}

// backoff returns the pause before attempt+1 (see backoff.Capped).
func (cc ConsumerConfig) backoff(attempt int) time.Duration {
	return backoff.Capped(cc.MinBackoff, cc.MaxBackoff, attempt)
}

// Consumer reads one topic as a member of a consumer group and hands each
// message to its Handler, committing offsets only after the Handler is done
// with a message (see Handler for the rules).
//
// It uses a kafka-go Reader with FetchMessage and synchronous
// CommitMessages (CommitInterval 0): nothing is committed before it was
// handled. A new group starts at the oldest retained record. When the
// group rebalances, messages fetched but not yet committed may be
// delivered again to the partition's new owner.
//
// A Consumer handles one message (or, with a BatchHandler, one batch, or up
// to InFlight batches) at a time, so a message being retried also holds up
// the other partitions this Consumer owns. For parallelism
// run more Consumers of the group (in one process or several), up to the
// topic's partition count.
type Consumer struct {
	cc       ConsumerConfig
	reader   *kafka.Reader
	producer *Producer
	handler  Handler
	logger   *zap.Logger
	metrics  *consumerMetrics
	labels   prometheus.Labels

	closeOnce sync.Once
	closed    chan struct{}
	mu        sync.Mutex // guards running
	running   bool
	runWG     sync.WaitGroup
}

// NewConsumer returns a Consumer of cc.Group on cc.Topic. Rejected
// messages are written with producer, which the caller keeps open until
// the Consumer is closed. Metrics are registered with reg (nil registers
// none). The Consumer joins the group in the background as soon as it is
// created; Run processes messages.
func NewConsumer(cfg Config, cc ConsumerConfig, producer *Producer, h Handler, logger *zap.Logger, reg prometheus.Registerer) (*Consumer, error) {
	cfg, err := cfg.ready()
	if err != nil {
		return nil, err
	}
	if err := cc.Validate(); err != nil {
		return nil, err
	}
	if producer == nil {
		return nil, errors.New("bus: consumer: a producer is required for dead letters")
	}
	if h == nil {
		return nil, errors.New("bus: consumer: handler is nil")
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	cc = cc.withDefaults()
	metrics, err := newConsumerMetrics(reg)
	if err != nil {
		return nil, err
	}
	topics := strings.Join(append([]string{cc.Topic}, cc.CoTopics...), ",")
	logger = logger.With(zap.String("group", cc.Group), zap.String("topic", topics))
	rc := kafka.ReaderConfig{
		Brokers:                cfg.Brokers,
		GroupID:                cc.Group,
		Topic:                  cc.Topic,
		Dialer:                 cfg.dialer(),
		MinBytes:               1,
		MaxBytes:               10 << 20,
		MaxWait:                cc.MaxWait,
		ReadLagInterval:        -1,
		HeartbeatInterval:      cc.HeartbeatInterval,
		CommitInterval:         0, // synchronous commits
		PartitionWatchInterval: 10 * time.Second,
		WatchPartitionChanges:  true,
		SessionTimeout:         cc.SessionTimeout,
		RebalanceTimeout:       cc.RebalanceTimeout,
		JoinGroupBackoff:       cc.JoinGroupBackoff,
		StartOffset:            kafka.FirstOffset,
		ReadBackoffMin:         50 * time.Millisecond,
		ReadBackoffMax:         time.Second,
		Logger:                 kafkaLogger(logger, zapcore.DebugLevel),
		ErrorLogger:            kafkaLogger(logger, zapcore.WarnLevel),
	}
	if len(cc.CoTopics) > 0 {
		rc.Topic = ""
		rc.GroupTopics = append([]string{cc.Topic}, cc.CoTopics...)
		rc.GroupBalancers = []kafka.GroupBalancer{coPartitioned{}}
	}
	if err := rc.Validate(); err != nil {
		return nil, fmt.Errorf("bus: consumer: %w", err)
	}
	return &Consumer{
		cc:       cc,
		reader:   kafka.NewReader(rc),
		producer: producer,
		handler:  h,
		logger:   logger,
		metrics:  metrics,
		labels:   prometheus.Labels{"group": cc.Group, "topic": topics},
		closed:   make(chan struct{}),
	}, nil
}

// errFatal marks errors that end Run.
type errFatal struct{ err error }

func (e errFatal) Error() string { return e.err.Error() }
func (e errFatal) Unwrap() error { return e.err }

// Run fetches and handles messages until ctx ends or Close is called, and
// then returns nil. It returns an error only when it cannot go on: a second
// concurrent Run, or a producer closed under it so rejected messages
// cannot be dead-lettered. Errors of the broker connection are logged and
// retried, not returned. Call Run once.
func (c *Consumer) Run(ctx context.Context) error {
	c.mu.Lock()
	select {
	case <-c.closed:
		c.mu.Unlock()
		return nil
	default:
	}
	if c.running {
		c.mu.Unlock()
		return errors.New("bus: consumer: Run called twice")
	}
	c.running = true
	c.runWG.Add(1)
	c.mu.Unlock()
	defer c.runWG.Done()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { // Close cancels Run
		select {
		case <-c.closed:
			cancel()
		case <-ctx.Done():
		}
	}()

	var handle func(context.Context, []kafka.Message) error
	if c.cc.Batch != nil {
		handle = c.handleBatch
	}
	flights := newInOrder(ctx, c.cc.InFlight, handle, c.finish)
	stop := func() error {
		err := flights.Close()
		var fatal errFatal
		if errors.As(err, &fatal) {
			c.logger.Error("consumer stopped", zap.Error(err))
			return err
		}
		return nil // ctx ended
	}
	fetchFailures := 0
	for {
		km, err := c.reader.FetchMessage(flights.ctx)
		if err != nil {
			if flights.ctx.Err() != nil || errors.Is(err, io.EOF) {
				return stop()
			}
			fetchFailures++
			c.metrics.errors.WithLabelValues(c.cc.Group, c.labels["topic"], "fetch").Inc()
			delay := c.cc.backoff(fetchFailures)
			c.logger.Warn("fetch failed, retrying", zap.Int("attempt", fetchFailures), zap.Duration("backoff", delay), zap.Error(err))
			if !backoff.Sleep(flights.ctx, delay) {
				return stop()
			}
			continue
		}
		fetchFailures = 0
		batch := c.fill(flights, km)
		c.metrics.consumed.With(c.labels).Add(float64(len(batch)))
		if !flights.Start(batch) {
			return stop()
		}
	}
}

// fill returns first and, with a BatchHandler, the messages that follow
// within BatchWait of each other, up to MaxBatch. While every in-flight
// slot is taken, or while the intake is busy (for up to YieldWait after
// first), the batch keeps filling past a gap (see fillBatch); it returns
// only when the intake is no longer busy or YieldWait has passed.
func (c *Consumer) fill(flights *inOrder[kafka.Message], first kafka.Message) []kafka.Message {
	if c.cc.Batch == nil {
		return []kafka.Message{first}
	}
	yieldEnd := time.Now().Add(c.cc.YieldWait)
	busy := func() bool { return flights.Full() || c.cc.Intake.Busy() && time.Now().Before(yieldEnd) }
	batch := fillBatch(flights.ctx, first, c.cc.MaxBatch, c.cc.BatchWait, busy, c.reader.FetchMessage)
	c.cc.Intake.Wait(flights.ctx, yieldEnd)
	return batch
}

// fillBatch returns first and the messages fetch returns after it, up to
// max. A gap of wait without a message ends the batch, unless busy
// reports that the batch could not be handed over yet (every in-flight
// slot taken, or the intake busy): then it keeps taking what arrives, so
// that a slow handler gets few large batches rather than many small ones,
// and a batch is never held back for its size once busy is false. It ends
// early when ctx ends or fetch fails.
func fillBatch(ctx context.Context, first kafka.Message, max int, wait time.Duration, busy func() bool,
	fetch func(context.Context) (kafka.Message, error)) []kafka.Message {
	batch := []kafka.Message{first}
	for len(batch) < max {
		wctx, cancel := context.WithTimeout(ctx, wait)
		km, err := fetch(wctx)
		gap := errors.Is(wctx.Err(), context.DeadlineExceeded)
		cancel()
		if err != nil {
			if gap && ctx.Err() == nil && busy() {
				continue
			}
			break
		}
		batch = append(batch, km)
	}
	return batch
}

// handleBatch hands a batch to the BatchHandler.
func (c *Consumer) handleBatch(ctx context.Context, batch []kafka.Message) error {
	msgs := make([]Message, len(batch))
	for i, km := range batch {
		msgs[i] = fromKafka(km)
	}
	return c.callBatch(ctx, msgs)
}

// finish commits a batch the BatchHandler is done with (err nil); else,
// each message goes through process. It returns what process returns.
func (c *Consumer) finish(ctx context.Context, batch []kafka.Message, err error) error {
	if err == nil {
		c.commit(ctx, batch...)
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if !errors.Is(err, errOneByOne) {
		c.logger.Info("batch failed; handling its messages one by one", zap.Int("messages", len(batch)), zap.Error(err))
	}
	for _, km := range batch {
		if err := c.process(ctx, km); err != nil {
			return err
		}
	}
	return nil
}

// callBatch runs the batch handler once; a panic is an error, after which
// every message is handled on its own.
func (c *Consumer) callBatch(ctx context.Context, msgs []Message) (err error) {
	start := time.Now()
	defer func() {
		c.metrics.duration.With(c.labels).Observe(time.Since(start).Seconds())
		if r := recover(); r != nil {
			c.logger.Error("batch handler panicked", zap.Any("panic", r), zap.ByteString("stack", debug.Stack()))
			err = fmt.Errorf("batch handler panic: %v", r)
		}
	}()
	return c.cc.Batch(ctx, msgs)
}

// process handles one message until it is done or rejected, then commits.
// It returns ctx.Err() when ctx ended first, or an errFatal.
func (c *Consumer) process(ctx context.Context, km kafka.Message) error {
	m := fromKafka(km)
	log := c.logger.With(zap.Int("partition", m.Partition), zap.Int64("offset", m.Offset))
	for attempt := 1; ; attempt++ {
		err := c.call(ctx, m, log)
		if err == nil {
			break
		}
		if IsRejected(err) {
			if err := c.deadLetter(ctx, m, err, log); err != nil {
				return err
			}
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		c.metrics.retried.With(c.labels).Inc()
		delay := c.cc.backoff(attempt)
		log.Warn("handler failed, retrying", zap.Int("attempt", attempt), zap.Duration("backoff", delay), zap.Error(err))
		if !backoff.Sleep(ctx, delay) {
			return ctx.Err()
		}
	}
	c.commit(ctx, km)
	return nil
}

// commit commits finished messages, even if ctx ended meanwhile, so they
// are not handled twice without need. A failed commit is not fatal: the
// messages are delivered again unless a later commit covers them.
func (c *Consumer) commit(ctx context.Context, kms ...kafka.Message) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := c.reader.CommitMessages(cctx, kms...); err != nil {
		c.metrics.errors.WithLabelValues(c.cc.Group, c.labels["topic"], "commit").Inc()
		c.logger.Warn("commit failed; the messages may be delivered again", zap.Int("messages", len(kms)), zap.Error(err))
		return
	}
	c.metrics.committed.With(c.labels).Add(float64(len(kms)))
}

// call runs the handler once, turning a panic into a rejection.
func (c *Consumer) call(ctx context.Context, m Message, log *zap.Logger) (err error) {
	start := time.Now()
	defer func() {
		c.metrics.duration.With(c.labels).Observe(time.Since(start).Seconds())
		if r := recover(); r != nil {
			log.Error("handler panicked; rejecting the message", zap.Any("panic", r), zap.ByteString("stack", debug.Stack()))
			err = Reject(fmt.Errorf("handler panic: %v", r))
		}
	}()
	return c.handler(ctx, m)
}

// deadLetter writes m with reason to the dead-letter topic, retrying
// until it succeeds. It returns ctx.Err() if ctx ended first, or an
// errFatal if the producer is closed.
func (c *Consumer) deadLetter(ctx context.Context, m Message, reason error, log *zap.Logger) error {
	if m.Topic == c.cc.DeadLetterTopic {
		// Never feed the dead-letter topic to itself.
		log.Error("message of the dead-letter topic rejected; dropping it", zap.Error(reason))
		return nil
	}
	payload, err := ingest.EncodeJSON(newDeadLetter(m, reason.Error(), c.cc.Group, time.Now()))
	if err != nil {
		return errFatal{fmt.Errorf("bus: encode dead letter: %w", err)}
	}
	dl := Message{Topic: c.cc.DeadLetterTopic, Key: m.Key, Value: payload}
	for attempt := 1; ; attempt++ {
		err := c.producer.Write(ctx, dl)
		if err == nil {
			c.metrics.deadLettered.With(c.labels).Inc()
			log.Warn("message rejected and dead-lettered", zap.String("dead_letter_topic", c.cc.DeadLetterTopic), zap.Error(reason))
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if IsRejected(err) {
			// Cannot happen with a dead letter bounded as NewDeadLetter
			// bounds it and a broker's default limit; should the broker's
			// limit be lower, holding the partition forever would be worse.
			c.metrics.errors.WithLabelValues(c.cc.Group, c.labels["topic"], "dlq").Inc()
			log.Error("the broker refuses the dead letter; dropping the message", zap.NamedError("reason", reason), zap.Error(err))
			return nil
		}
		if errors.Is(err, io.ErrClosedPipe) {
			return errFatal{fmt.Errorf("bus: dead letter for %s/%d@%d: producer closed: %w", m.Topic, m.Partition, m.Offset, err)}
		}
		c.metrics.errors.WithLabelValues(c.cc.Group, c.labels["topic"], "dlq").Inc()
		delay := c.cc.backoff(attempt)
		log.Warn("dead letter write failed, retrying", zap.Int("attempt", attempt), zap.Duration("backoff", delay), zap.Error(err))
		if !backoff.Sleep(ctx, delay) {
			return ctx.Err()
		}
	}
}

// Close stops Run (the message in flight is not committed), waits for it
// to return, and leaves the group so its partitions move to the other
// members at once. It is safe to call more than once.
func (c *Consumer) Close() error {
	var err error
	c.closeOnce.Do(func() {
		c.mu.Lock()
		close(c.closed)
		c.mu.Unlock()
		c.runWG.Wait()
		err = c.reader.Close()
	})
	return err
}

// sleep waits for d or until ctx ends; it reports whether d passed.

// coPartitioned assigns partition i of every topic to the same member: the
// members subscribed to a topic sorted by id, its partitions by number,
// each member taking a contiguous range. Members subscribed to the same
// topics with equal partition counts thus get the same partition numbers
// of each.
type coPartitioned struct{}

// ProtocolName implements kafka.GroupBalancer.
func (coPartitioned) ProtocolName() string { return "tousu-copartitioned" }

// UserData implements kafka.GroupBalancer.
func (coPartitioned) UserData() ([]byte, error) { return nil, nil }

// AssignGroups implements kafka.GroupBalancer.
func (coPartitioned) AssignGroups(members []kafka.GroupMember, partitions []kafka.Partition) kafka.GroupMemberAssignments {
	out := kafka.GroupMemberAssignments{}
	for _, m := range members {
		out[m.ID] = map[string][]int{}
	}
	byTopic := map[string][]int{}
	for _, p := range partitions {
		byTopic[p.Topic] = append(byTopic[p.Topic], p.ID)
	}
	for topic, ids := range byTopic {
		slices.Sort(ids)
		var subscribed []kafka.GroupMember
		for _, m := range members {
			if slices.Contains(m.Topics, topic) {
				subscribed = append(subscribed, m)
			}
		}
		slices.SortFunc(subscribed, func(a, b kafka.GroupMember) int { return cmp.Compare(a.ID, b.ID) })
		for i, m := range subscribed {
			lo, hi := i*len(ids)/len(subscribed), (i+1)*len(ids)/len(subscribed)
			if hi > lo {
				out[m.ID][topic] = append(out[m.ID][topic], ids[lo:hi]...)
			}
		}
	}
	return out
}
