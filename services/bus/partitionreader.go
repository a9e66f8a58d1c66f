package bus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	"go.uber.org/zap"
)

// Limits of the requests of a PartitionReader.
const (
	// readerMaxBytes bounds the records one fetch returns (the broker still
	// returns a larger first batch whole, so a round always progresses).
	readerMaxBytes = 1 << 20
	// readerMaxWait is how long a fetch may wait at the broker for data.
	// Fetches ask for no minimum of bytes, so the broker answers at once
	// whether or not there is data; kafka-go cannot send a zero wait.
	readerMaxWait = time.Millisecond
	// readerRequestTimeout bounds every request, whatever the context says,
	// so a broker that stops answering cannot hold a call forever.
	readerRequestTimeout = 10 * time.Second
	// readerIdleTimeout is how long an unused connection stays open. It is
	// below Kafka's connections.max.idle.ms (10 minutes), so a connection
	// the broker closed is rarely met.
	readerIdleTimeout = 9 * time.Minute
	// readerMaxRestarts bounds how often one call restarts at the earliest
	// offset after an offset-out-of-range answer.
	readerMaxRestarts = 3
)

// errReaderClosed is returned by CatchUp after Close.
var errReaderClosed = errors.New("partition reader closed")

// PartitionReader reads single partitions of one topic from a given offset
// up to the partition's end (high watermark) as of the call. It is for
// stages that keep state from a changelog topic and catch up with one
// partition before handling input of the same partition (the router's
// per-customer state in router.state, co-partitioned with
// complaints.normalized). Unlike a Consumer it joins no group, commits
// nothing and keeps no position: the caller says where to start and
// remembers where it ended.
//
// The rules of CatchUp:
//   - Records are handed to fn one at a time, from the calling goroutine,
//     in offset order, each at most once per call. Offsets may have gaps
//     (compaction, transaction markers); control records are never handed
//     on. A tombstone (a record with a null value) arrives with Value nil;
//     an empty value is a non-nil empty slice. fn may keep the Message.
//   - The end is the high watermark the first answer of the broker
//     reports (or a lower one a new partition leader reports later);
//     records written after it are left for the next call, so a call ends
//     even while the partition keeps growing.
//   - next is the offset after the last record handed on, or the end when
//     all went well (also when the last records before the end were
//     compacted away), so the next call starts at next. A call with from
//     at the end costs one fetch request on an open connection and returns
//     from. Reading costs a fetch per 1 MiB of records (and per log
//     segment on Kafka); gaps cost
//     nothing more, except a batch whose last records were compacted away
//     and that ends a log segment: kafka-go does not show where such a
//     batch ends, so finding its end takes a few more fetches (log2 of the
//     distance to the end).
//   - from below the partition's log start offset (records deleted by
//     retention or DeleteRecords) starts at the earliest retained offset.
//     from beyond the partition's end (the topic was recreated or its log
//     truncated) also starts at the earliest retained offset, and is the
//     only case in which next can be below from; it is logged at warn
//     level. Either way the first record handed on shows where reading
//     started.
//   - When fn returns an error, CatchUp stops and returns that error as is,
//     with next the offset of the record fn failed on, so calling again
//     with that next offers the same record again.
//   - A failed broker request is repeated once on fresh connections (the
//     broker closed an idle connection, a partition leader moved); a
//     second failure is returned, naming topic and partition, with next
//     where reading stopped. Retrying is the caller's choice (a consumer
//     handler returns the error and its batch is retried with backoff).
//   - CatchUp blocks until it reached the end, failed, or ctx ended; when
//     ctx ends it returns an error wrapping ctx.Err(). Each request is
//     also bounded by 10s. The records are read uncommitted: the reader
//     is for topics written without transactions.
//
// A PartitionReader is safe for concurrent use by several goroutines, on
// the same partition or different ones: they share its connections and
// metrics, and each call is independent. It connects lazily, on the first
// CatchUp, and keeps its connections open between calls (idle ones for 9
// minutes); while it has them, kafka-go refreshes the topic's metadata
// every few seconds in the background.
type PartitionReader struct {
	cfg     Config
	topic   string
	logger  *zap.Logger
	metrics partitionReaderMetrics
	// connect returns a new transport and the function that releases it;
	// tests replace it.
	connect func() (kafka.RoundTripper, func())

	mu      sync.Mutex // guards the fields below
	closed  bool
	client  *kafka.Client
	release func()
}

