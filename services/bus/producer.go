package bus

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// MaxRecordBytes is the largest message the Producer sends (its key,
// value and headers): Kafka's default message.max.bytes, which kfake
// shares. A larger one is refused without being sent (see Write). Stages
// keep what they write well below it.
const MaxRecordBytes = 1 << 20

// Producer writes messages to the broker through one kafka-go Writer. A
// process shares one Producer between all its services: kafka-go batches
// concurrent writes to the same partition together, so sharing is what
// makes synchronous writes fast.
//
// The writer is configured for durability and low latency:
//   - RequiredAcks is RequireAll: a write returns only after every in-sync
//     replica has the messages (acks=all).
//   - BatchTimeout is Config.BatchTimeout (default 5ms, not kafka-go's 1s).
//   - Async is false: every error reaches the caller.
//   - AllowAutoTopicCreation is false: topics are created by EnsureTopics
//     or CreateTopics; writing to an unknown topic fails.
//   - The partition of a keyed message is murmur2(key) mod partitions, the
//     same as Java's default partitioner (and franz-go's), so tousu and
//     any Java or librdkafka producer place a key on the same partition.
//     A message with a nil key goes to a random partition.
type Producer struct {
	w       *kafka.Writer
	tr      *kafka.Transport
	logger  *zap.Logger
	metrics *producerMetrics
}

// NewProducer returns a Producer for the brokers of cfg. Metrics are
// registered with reg (nil registers none). The Producer connects lazily,
// on the first Write.
func NewProducer(cfg Config, logger *zap.Logger, reg prometheus.Registerer) (*Producer, error) {
	cfg, err := cfg.ready()
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	metrics, err := newProducerMetrics(reg)
	if err != nil {
		return nil, err
	}
	tr := cfg.transport(&kafka.Transport{})
	w := &kafka.Writer{
		Addr:                   kafka.TCP(cfg.Brokers...),
		Balancer:               &partitionKeyBalancer{},
		RequiredAcks:           kafka.RequireAll,
		BatchTimeout:           cfg.BatchTimeout,
		BatchSize:              1000,
		BatchBytes:             MaxRecordBytes,
		Async:                  false,
		AllowAutoTopicCreation: false,
		Transport:              roundTripper{tr, cfg.sec},
		ErrorLogger:            kafkaLogger(logger, zapcore.WarnLevel),
	}
	return &Producer{w: w, tr: tr, logger: logger, metrics: metrics}, nil
}

// Write writes msgs and blocks until every one of them is acknowledged by
// all in-sync replicas, or until a write failed or ctx ended. Every message
// must name its Topic; the Key chooses the partition, and messages with the
// same key on the same topic keep their order. On error some messages may
// have been written anyway: writing again is the caller's retry, so
// consumers must tolerate duplicates. Write is safe for concurrent use.
//
// When the broker (or the writer, before sending) refuses every failed
// message for good, because it is larger than the record limit
// (MaxRecordBytes by default) or invalid, writing it again can never
// succeed: the error then satisfies IsRejected, so a Handler that returns
// it (wrapped or not) has its input dead-lettered instead of retried.
func (p *Producer) Write(ctx context.Context, msgs ...Message) error {
	if len(msgs) == 0 {
		return nil
	}
	kms := make([]kafka.Message, len(msgs))
	for i, m := range msgs {
		if m.Topic == "" {
			return fmt.Errorf("bus: write: message %d has no topic", i)
		}
		kms[i] = toKafka(m)
	}
	start := time.Now()
	err := p.w.WriteMessages(ctx, kms...)
	p.metrics.latency.Observe(time.Since(start).Seconds())

	var werrs kafka.WriteErrors
	switch {
	case err == nil:
		for _, m := range msgs {
			p.metrics.messages.WithLabelValues(m.Topic).Inc()
		}
		return nil
	case errors.As(err, &werrs) && len(werrs) == len(msgs):
		failed := 0
		var first error
		for i, m := range msgs {
			if werrs[i] == nil {
				p.metrics.messages.WithLabelValues(m.Topic).Inc()
				continue
			}
			failed++
			if first == nil {
				first = werrs[i]
			}
			p.metrics.errors.WithLabelValues(m.Topic).Inc()
		}
		err = fmt.Errorf("bus: write: %d of %d messages failed: %w", failed, len(msgs), first)
		if !slices.ContainsFunc(werrs, func(e error) bool { return e != nil && !refused(e) }) {
			return Reject(err)
		}
		return err
	default:
		for _, m := range msgs {
			p.metrics.errors.WithLabelValues(m.Topic).Inc()
		}
		if refused(err) {
			return Reject(fmt.Errorf("bus: write %d messages: %w", len(msgs), err))
		}
		return fmt.Errorf("bus: write %d messages: %w", len(msgs), err)
	}
}

// refusedErrors are the broker's answers to a record it will never take;
// kafka-go's own MessageTooLargeError (a message over the writer's
// BatchBytes) unwraps to MessageSizeTooLarge.
var refusedErrors = []error{kafka.MessageSizeTooLarge, kafka.RecordListTooLarge, kafka.InvalidMessage,
	kafka.InvalidMessageSize, kafka.InvalidRecord}

// refused reports whether err says the broker will never take the message.
func refused(err error) bool {
	return slices.ContainsFunc(refusedErrors, func(target error) bool { return errors.Is(err, target) })
}

// Close flushes pending batches, waits for writes in flight and releases
// the connections. Write returns an error after Close.
func (p *Producer) Close() error {
	err := p.w.Close()
	p.tr.CloseIdleConnections()
	return err
}

// kafkaLogger adapts a zap logger to kafka-go's Logger at a fixed level.
func kafkaLogger(l *zap.Logger, level zapcore.Level) kafka.Logger {
	return kafka.LoggerFunc(func(msg string, args ...any) {
		if !l.Core().Enabled(level) {
			return
		}
		l.Log(level, strings.TrimSpace(fmt.Sprintf(msg, args...)))
	})
}
