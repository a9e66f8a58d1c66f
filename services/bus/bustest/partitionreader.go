package bustest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"

	"github.com/tousu/tousu/services/bus"
)

// NewPartitionReader returns a partition reader closed when the test ends.
// reg may be nil.
func NewPartitionReader(tb testing.TB, cfg bus.Config, topic string, reg prometheus.Registerer) *bus.PartitionReader {
	tb.Helper()
	r, err := bus.NewPartitionReader(cfg, topic, zaptest.NewLogger(tb, zaptest.Level(zapcore.InfoLevel)).Named("reader"), reg)
	if err != nil {
		tb.Fatalf("NewPartitionReader: %v", err)
	}
	tb.Cleanup(func() {
		if err := r.Close(); err != nil {
			tb.Errorf("close partition reader: %v", err)
		}
	})
	return r
}

// CatchUp reads partition from offset from with r and returns the records
// and the next offset, failing the test on an error.
func CatchUp(tb testing.TB, r *bus.PartitionReader, partition int, from int64) ([]bus.Message, int64) {
	tb.Helper()
	var msgs []bus.Message
	next, err := r.CatchUp(ctxFor(tb), partition, from, func(m bus.Message) error {
		msgs = append(msgs, m)
		return nil
	})
	if err != nil {
		tb.Fatalf("CatchUp(%d, %d): %v", partition, from, err)
	}
	return msgs, next
}

// DeleteRecords deletes the records of partition below offset before
// (moving its log start offset there), as kafka-delete-records does.
// kafka-go has no DeleteRecords request, so this uses franz-go.
func DeleteRecords(tb testing.TB, cfg bus.Config, topic string, partition int, before int64) {
	tb.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...))
	if err != nil {
		tb.Fatalf("delete records: client: %v", err)
	}
	defer cl.Close()
	req := kmsg.NewPtrDeleteRecordsRequest()
	req.TimeoutMillis = int32(patience.Milliseconds())
	rt := kmsg.NewDeleteRecordsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewDeleteRecordsRequestTopicPartition()
	rp.Partition = int32(partition)
	rp.Offset = before
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctxFor(tb), cl)
	if err != nil {
		tb.Fatalf("delete records of %s/%d below %d: %v", topic, partition, before, err)
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				tb.Fatalf("delete records of %s/%d below %d: %v", topic, partition, before, err)
			}
			if p.LowWatermark != before {
				tb.Fatalf("delete records of %s/%d below %d: log start is now %d", topic, partition, before, p.LowWatermark)
			}
		}
	}
}

// changelog writes records [from, to) of a changelog: 20 customer keys in
// turn, every seventh a tombstone, one with an empty value, some with a
// header. It returns them in the order written.
func changelog(tb testing.TB, p *bus.Producer, topic string, from, to int) []bus.Message {
	tb.Helper()
	var msgs []bus.Message
	for i := from; i < to; i++ {
		m := bus.Message{Topic: topic, Key: fmt.Appendf(nil, "customer-%02d", i%20), Value: fmt.Appendf(nil, "state-%d", i)}
		switch {
		case i%7 == 3:
			m.Value = nil // tombstone
		case i == 5:
			m.Value = []byte{}
		}
		if i%5 == 0 {
			m.Headers = map[string]string{"seq": strconv.Itoa(i)}
		}
		msgs = append(msgs, m)
	}
	if err := p.Write(ctxFor(tb), msgs...); err != nil {
		tb.Fatalf("write: %v", err)
	}
	return msgs
}