// NewPartitionReader returns a PartitionReader of topic on the brokers of
// cfg. Its metrics (records read, requests, errors; labelled by topic) are
// registered with reg (nil registers none). It connects to nothing until
// the first CatchUp.
func NewPartitionReader(cfg Config, topic string, logger *zap.Logger, reg prometheus.Registerer) (*PartitionReader, error) {
	cfg, err := cfg.ready()
	if err != nil {
		return nil, err
	}
	if topic == "" {
		return nil, errors.New("bus: partition reader: topic is required")
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	metrics, err := newPartitionReaderMetrics(reg, topic)
	if err != nil {
		return nil, err
	}
	r := &PartitionReader{cfg: cfg, topic: topic, logger: logger.With(zap.String("topic", topic)), metrics: metrics}
	r.connect = func() (kafka.RoundTripper, func()) {
		tr := cfg.transport(&kafka.Transport{IdleTimeout: readerIdleTimeout, MetadataTopics: []string{topic}})
		return roundTripper{tr, cfg.sec}, tr.CloseIdleConnections
	}
	return r, nil
}

// Topic returns the topic the reader reads.
func (r *PartitionReader) Topic() string { return r.topic }

// CatchUp hands fn every record of partition from offset from up to the
// high watermark, in offset order, and returns the offset after the last
// record handed on (the high watermark when all went well). See
// PartitionReader for the rules on gaps, tombstones, offsets out of range,
// errors and ctx.
func (r *PartitionReader) CatchUp(ctx context.Context, partition int, from int64, fn func(Message) error) (next int64, err error) {
	switch {
	case partition < 0:
		return from, fmt.Errorf("bus: catch up %s: negative partition %d", r.topic, partition)
	case from < 0:
		return from, fmt.Errorf("bus: catch up %s partition %d: negative offset %d", r.topic, partition, from)
	case fn == nil:
		return from, fmt.Errorf("bus: catch up %s partition %d: fn is nil", r.topic, partition)
	}
	c := &catchUp{r: r, ctx: ctx, partition: partition, fn: fn, next: from, end: -1}
	return c.run()
}

// Close releases the connections. Calls in flight finish (give them a
// context to stop them sooner); later calls of CatchUp fail. Close is
// safe to call more than once.
func (r *PartitionReader) Close() error {
	r.mu.Lock()
	release := r.release
	r.closed, r.client, r.release = true, nil, nil
	r.mu.Unlock()
	if release != nil {
		release()
	}
	return nil
}

// acquire returns the current client, connecting a new one if there is
// none.
func (r *PartitionReader) acquire() (*kafka.Client, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, errReaderClosed
	}
	if r.client == nil {
		tr, release := r.connect()
		r.client = &kafka.Client{Addr: kafka.TCP(r.cfg.Brokers...), Transport: tr, Timeout: readerRequestTimeout}
		r.release = release
	}
	return r.client, nil
}

// reset drops failed, if it is still the current client, so the next
// request connects afresh and learns the cluster's layout again (kafka-go
// transports cache it).
func (r *PartitionReader) reset(failed *kafka.Client) {
	r.mu.Lock()
	if r.client != failed {
		r.mu.Unlock()
		return
	}
	release := r.release
	r.client, r.release = nil, nil
	r.mu.Unlock()
	release()
}

// call runs one request, and once more on a fresh client if it failed for
// another reason than ctx or an offset out of range.
func (r *PartitionReader) call(ctx context.Context, request func(*kafka.Client) error) error {
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		client, err := r.acquire()
		if err != nil {
			return err
		}
		r.metrics.requests.Inc()
		err = request(client)
		switch {
		case err == nil || errors.Is(err, kafka.OffsetOutOfRange):
			return err
		case ctx.Err() != nil:
			return ctx.Err()
		}
		r.metrics.errors.Inc()
		err = r.explain(ctx, client, err)
		r.reset(client)
		if attempt == 2 {
			return err
		}
		r.logger.Debug("request failed; repeating it on fresh connections", zap.Error(err))
	}
}

// explain adds the cause to an error saying that the client does not know
// the topic, partition or leader: the client cannot tell a topic missing
// from a cluster it could not ask.
func (r *PartitionReader) explain(ctx context.Context, client *kafka.Client, err error) error {
	if !errors.Is(err, protocol.ErrNoTopic) && !errors.Is(err, protocol.ErrNoPartition) && !errors.Is(err, protocol.ErrNoLeader) {
		return err
	}
	if _, merr := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{r.topic}}); merr != nil {
		return fmt.Errorf("%w (metadata: %w)", err, merr)
	}
	return err
}

// catchUp is the state of one CatchUp call.
type catchUp struct {
	r         *PartitionReader
	ctx       context.Context
	partition int
	fn        func(Message) error
	// next is the offset to read from: everything below it was handed on
	// or holds no record.
	next int64
	// end is the high watermark the call reads up to; -1 until known.
	end      int64
	restarts int
}

func (c *catchUp) errorf(format string, args ...any) error {
	return fmt.Errorf("bus: catch up %s partition %d: "+format, append([]any{c.r.topic, c.partition}, args...)...)
}

