package bus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	fetchAPI "github.com/segmentio/kafka-go/protocol/fetch"
	"github.com/segmentio/kafka-go/protocol/listoffsets"
	"go.uber.org/zap/zaptest"

	"github.com/tousu/tousu/internal/servertest"
)

// fakeBatch is a record batch of a fakeLog: it covers offsets base..last
// and holds records at some of them (compaction removes records but keeps
// the batch's offsets, as Kafka does).
type fakeBatch struct {
	base, last int64
	records    []int64
	control    bool
}

// fakeLog is a one-partition broker as a kafka-go RoundTripper that
// answers fetches as Kafka does: from the first batch whose last offset is
// at or after the fetch offset, whole batches of one segment only, up to
// maxBatches of them.
type fakeLog struct {
	segments   [][]fakeBatch
	logStart   int64
	hwm        int64
	maxBatches int           // 0: a whole segment
	throttle   time.Duration // answer every fetch with nothing, throttled

	mu       sync.Mutex
	requests int
}

const fakeRequestLimit = 100000

func (l *fakeLog) RoundTrip(_ context.Context, _ net.Addr, req kafka.Request) (kafka.Response, error) {
	l.mu.Lock()
	l.requests++
	n := l.requests
	l.mu.Unlock()
	if n > fakeRequestLimit {
		return nil, errors.New("fake broker: too many requests (the reader spins)")
	}
	switch r := req.(type) {
	case *fetchAPI.Request:
		return l.fetch(r.Topics[0].Topic, r.Topics[0].Partitions[0].FetchOffset), nil
	case *listoffsets.Request:
		resp := &listoffsets.Response{}
		for _, t := range r.Topics {
			rt := listoffsets.ResponseTopic{Topic: t.Topic}
			for _, p := range t.Partitions {
				off := l.hwm
				if p.Timestamp == kafka.FirstOffset {
					off = l.logStart
				}
				rt.Partitions = append(rt.Partitions, listoffsets.ResponsePartition{Partition: p.Partition, Timestamp: p.Timestamp, Offset: off})
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil
	}
	return nil, fmt.Errorf("fake broker: unexpected request %T", req)
}

func (l *fakeLog) fetch(topic string, offset int64) *fetchAPI.Response {
	part := fetchAPI.ResponsePartition{HighWatermark: l.hwm, LastStableOffset: l.hwm, LogStartOffset: l.logStart}
	resp := &fetchAPI.Response{Topics: []fetchAPI.ResponseTopic{{Topic: topic, Partitions: []fetchAPI.ResponsePartition{part}}}}
	p := &resp.Topics[0].Partitions[0]
	switch {
	case offset < l.logStart || offset > l.hwm:
		p.ErrorCode = int16(kafka.OffsetOutOfRange)
		return resp
	case l.throttle > 0:
		resp.ThrottleTimeMs = int32(l.throttle.Milliseconds())
		return resp
	}
	var batches []protocol.RecordReader
segments:
	for _, seg := range l.segments {
		for i, b := range seg {
			if b.last < offset {
				continue
			}
			for _, b := range seg[i:] {
				if l.maxBatches > 0 && len(batches) == l.maxBatches {
					break
				}
				batches = append(batches, b.reader())
			}
			break segments
		}
	}
	if len(batches) > 0 {
		p.RecordSet.Records = &protocol.RecordStream{Records: batches}
	}
	return resp
}

func (b fakeBatch) reader() protocol.RecordReader {
	var recs []protocol.Record
	for _, off := range b.records {
		recs = append(recs, protocol.Record{Offset: off, Time: time.UnixMilli(off), Key: protocol.NewBytes(fakeKey(off)), Value: protocol.NewBytes(fakeValue(off))})
	}
	if b.control {
		return &protocol.ControlBatch{BaseOffset: b.base, Records: protocol.NewRecordReader(recs...)}
	}
	return &protocol.RecordBatch{BaseOffset: b.base, Records: protocol.NewRecordReader(recs...)}
}

func fakeKey(off int64) []byte { return fmt.Appendf(nil, "k%d", off) }

// fakeValue is nil (a tombstone) for every fifth offset.
func fakeValue(off int64) []byte {
	if off%5 == 0 {
		return nil
	}
	return fmt.Appendf(nil, "v%d", off)
}

// dataOffsets returns the offsets of the data records of l in [from, to).
func (l *fakeLog) dataOffsets(from, to int64) []int64 {
	var out []int64
	for _, seg := range l.segments {
		for _, b := range seg {
			if b.control {
				continue
			}
			for _, off := range b.records {
				if off >= from && off < to {
					out = append(out, off)
				}
			}
		}
	}
	return out
}

func (l *fakeLog) batches() int {
	n := 0
	for _, seg := range l.segments {
		n += len(seg)
	}
	return n
}

func newFakeReader(t *testing.T, l *fakeLog) *PartitionReader {
	t.Helper()
	r, err := NewPartitionReader(Config{Brokers: []string{"fake:9092"}}, "fake", zaptest.NewLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	r.connect = func() (kafka.RoundTripper, func()) { return l, func() {} }
	return r
}

// checkFakeCatchUp checks CatchUp from every offset of l (and beyond):
// exactly the data records from the effective start, in order, with
// tombstones as nil, next the high watermark, in a bounded number of
// requests.
func checkFakeCatchUp(t *testing.T, name string, l *fakeLog) {
	t.Helper()
	r := newFakeReader(t, l)
	budget := (l.batches() + 3) * (bits.Len64(uint64(l.hwm)) + 3)
	for from := int64(0); from <= l.hwm+2; from++ {
		start := from
		if from < l.logStart || from > l.hwm {
			start = l.logStart
		}
		want := l.dataOffsets(start, l.hwm)
		var got []int64
		l.requests = 0
		next, err := r.CatchUp(context.Background(), 0, from, func(m Message) error {
			got = append(got, m.Offset)
			if !bytes.Equal(m.Key, fakeKey(m.Offset)) || !bytes.Equal(m.Value, fakeValue(m.Offset)) || (m.Value == nil) != (fakeValue(m.Offset) == nil) {
				t.Errorf("%s: offset %d has %q=%q", name, m.Offset, m.Key, m.Value)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%s: CatchUp from %d: %v", name, from, err)
		}
		if !slices.Equal(got, want) || next != l.hwm {
			t.Errorf("%s: from %d got %v next %d, want %v next %d", name, from, got, next, want, l.hwm)
		}
		if l.requests > budget {
			t.Errorf("%s: from %d took %d requests, more than %d", name, from, l.requests, budget)
		}
	}
}

func TestPartitionReaderModel(t *testing.T) {
	full := func(base, last int64) fakeBatch {
		b := fakeBatch{base: base, last: last}
		for o := base; o <= last; o++ {
			b.records = append(b.records, o)
		}
		return b
	}
	tests := []struct {
		name string
		log  *fakeLog
	}{
		{"empty", &fakeLog{}},
		{"contiguous", &fakeLog{segments: [][]fakeBatch{{full(0, 3), full(4, 4), full(5, 9)}}, hwm: 10}},
		{"gaps between batches", &fakeLog{segments: [][]fakeBatch{{full(2, 3), full(7, 8), full(12, 15)}}, hwm: 16}},
		{"tail compacted, then another batch", &fakeLog{segments: [][]fakeBatch{{
			{base: 0, last: 5, records: []int64{0, 1}}, full(6, 7)}}, hwm: 8}},
		{"tail compacted at a segment's end", &fakeLog{segments: [][]fakeBatch{
			{full(0, 2), {base: 3, last: 40, records: []int64{3, 4}}},
			{{base: 41, last: 45, records: []int64{44}}, {base: 46, last: 60, records: nil}},
			{full(61, 63)}}, hwm: 64}},
		{"tail compacted at the end", &fakeLog{segments: [][]fakeBatch{{full(0, 1), {base: 2, last: 30, records: []int64{2}}}}, hwm: 31}},
		{"everything compacted away but empty batches", &fakeLog{segments: [][]fakeBatch{{{base: 0, last: 9}}, {{base: 10, last: 19}}}, hwm: 20}},
		{"batches removed at the end", &fakeLog{segments: [][]fakeBatch{{full(0, 4)}}, hwm: 12}},
		{"control batches", &fakeLog{segments: [][]fakeBatch{{full(0, 2), {base: 3, last: 3, records: []int64{3}, control: true},
			full(4, 6), {base: 7, last: 7, records: []int64{7}, control: true}}}, hwm: 8}},
		{"one batch per answer", &fakeLog{maxBatches: 1, segments: [][]fakeBatch{{full(0, 2), {base: 3, last: 9, records: []int64{3}},
			{base: 12, last: 14, records: []int64{14}}, {base: 15, last: 15, records: []int64{15}, control: true}}}, hwm: 16}},
		{"log start moved", &fakeLog{segments: [][]fakeBatch{{{base: 5, last: 9, records: []int64{7, 8, 9}}, full(10, 12)}}, logStart: 6, hwm: 13}},
		{"everything deleted", &fakeLog{logStart: 9, hwm: 9}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkFakeCatchUp(t, tt.name, tt.log)
		})
	}
}

// TestPartitionReaderModelRandom checks CatchUp on random compacted logs:
// segments of batches with gaps, compacted tails, empty and control
// batches, and answers cut short.
func TestPartitionReaderModelRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 300 {
		var l fakeLog
		off := int64(0)
		for range 1 + rng.IntN(4) {
			var seg []fakeBatch
			for range 1 + rng.IntN(4) {
				off += int64(rng.IntN(3)) // batches removed whole
				b := fakeBatch{base: off, last: off + int64(rng.IntN(6)), control: rng.IntN(8) == 0}
				for o := b.base; o <= b.last; o++ {
					if b.control || rng.IntN(3) > 0 {
						b.records = append(b.records, o)
					}
					if b.control {
						break
					}
				}
				seg = append(seg, b)
				off = b.last + 1
			}
			l.segments = append(l.segments, seg)
		}
		l.hwm = off + int64(rng.IntN(2))
		l.logStart = min(int64(rng.IntN(3)), l.hwm)
		l.maxBatches = rng.IntN(3)
		checkFakeCatchUp(t, fmt.Sprintf("log %d %+v", i, l.segments), &l)
		if t.Failed() {
			return
		}
	}
}

func TestPartitionReaderModelHandlerError(t *testing.T) {
	l := &fakeLog{segments: [][]fakeBatch{{{base: 0, last: 3, records: []int64{1, 3}}, {base: 4, last: 9, records: []int64{4, 6, 9}}}}, hwm: 10}
	r := newFakeReader(t, l)
	failed := errors.New("apply failed")
	next, err := r.CatchUp(context.Background(), 0, 0, func(m Message) error {
		if m.Offset == 6 {
			return failed
		}
		return nil
	})
	if err != failed || next != 6 { //nolint:errorlint // fn's error as is
		t.Errorf("CatchUp = %d, %v; want 6 and fn's error", next, err)
	}
}

func TestPartitionReaderModelThrottled(t *testing.T) {
	r := newFakeReader(t, &fakeLog{segments: [][]fakeBatch{{{base: 0, last: 0, records: []int64{0}}}}, hwm: 1, throttle: time.Second})
	next, err := r.CatchUp(context.Background(), 0, 0, func(Message) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "throttled") || next != 0 {
		t.Errorf("CatchUp of a throttled partition = %d, %v; want 0 and an error saying throttled", next, err)
	}
}

// TestPartitionReaderReusesConnections checks that calls with nothing new
// reuse the connections of the first call.
func TestPartitionReaderReusesConnections(t *testing.T) {
	b, err := StartBroker(BrokerConfig{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	cfg := Config{Brokers: []string{b.Addr()}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	topic := fmt.Sprintf("bustest.reader-conns-%d", time.Now().UnixNano())
	if err := CreateTopics(ctx, cfg, 1, topic); err != nil {
		t.Fatal(err)
	}
	p, err := NewProducer(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Write(ctx, Message{Topic: topic, Key: []byte("k"), Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}

	r, err := NewPartitionReader(cfg, topic, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var dials atomic.Int64
	connect := r.connect
	r.connect = func() (kafka.RoundTripper, func()) {
		rt, release := connect()
		tr := rt.(roundTripper).RoundTripper.(*kafka.Transport)
		tr.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		}
		return rt, release
	}
	n := 0
	next, err := r.CatchUp(ctx, 0, 0, func(Message) error { n++; return nil })
	if err != nil || next != 1 || n != 1 {
		t.Fatalf("first CatchUp = %d, %v with %d records; want 1, nil, 1", next, err, n)
	}
	opened := dials.Load()
	for range 50 {
		if next, err := r.CatchUp(ctx, 0, 1, func(Message) error { n++; return nil }); err != nil || next != 1 {
			t.Fatalf("CatchUp with nothing new = %d, %v", next, err)
		}
	}
	// kafka-go hands a response over a moment before it puts the
	// connection back in its pool, so a call right after another may find
	// none idle and open one more; a connection per call would be 50.
	if d := dials.Load() - opened; d > 2 || n != 1 {
		t.Errorf("50 calls with nothing new opened %d connections and got %d records; want at most 2 and none", d, n-1)
	}
}

// compactedRounds are written to a compacted topic in separate writes
// (batches), with time to roll a segment between them: keys with values
// ("" is a tombstone). The values of "a" and "b" are big, so that on Kafka
// the first batch fills a segment the cleaner keeps apart, and its last
// record, compacted away, leaves a tail at a segment's end.
var compactedRounds = [][][2]string{
	{{"a", "a0"}, {"b", "b0"}},            // 0 1: b0 superseded
	{{"b", "b1"}, {"c", "c1"}},            // 2 3: c1 superseded
	{{"c", "c2"}, {"d", ""}, {"e", "e2"}}, // 4 5 6: e2 superseded
	{{"e", "e3"}, {"f", "f3"}},            // 7 8
	{{"g", "g4"}},                         // 9: the active segment
}

// compactedSurvivors are the offsets left after compaction.
var compactedSurvivors = []int64{0, 2, 4, 5, 7, 8, 9}

// checkCompacted writes compactedRounds to a new compacted topic created
// with configs, calls compact until the log is compacted, and checks
// CatchUp from every offset.
func checkCompacted(t *testing.T, cfg Config, configs map[string]string, big int, pause time.Duration, compact func()) {
	// The bound waits for Kafka's log cleaner, which on a loaded machine
	// (the whole suite running) has taken more than two minutes.
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	topic := fmt.Sprintf("bustest.reader-compacted-%d", time.Now().UnixNano())
	tc := kafka.TopicConfig{Topic: topic, NumPartitions: 1, ReplicationFactor: 1}
	for k, v := range configs {
		tc.ConfigEntries = append(tc.ConfigEntries, kafka.ConfigEntry{ConfigName: k, ConfigValue: v})
	}
	client, release := newClient(provisioned(cfg))
	resp, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{tc}})
	release()
	if err == nil {
		err = resp.Errors[topic]
	}
	if err != nil {
		t.Fatalf("create %s: %v", topic, err)
	}
	if err := waitTopics(ctx, provisioned(cfg), []string{topic}); err != nil {
		t.Fatal(err)
	}

	p, err := NewProducer(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	written := map[int64]Message{}
	var off int64
	for i, round := range compactedRounds {
		if i > 0 {
			time.Sleep(pause)
		}
		var msgs []Message
		for _, kv := range round {
			m := Message{Topic: topic, Key: []byte(kv[0])}
			if kv[1] != "" {
				m.Value = []byte(kv[1])
				if kv[0] == "a" || kv[0] == "b" {
					m.Value = append(m.Value, bytes.Repeat([]byte{'x'}, big)...)
				}
			}
			written[off] = m
			off++
			msgs = append(msgs, m)
		}
		if err := p.Write(ctx, msgs...); err != nil {
			t.Fatalf("write round %d: %v", i, err)
		}
	}

	r, err := NewPartitionReader(cfg, topic, zaptest.NewLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	catchUp := func(from int64) ([]int64, int64) {
		t.Helper()
		var got []int64
		next, err := r.CatchUp(ctx, 0, from, func(m Message) error {
			w := written[m.Offset]
			if !bytes.Equal(m.Key, w.Key) || !bytes.Equal(m.Value, w.Value) || (m.Value == nil) != (w.Value == nil) {
				t.Errorf("offset %d has %s=%.10q, want %s=%.10q", m.Offset, m.Key, m.Value, w.Key, w.Value)
			}
			got = append(got, m.Offset)
			return nil
		})
		if err != nil {
			t.Fatalf("CatchUp from %d: %v", from, err)
		}
		return got, next
	}
	for {
		compact()
		if got, _ := catchUp(0); slices.Equal(got, compactedSurvivors) {
			break
		} else if ctx.Err() != nil {
			t.Fatalf("not compacted in time: records at %v, want %v", got, compactedSurvivors)
		}
		time.Sleep(500 * time.Millisecond)
	}
	for from := int64(0); from <= off; from++ {
		got, next := catchUp(from)
		want := slices.DeleteFunc(slices.Clone(compactedSurvivors), func(o int64) bool { return o < from })
		if !slices.Equal(got, want) || next != off {
			t.Errorf("from %d: got %v next %d, want %v next %d", from, got, next, want, off)
		}
	}
}

func TestPartitionReaderCompactedEmbedded(t *testing.T) {
	b, err := StartBroker(BrokerConfig{Dir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	checkCompacted(t, Config{Brokers: []string{b.Addr()}}, map[string]string{"cleanup.policy": "compact"}, 100, 0, b.cluster.Compact)
}

// TestPartitionReaderCompactedKafka lets Kafka's log cleaner compact a
// topic whose segments roll every 100ms; the cleaner looks for work every
// 15s (log.cleaner.backoff.ms).
func TestPartitionReaderCompactedKafka(t *testing.T) {
	env := servertest.Require(t, servertest.Kafka)
	t.Parallel()
	checkCompacted(t, Config{Brokers: strings.Split(env, ",")}, map[string]string{
		"cleanup.policy":            "compact",
		"segment.ms":                "100",
		"segment.bytes":             "1048576",
		"min.cleanable.dirty.ratio": "0.01",
		"min.compaction.lag.ms":     "0",
		// Once the cleaner has cleaned the first rounds (their big values
		// make that part large), the small records after them are too few
		// for the dirty ratio ever to reach 0.01 again; the maximum lag
		// has them cleaned anyway, at the cleaner's next pass.
		"max.compaction.lag.ms": "1000",
	}, 400<<10, 300*time.Millisecond, func() {})
}

// TestPartitionReaderModelRequests counts the requests of calls whose
// answers hold everything: gaps and control records cost nothing extra.
func TestPartitionReaderModelRequests(t *testing.T) {
	gaps := [][]fakeBatch{{{base: 2, last: 3, records: []int64{2, 3}}, {base: 3, last: 3, records: []int64{3}, control: true},
		{base: 7, last: 8, records: []int64{8}}, {base: 12, last: 12, records: []int64{12}, control: true}}}
	tests := []struct {
		name     string
		log      *fakeLog
		from     int64
		requests int
	}{
		{"nothing new", &fakeLog{segments: gaps, hwm: 13}, 13, 1},
		{"gaps and control batches", &fakeLog{segments: gaps, hwm: 13}, 0, 1},
		{"from inside a gap", &fakeLog{segments: gaps, hwm: 13}, 5, 1},
		{"records removed at the end", &fakeLog{segments: gaps, hwm: 20}, 0, 2},
		{"below the log start", &fakeLog{segments: gaps, logStart: 2, hwm: 13}, 0, 3}, // fetch, list offsets, fetch
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newFakeReader(t, tt.log)
			if _, err := r.CatchUp(context.Background(), 0, tt.from, func(Message) error { return nil }); err != nil {
				t.Fatal(err)
			}
			if tt.log.requests != tt.requests {
				t.Errorf("%d requests, want %d", tt.log.requests, tt.requests)
			}
		})
	}
}