// checkRecords checks that got holds exactly the records of written whose
// key partOf puts on partition, in the order written, at consecutive
// offsets from first.
func checkRecords(tb testing.TB, topic string, partition int, written []bus.Message, partOf map[string]int, got []bus.Message, first int64) {
	tb.Helper()
	var want []bus.Message
	for _, m := range written {
		p, ok := partOf[string(m.Key)]
		if !ok {
			tb.Errorf("key %s was on no partition", m.Key)
		}
		if p == partition {
			want = append(want, m)
		}
	}
	if len(got) != len(want) {
		tb.Errorf("partition %d: got %d records, want %d", partition, len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		g, w := got[i], want[i]
		switch {
		case g.Topic != topic || g.Partition != partition || g.Offset != first+int64(i):
			tb.Errorf("partition %d record %d is at %s/%d/%d, want %s/%d/%d", partition, i, g.Topic, g.Partition, g.Offset, topic, partition, first+int64(i))
		case !bytes.Equal(g.Key, w.Key) || !bytes.Equal(g.Value, w.Value) || (g.Value == nil) != (w.Value == nil):
			tb.Errorf("partition %d offset %d = %s:%q (nil %v), want %s:%q (nil %v)", partition, g.Offset, g.Key, g.Value, g.Value == nil, w.Key, w.Value, w.Value == nil)
		case !maps.Equal(g.Headers, w.Headers):
			tb.Errorf("partition %d offset %d has headers %v, want %v", partition, g.Offset, g.Headers, w.Headers)
		case g.Time.IsZero():
			tb.Errorf("partition %d offset %d has no timestamp", partition, g.Offset)
		}
	}
}

// testPartitionReaderCatchUp: a reader hands on every record of each
// partition in order, with tombstones as nil values, up to the high
// watermark; a call with nothing new costs one request; a later call gets
// only what was written since; concurrent calls each get everything.
func testPartitionReaderCatchUp(t *testing.T, cfg bus.Config) {
	const partitions = 3
	topic := CreateTopic(t, cfg, partitions)
	p := NewProducer(t, cfg)
	reg := prometheus.NewRegistry()
	r := NewPartitionReader(t, cfg, topic, reg)
	labels := map[string]string{"topic": topic}

	written := changelog(t, p, topic, 0, 60)
	partOf := map[string]int{}
	got := make([][]bus.Message, partitions)
	next := make([]int64, partitions)
	for part := range partitions {
		got[part], next[part] = CatchUp(t, r, part, 0)
		for _, m := range got[part] {
			if q, ok := partOf[string(m.Key)]; ok && q != part {
				t.Errorf("key %s is on partitions %d and %d", m.Key, q, part)
			}
			partOf[string(m.Key)] = part
		}
		if len(got[part]) == 0 {
			t.Errorf("partition %d got no records; the keys should spread over all partitions", part)
		}
	}
	hwm, err := bus.Lag(ctxFor(t), cfg, Unique(t, "nobody"), topic) // never committed: lag is the high watermark
	if err != nil {
		t.Fatalf("Lag: %v", err)
	}
	for part := range partitions {
		checkRecords(t, topic, part, written, partOf, got[part], 0)
		if next[part] != hwm[part] {
			t.Errorf("partition %d: next %d, want the high watermark %d", part, next[part], hwm[part])
		}
	}
	if n := CounterValue(t, reg, "tousu_partition_reader_records_total", labels); n != float64(len(written)) {
		t.Errorf("records counter %v, want %d", n, len(written))
	}

	// Nothing new: no record, the same next, one request each.
	for part := range partitions {
		before := CounterValue(t, reg, "tousu_partition_reader_requests_total", labels)
		msgs, n := CatchUp(t, r, part, next[part])
		if len(msgs) != 0 || n != next[part] {
			t.Errorf("partition %d with nothing new: %d records and next %d, want none and %d", part, len(msgs), n, next[part])
		}
		if d := CounterValue(t, reg, "tousu_partition_reader_requests_total", labels) - before; d != 1 {
			t.Errorf("partition %d with nothing new took %v requests, want 1", part, d)
		}
	}

	// More records: a call from the previous next gets only them.
	more := changelog(t, p, topic, 60, 90)
	for part := range partitions {
		msgs, n := CatchUp(t, r, part, next[part])
		checkRecords(t, topic, part, more, partOf, msgs, next[part])
		if want := next[part] + int64(len(msgs)); n != want {
			t.Errorf("partition %d: next %d after %d new records from %d, want %d", part, n, len(msgs), next[part], want)
		}
		got[part] = append(got[part], msgs...)
		next[part] = n
	}

	// Concurrent calls, two per partition, each get the whole partition.
	var wg sync.WaitGroup
	for part := range partitions {
		for range 2 {
			wg.Go(func() {
				var msgs []bus.Message
				n, err := r.CatchUp(ctxFor(t), part, 0, func(m bus.Message) error {
					msgs = append(msgs, m)
					return nil
				})
				if err != nil || n != next[part] || len(msgs) != len(got[part]) {
					t.Errorf("concurrent CatchUp of partition %d: %d records, next %d, err %v; want %d, %d", part, len(msgs), n, err, len(got[part]), next[part])
					return
				}
				for i := range msgs {
					if msgs[i].Offset != got[part][i].Offset || !bytes.Equal(msgs[i].Value, got[part][i].Value) {
						t.Errorf("concurrent CatchUp of partition %d: record %d differs", part, i)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	if n := CounterValue(t, reg, "tousu_partition_reader_errors_total", labels); n != 0 {
		t.Errorf("errors counter %v, want 0", n)
	}
}

// testPartitionReaderHandlerError: an error of fn stops the call, is
// returned as is, and next is the record fn failed on.
func testPartitionReaderHandlerError(t *testing.T, cfg bus.Config) {
	topic := CreateTopic(t, cfg, 1)
	p := NewProducer(t, cfg)
	r := NewPartitionReader(t, cfg, topic, nil)
	written := changelog(t, p, topic, 0, 10)

	failed := errors.New("cannot apply")
	var handed []int64
	next, err := r.CatchUp(ctxFor(t), 0, 0, func(m bus.Message) error {
		handed = append(handed, m.Offset)
		if m.Offset == 4 {
			return failed
		}
		return nil
	})
	if err != failed { //nolint:errorlint // returned as is
		t.Errorf("CatchUp = %v, want fn's error as is", err)
	}
	if next != 4 || !slices.Equal(handed, []int64{0, 1, 2, 3, 4}) {
		t.Errorf("after fn failed on offset 4: next %d, handed %v; want 4 and 0..4", next, handed)
	}
	msgs, next := CatchUp(t, r, 0, next)
	checkRecords(t, topic, 0, written[4:], onePartition(written), msgs, 4)
	if next != 10 {
		t.Errorf("retry from 4: next %d, want 10", next)
	}
}

// testPartitionReaderOutOfRange: an offset below the log start (records
// deleted) or beyond the end starts at the earliest retained record.
func testPartitionReaderOutOfRange(t *testing.T, cfg bus.Config) {
	empty := CreateTopic(t, cfg, 1)
	re := NewPartitionReader(t, cfg, empty, nil)
	for _, from := range []int64{0, 5} {
		if msgs, next := CatchUp(t, re, 0, from); len(msgs) != 0 || next != 0 {
			t.Errorf("empty partition from %d: %d records, next %d; want none, 0", from, len(msgs), next)
		}
	}

	topic := CreateTopic(t, cfg, 1)
	p := NewProducer(t, cfg)
	r := NewPartitionReader(t, cfg, topic, nil)
	written := changelog(t, p, topic, 0, 10)
	partOf := onePartition(written)
	DeleteRecords(t, cfg, topic, 0, 4)
	for _, from := range []int64{0, 3, 4, 25} {
		msgs, next := CatchUp(t, r, 0, from)
		checkRecords(t, topic, 0, written[4:], partOf, msgs, 4)
		if next != 10 {
			t.Errorf("from %d after deleting below 4: next %d, want 10", from, next)
		}
	}
	if msgs, next := CatchUp(t, r, 0, 7); len(msgs) != 3 || next != 10 {
		t.Errorf("from 7: %d records, next %d; want 3, 10", len(msgs), next)
	}
	DeleteRecords(t, cfg, topic, 0, 10)
	for _, from := range []int64{0, 10, 11} {
		if msgs, next := CatchUp(t, r, 0, from); len(msgs) != 0 || next != 10 {
			t.Errorf("from %d with every record deleted: %d records, next %d; want none, 10", from, len(msgs), next)
		}
	}
}

// testPartitionReaderErrors: bad arguments, a cancelled ctx, a missing
// partition or topic and a closed reader give errors that say what and
// where.
func testPartitionReaderErrors(t *testing.T, cfg bus.Config) {
	topic := CreateTopic(t, cfg, 1)
	p := NewProducer(t, cfg)
	changelog(t, p, topic, 0, 3)
	r := NewPartitionReader(t, cfg, topic, nil)
	called := false
	fn := func(bus.Message) error {
		called = true
		return nil
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if next, err := r.CatchUp(ctx, 0, 1, fn); !errors.Is(err, context.Canceled) || next != 1 {
		t.Errorf("cancelled ctx: next %d, err %v; want 1 and context.Canceled", next, err)
	}
	if called {
		t.Error("fn called under a cancelled ctx")
	}

	missing := Unique(t, "missing")
	rm := NewPartitionReader(t, cfg, missing, nil)
	tests := []struct {
		name      string
		r         *bus.PartitionReader
		partition int
		from      int64
		fn        func(bus.Message) error
		want      []string
	}{
		{"negative partition", r, -1, 0, fn, []string{topic, "negative partition"}},
		{"negative offset", r, 0, -2, fn, []string{topic, "partition 0", "negative offset"}},
		{"nil fn", r, 0, 0, nil, []string{topic, "fn is nil"}},
		{"missing partition", r, 3, 0, fn, []string{topic, "partition 3"}},
		{"missing topic", rm, 0, 0, fn, []string{missing, "partition 0"}},
	}
	for _, tt := range tests {
		_, err := tt.r.CatchUp(ctxFor(t), tt.partition, tt.from, tt.fn)
		if err == nil {
			t.Errorf("%s: no error", tt.name)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not say %q", tt.name, err, w)
			}
		}
	}
	if called {
		t.Error("fn called for a failing call")
	}

	if _, err := bus.NewPartitionReader(cfg, "", nil, nil); err == nil {
		t.Error("NewPartitionReader without a topic succeeded")
	}
	if err := r.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if _, err := r.CatchUp(ctxFor(t), 0, 0, fn); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("CatchUp after Close = %v, want an error saying closed", err)
	}
}

// onePartition puts every key of msgs on partition 0.
func onePartition(msgs []bus.Message) map[string]int {
	partOf := map[string]int{}
	for _, m := range msgs {
		partOf[string(m.Key)] = 0
	}
	return partOf
}