func (c *catchUp) run() (int64, error) {
	for {
		err := c.round()
		switch {
		case err == nil:
		case errors.Is(err, kafka.OffsetOutOfRange) && c.restarts < readerMaxRestarts:
			c.restarts++
			if err := c.restart(); err != nil {
				return c.next, err
			}
		default:
			return c.next, err
		}
		if c.end >= 0 && c.next >= c.end {
			return c.next, nil
		}
	}
}

// round fetches from next and hands on what the answer holds. Every
// successful round either moves next forward or reaches the end, so
// reading ends.
func (c *catchUp) round() error {
	resp, err := c.fetch(c.next)
	if err != nil {
		return err
	}
	if c.end < 0 || resp.HighWatermark < c.end {
		// The first answer sets the end; a lower one later means a new
		// leader that has not caught up yet, which serves no more.
		c.end = resp.HighWatermark
	}
	if c.next >= c.end {
		return nil
	}
	before := c.next
	batches, firstBase, err := c.hand(resp.Records)
	switch {
	case err != nil:
		return err
	case c.next > before:
		return nil
	case batches == 0 && resp.Throttle > 0:
		c.r.metrics.errors.Inc()
		return c.errorf("fetch at offset %d: throttled by a broker quota for %s", c.next, resp.Throttle)
	case batches == 0:
		// Nothing at or after next below the high watermark: the rest
		// was compacted away or deleted.
		c.next = c.end
		return nil
	case firstBase < 0:
		return c.errorf("fetch at offset %d: no progress in an answer of %d batches of unknown format", c.next, batches)
	default:
		return c.skipTail(firstBase)
	}
}

// fetch sends one fetch request for offset.
func (c *catchUp) fetch(offset int64) (*kafka.FetchResponse, error) {
	var resp *kafka.FetchResponse
	err := c.r.call(c.ctx, func(client *kafka.Client) error {
		var err error
		resp, err = client.Fetch(c.ctx, &kafka.FetchRequest{
			Topic:     c.r.topic,
			Partition: c.partition,
			Offset:    offset,
			MinBytes:  0,
			MaxBytes:  readerMaxBytes,
			MaxWait:   readerMaxWait,
		})
		if err == nil && resp.Error != nil {
			err = resp.Error
		}
		return err
	})
	if err != nil {
		return nil, c.errorf("fetch at offset %d: %w", offset, err)
	}
	return resp, nil
}

// hand hands the records of an answer at or after next and below the end
// to fn, moving next past them and past the gaps before each batch. It
// returns how many batches the answer held and the base offset of the
// first (-1 if unknown).
func (c *catchUp) hand(records kafka.RecordReader) (batches int, firstBase int64, err error) {
	firstBase = -1
	stream, ok := records.(*protocol.RecordStream)
	if !ok {
		// Not a decoded fetch answer; hand on what it holds.
		n, _, err := c.handBatch(records, -1, false)
		return n, -1, err
	}
	for i, batch := range stream.Records {
		base := int64(-1)
		control := false
		switch b := batch.(type) {
		case *protocol.RecordBatch:
			base = b.BaseOffset
		case *protocol.ControlBatch:
			base, control = b.BaseOffset, true
		}
		if i == 0 {
			firstBase = base
		}
		_, done, err := c.handBatch(batch, base, control)
		if err != nil || done {
			return len(stream.Records), firstBase, err
		}
	}
	return len(stream.Records), firstBase, nil
}

// handBatch hands on the records of one batch whose base offset is base
// (-1 if unknown; then no gap is skipped). A control batch's records only
// move next. It returns how many records the batch held and whether the
// end was reached.
func (c *catchUp) handBatch(batch kafka.RecordReader, base int64, control bool) (n int, done bool, err error) {
	if base > c.next {
		// Batches of a partition are contiguous: nothing lies between
		// the last batch handed on and this one.
		c.next = min(base, c.end)
	}
	for c.next < c.end {
		rec, err := batch.ReadRecord()
		if errors.Is(err, io.EOF) {
			return n, false, nil
		}
		if err != nil {
			return n, true, c.errorf("read record after offset %d: %w", c.next, err)
		}
		n++
		switch off := rec.Offset; {
		case off < c.next:
			closeRecord(rec) // a batch starts before the offset asked for
		case off >= c.end:
			closeRecord(rec)
			c.next = c.end
		case control:
			closeRecord(rec)
			c.next = off + 1
		default:
			m, err := c.message(rec)
			if err != nil {
				return n, true, c.errorf("read record at offset %d: %w", off, err)
			}
			c.r.metrics.records.Inc()
			if err := c.fn(m); err != nil {
				c.next = off
				return n, true, err
			}
			c.next = off + 1
		}
	}
	return n, true, nil
}

// skipTail moves next past the end of the batch based at base, which an
// answer returned alone and which holds no record at or after next: its
// last records were compacted away, and the batches after it are in the
// next log segment (a Kafka fetch reads one segment) or too large to fit.
// kafka-go does not expose a batch's last offset, so skipTail looks for it
// by bisection: a fetch at an offset the batch covers returns the batch
// first, one past it returns another batch or nothing. Every offset below
// the result is covered by the batch, so no record is skipped.
func (c *catchUp) skipTail(base int64) error {
	lo, hi := c.next, c.end // fetch(lo) returns the batch; the answer is in (lo, hi]
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		resp, err := c.fetch(mid)
		if err != nil {
			return err
		}
		if b, ok := firstBatchBase(resp.Records); ok && b == base {
			lo = mid
		} else {
			hi = mid
		}
	}
	c.next = hi
	return nil
}

// firstBatchBase returns the base offset of the first batch of records.
func firstBatchBase(records kafka.RecordReader) (int64, bool) {
	stream, ok := records.(*protocol.RecordStream)
	if !ok || len(stream.Records) == 0 {
		return 0, false
	}
	switch b := stream.Records[0].(type) {
	case *protocol.RecordBatch:
		return b.BaseOffset, true
	case *protocol.ControlBatch:
		return b.BaseOffset, true
	}
	return 0, false
}

// restart moves next to the earliest offset after the broker answered
// that next is out of range: below the log start offset or beyond the
// end.
func (c *catchUp) restart() error {
	var offsets kafka.PartitionOffsets
	err := c.r.call(c.ctx, func(client *kafka.Client) error {
		resp, err := client.ListOffsets(c.ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{
			c.r.topic: {kafka.FirstOffsetOf(c.partition), kafka.LastOffsetOf(c.partition)},
		}})
		if err != nil {
			return err
		}
		for _, po := range resp.Topics[c.r.topic] {
			if po.Partition == c.partition {
				offsets = po
				return po.Error
			}
		}
		return errors.New("no offsets for the partition in the answer")
	})
	if err != nil {
		return c.errorf("offset %d is out of range; list offsets: %w", c.next, err)
	}
	log := c.r.logger.With(zap.Int("partition", c.partition), zap.Int64("from", c.next),
		zap.Int64("log_start", offsets.FirstOffset), zap.Int64("end", offsets.LastOffset))
	switch {
	case c.next < offsets.FirstOffset:
		log.Info("offset below the log start (records deleted); reading from the earliest offset")
		c.next = offsets.FirstOffset
	case c.next > offsets.LastOffset:
		log.Warn("offset beyond the partition's end (topic recreated or log truncated); reading from the earliest offset")
		c.next = offsets.FirstOffset
	}
	// Otherwise the log moved between the two answers; fetch again.
	return nil
}

// message copies a record into a Message.
func (c *catchUp) message(rec *kafka.Record) (Message, error) {
	key, err := readBytes(rec.Key)
	if err != nil {
		closeRecord(rec)
		return Message{}, err
	}
	value, err := readBytes(rec.Value)
	if err != nil {
		return Message{}, err
	}
	m := Message{Topic: c.r.topic, Partition: c.partition, Offset: rec.Offset, Key: key, Value: value, Time: rec.Time}
	if len(rec.Headers) > 0 {
		m.Headers = make(map[string]string, len(rec.Headers))
		for _, h := range rec.Headers {
			m.Headers[h.Key] = string(h.Value)
		}
	}
	return m, nil
}

// readBytes copies b (nil for a null) and releases it.
func readBytes(b kafka.Bytes) ([]byte, error) {
	if b == nil {
		return nil, nil
	}
	defer b.Close()
	return kafka.ReadAll(b)
}

// closeRecord releases the buffers of a record not handed on.
func closeRecord(rec *kafka.Record) {
	if rec.Key != nil {
		rec.Key.Close()
	}
	if rec.Value != nil {
		rec.Value.Close()
	}
}

// partitionReaderMetrics are the counters of a PartitionReader's topic.
type partitionReaderMetrics struct {
	records  prometheus.Counter
	requests prometheus.Counter
	errors   prometheus.Counter
}

func newPartitionReaderMetrics(reg prometheus.Registerer, topic string) (partitionReaderMetrics, error) {
	counter := func(name, help string) (prometheus.Counter, error) {
		vec, err := register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{"topic"}))
		return vec.WithLabelValues(topic), err
	}
	var m partitionReaderMetrics
	var err, e error
	m.records, e = counter("tousu_partition_reader_records_total", "Records partition readers handed on.")
	err = errors.Join(err, e)
	m.requests, e = counter("tousu_partition_reader_requests_total", "Requests partition readers sent to the broker (fetch, list offsets).")
	err = errors.Join(err, e)
	m.errors, e = counter("tousu_partition_reader_errors_total", "Failed requests of partition readers (each is repeated once on fresh connections).")
	err = errors.Join(err, e)
	return m, err
}
