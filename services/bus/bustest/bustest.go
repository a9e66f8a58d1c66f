// Package bustest is the contract suite every broker tousu runs on must
// pass, the embedded kfake broker and real Apache Kafka alike: ordering per
// key, consumer groups sharing partitions, redelivery after a crash before
// commit, dead-lettering of rejected messages, retry of transient errors,
// lag reporting, the members and offsets of groups, followers that read
// every partition of a topic without a group, partition readers that catch
// up with one partition, and rewinding a group to the start of its topic.
//
// Each case creates topics and groups with names of its own, so the suite
// can run against a shared cluster and its cases run in parallel.
package bustest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"

	"github.com/tousu/tousu/internal/polltest"
	"github.com/tousu/tousu/internal/servertest"
	"github.com/tousu/tousu/services/bus"
)

// patience bounds every wait of the suite, as it bounds polltest.Until. It
// is a liveness bound, not a speed assertion: a healthy broker finishes each
// case in about a second.
const patience = polltest.Patience

// Run runs the contract suite against the brokers (host:port bootstrap
// addresses). It returns when every case has finished.
func Run(t *testing.T, brokers []string) {
	t.Helper()
	RunConfig(t, bus.Config{Brokers: brokers})
}

// contractCase is one case of the suite.
type contractCase struct {
	name string
	run  func(*testing.T, bus.Config)
}

// Core names the cases that make every kind of connection of the bus:
// producer, group consumer, follower, partition reader and the admin
// client (topics, lag, offsets).
var Core = []string{"OrderingPerKey", "RedeliveryAfterCrash", "Lag", "FollowerReadsEveryPartition", "PartitionReaderCatchUp"}

// RunConfig runs the cases named (every case when none is) against the
// brokers of cfg with its SASL and TLS. It returns when every case has
// finished.
func RunConfig(t *testing.T, cfg bus.Config, names ...string) {
	t.Helper()
	if cfg.ClientID == "" {
		cfg.ClientID = "bustest"
	}
	if err := bus.Ping(ctxFor(t), cfg); err != nil {
		t.Fatalf("brokers %v do not answer: %v", cfg.Brokers, err)
	}
	cases := []contractCase{
		{"OrderingPerKey", testOrderingPerKey},
		{"GroupSharesPartitions", testGroupSharesPartitions},
		{"CoPartitionedTopics", testCoPartitioned},
		{"RedeliveryAfterCrash", testRedeliveryAfterCrash},
		{"RejectGoesToDLQ", testRejectGoesToDLQ},
		{"OversizedWriteIsPermanent", testOversizedWrite},
		{"TransientErrorRetried", testTransientErrorRetried},
		{"Lag", testLag},
		{"GroupStates", testGroupStates},
		{"BatchesFallBackOneByOne", testBatches},
		{"FollowerReadsEveryPartition", testFollower},
		{"FollowerWaitsForTopic", testFollowerWaitsForTopic},
		{"FollowerCaughtUp", testFollowerCaughtUp},
		{"PartitionReaderCatchUp", testPartitionReaderCatchUp},
		{"PartitionReaderHandlerError", testPartitionReaderHandlerError},
		{"PartitionReaderOutOfRange", testPartitionReaderOutOfRange},
		{"PartitionReaderErrors", testPartitionReaderErrors},
		{"RewindGroup", testRewindGroup},
	}
	for _, name := range names {
		if !slices.ContainsFunc(cases, func(c contractCase) bool { return c.name == name }) {
			t.Fatalf("no case %q in the contract suite", name)
		}
	}
	// The group subtest returns only when its parallel cases are done, so
	// Run is synchronous for the caller.
	t.Run("contract", func(t *testing.T) {
		for _, c := range cases {
			if len(names) > 0 && !slices.Contains(names, c.name) {
				continue
			}
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				c.run(t, cfg)
			})
		}
	})
}

// testBatches: a batch handler gets several messages at once; a batch it
// fails is handled one by one, where the bad message is dead-lettered and
// the others are done; everything ends committed, each message handled to
// completion exactly once.
func testBatches(t *testing.T, cfg bus.Config) {
	topic := CreateTopic(t, cfg, 1)
	dlq := CreateTopic(t, cfg, 1)
	group := Unique(t, "g")
	p := NewProducer(t, cfg)
	const n = 200
	msgs := make([]bus.Message, n)
	for i := range msgs {
		msgs[i] = bus.Message{Topic: topic, Key: []byte("k"), Value: []byte(fmt.Sprint(i))}
	}
	msgs[77].Value = []byte("poison")
	if err := p.Write(ctxFor(t), msgs...); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	done := map[string]int{}
	largest := 0
	batch := func(_ context.Context, ms []bus.Message) error {
		for _, m := range ms {
			if string(m.Value) == "poison" {
				return errors.New("a bad message in the batch")
			}
		}
		mu.Lock()
		defer mu.Unlock()
		largest = max(largest, len(ms))
		for _, m := range ms {
			done[string(m.Value)]++
		}
		return nil
	}
	single := func(_ context.Context, m bus.Message) error {
		if string(m.Value) == "poison" {
			return bus.Reject(errors.New("bad payload"))
		}
		mu.Lock()
		defer mu.Unlock()
		done[string(m.Value)]++
		return nil
	}
	StartConsumer(t, cfg, bus.ConsumerConfig{Group: group, Topic: topic, DeadLetterTopic: dlq, Batch: batch, MaxBatch: 50}, p, single, nil)
	polltest.Until(t, "every message committed", func() bool { return TotalLag(t, cfg, group, topic) == 0 })

	mu.Lock()
	defer mu.Unlock()
	if largest < 2 || largest > 50 {
		t.Errorf("largest batch %d, want 2..50", largest)
	}
	for i := range n {
		want := 1
		if i == 77 {
			want = 0
		}
		if got := done[fmt.Sprint(i)]; got != want {
			t.Errorf("message %d handled %d times, want %d", i, got, want)
		}
	}
	if TotalLag(t, cfg, Unique(t, "dlq-reader"), dlq) != 1 {
		t.Errorf("dead-letter topic does not hold the poison message")
	}
}

// testOrderingPerKey: messages with the same key arrive in the order they
// were written, whether written one by one or in one batch, and a key
// stays on one partition.
func testOrderingPerKey(t *testing.T, cfg bus.Config) {
	const keys, perKey = 4, 60
	topic := CreateTopic(t, cfg, 3)
	p := NewProducer(t, cfg)

	var mu sync.Mutex
	seqs := map[string][]int{}
	parts := map[string]map[int]bool{}
	var total, badTime atomic.Int64
	start := time.Now().Add(-time.Minute) // allow for clock steps
	StartConsumer(t, cfg, bus.ConsumerConfig{Group: Unique(t, "g"), Topic: topic}, p, func(_ context.Context, m bus.Message) error {
		seq, err := strconv.Atoi(string(m.Value))
		if err != nil {
			return bus.Reject(err)
		}
		if m.Time.Before(start) || m.Time.After(time.Now().Add(time.Minute)) {
			badTime.Add(1) // the producer must stamp records with the time of writing
		}
		mu.Lock()
		k := string(m.Key)
		seqs[k] = append(seqs[k], seq)
		if parts[k] == nil {
			parts[k] = map[int]bool{}
		}
		parts[k][m.Partition] = true
		mu.Unlock()
		total.Add(1)
		return nil
	}, nil)

	ctx := ctxFor(t)
	var wg sync.WaitGroup
	errs := make(chan error, keys)
	for k := range keys {
		wg.Go(func() {
			key := []byte("key-" + strconv.Itoa(k))
			// Half one by one, concurrently with the other keys...
			for i := range perKey / 2 {
				if err := p.Write(ctx, bus.Message{Topic: topic, Key: key, Value: []byte(strconv.Itoa(i))}); err != nil {
					errs <- err
					return
				}
			}
			// ...and half in one call.
			batch := make([]bus.Message, 0, perKey/2)
			for i := perKey / 2; i < perKey; i++ {
				batch = append(batch, bus.Message{Topic: topic, Key: key, Value: []byte(strconv.Itoa(i))})
			}
			if err := p.Write(ctx, batch...); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("write: %v", err)
	}

	polltest.Until(t, "all messages consumed", func() bool { return total.Load() >= keys*perKey })
	if n := badTime.Load(); n > 0 {
		t.Errorf("%d messages carry a timestamp that is not the time of writing", n)
	}
	mu.Lock()
	defer mu.Unlock()
	want := make([]int, perKey)
	for i := range want {
		want[i] = i
	}
	for k := range keys {
		key := "key-" + strconv.Itoa(k)
		if !slices.Equal(seqs[key], want) {
			t.Errorf("%s arrived as %v, want 0..%d in order", key, seqs[key], perKey-1)
		}
		if len(parts[key]) != 1 {
			t.Errorf("%s was spread over partitions %v", key, parts[key])
		}
	}
}

// testGroupSharesPartitions: two consumers of one group split the
// partitions between them, and together they see every message.
func testGroupSharesPartitions(t *testing.T, cfg bus.Config) {
	const partitions, messages = 6, 120
	topic := CreateTopic(t, cfg, partitions)
	group := Unique(t, "g")
	p := NewProducer(t, cfg)

	type seen struct {
		mu    sync.Mutex
		parts map[int]bool
		vals  map[string]bool
	}
	consumers := []*seen{{parts: map[int]bool{}, vals: map[string]bool{}}, {parts: map[int]bool{}, vals: map[string]bool{}}}
	for _, s := range consumers {
		StartConsumer(t, cfg, bus.ConsumerConfig{Group: group, Topic: topic}, p, func(_ context.Context, m bus.Message) error {
			s.mu.Lock()
			s.parts[m.Partition] = true
			s.vals[string(m.Value)] = true
			s.mu.Unlock()
			return nil
		}, nil)
	}

	// Produce only once both members own partitions, so no partition
	// changes hands while messages flow.
	ctx := ctxFor(t)
	polltest.Until(t, "two members sharing all partitions", func() bool {
		g, err := bus.DescribeGroup(ctx, cfg, group)
		if err != nil || g.State != "Stable" || len(g.Members) != 2 {
			return false
		}
		var all []int
		for _, m := range g.Members {
			if len(m.Partitions[topic]) == 0 {
				return false
			}
			all = append(all, m.Partitions[topic]...)
		}
		slices.Sort(all)
		return len(all) == partitions && len(slices.Compact(all)) == partitions
	})

	msgs := make([]bus.Message, messages)
	for i := range msgs {
		msgs[i] = bus.Message{Topic: topic, Key: []byte("k" + strconv.Itoa(i)), Value: []byte(strconv.Itoa(i))}
	}
	if err := p.Write(ctx, msgs...); err != nil {
		t.Fatalf("write: %v", err)
	}
	polltest.Until(t, "every message consumed", func() bool {
		n := map[string]bool{}
		for _, s := range consumers {
			s.mu.Lock()
			for v := range s.vals {
				n[v] = true
			}
			s.mu.Unlock()
		}
		return len(n) == messages
	})
	a, b := consumers[0], consumers[1]
	a.mu.Lock()
	b.mu.Lock()
	defer a.mu.Unlock()
	defer b.mu.Unlock()
	if len(a.vals) == 0 || len(b.vals) == 0 {
		t.Errorf("one consumer got nothing: %d and %d messages", len(a.vals), len(b.vals))
	}
	for part := range a.parts {
		if b.parts[part] {
			t.Errorf("partition %d was consumed by both members", part)
		}
	}
}

// testCoPartitioned: two members of a group reading two topics keyed alike
// get the same partitions of both, so every key's messages of both topics
// reach the same member.
func testCoPartitioned(t *testing.T, cfg bus.Config) {
	const partitions, keys = 4, 60
	first, second := CreateTopic(t, cfg, partitions), CreateTopic(t, cfg, partitions)
	group := Unique(t, "g")
	p := NewProducer(t, cfg)
	var mu sync.Mutex
	owner := map[string]map[int]bool{} // key -> members that got it
	count := 0
	for member := range 2 {
		StartConsumer(t, cfg, bus.ConsumerConfig{Group: group, Topic: first, CoTopics: []string{second}}, p, func(_ context.Context, m bus.Message) error {
			mu.Lock()
			defer mu.Unlock()
			if owner[string(m.Key)] == nil {
				owner[string(m.Key)] = map[int]bool{}
			}
			owner[string(m.Key)][member] = true
			count++
			return nil
		}, nil)
	}
	ctx := ctxFor(t)
	polltest.Until(t, "two members sharing all partitions of both topics", func() bool {
		g, err := bus.DescribeGroup(ctx, cfg, group)
		if err != nil || g.State != "Stable" || len(g.Members) != 2 {
			return false
		}
		for _, m := range g.Members {
			a, b := slices.Sorted(slices.Values(m.Partitions[first])), slices.Sorted(slices.Values(m.Partitions[second]))
			if len(a) == 0 || !slices.Equal(a, b) {
				return false
			}
		}
		return true
	})
	var msgs []bus.Message
	for i := range keys {
		for _, topic := range []string{first, second} {
			msgs = append(msgs, bus.Message{Topic: topic, Key: []byte("customer-" + strconv.Itoa(i)), Value: []byte(topic)})
		}
	}
	if err := p.Write(ctx, msgs...); err != nil {
		t.Fatalf("write: %v", err)
	}
	polltest.Until(t, "every message consumed", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return count == len(msgs)
	})
	mu.Lock()
	defer mu.Unlock()
	members := map[int]bool{}
	for key, got := range owner {
		if len(got) != 1 {
			t.Errorf("key %s reached %d members", key, len(got))
		}
		for m := range got {
			members[m] = true
		}
	}
	if len(members) != 2 {
		t.Errorf("keys reached %d members, want both", len(members))
	}
}

// testRedeliveryAfterCrash: a message being handled when its consumer
// stops is not committed and goes to the next consumer of the group, while
// the message committed before it is not delivered again.
func testRedeliveryAfterCrash(t *testing.T, cfg bus.Config) {
	topic := CreateTopic(t, cfg, 1)
	group := Unique(t, "g")
	p := NewProducer(t, cfg)
	ctx := ctxFor(t)
	if err := p.Write(ctx,
		bus.Message{Topic: topic, Key: []byte("k"), Value: []byte("m0")},
		bus.Message{Topic: topic, Key: []byte("k"), Value: []byte("m1")},
	); err != nil {
		t.Fatalf("write: %v", err)
	}

	inFlight := make(chan struct{})
	var once sync.Once
	first := StartConsumer(t, cfg, bus.ConsumerConfig{Group: group, Topic: topic}, p, func(ctx context.Context, m bus.Message) error {
		if string(m.Value) == "m0" {
			return nil
		}
		once.Do(func() { close(inFlight) })
		<-ctx.Done() // "crash" while handling m1
		return ctx.Err()
	}, nil)
	Wait(t, inFlight, "m1 handed to the first consumer")
	first.Stop(t)

	lag := TotalLag(t, cfg, group, topic)
	if lag != 1 {
		t.Errorf("lag after the crash = %d, want 1 (m0 committed, m1 not)", lag)
	}

	got := make(chan string, 10)
	StartConsumer(t, cfg, bus.ConsumerConfig{Group: group, Topic: topic}, p, func(_ context.Context, m bus.Message) error {
		got <- string(m.Value)
		return nil
	}, nil)
	select {
	case v := <-got:
		if v != "m1" {
			t.Errorf("second consumer first got %q, want m1 (m0 was committed)", v)
		}
	case <-time.After(patience):
		t.Fatal("m1 was not delivered again")
	}
	polltest.Until(t, "lag 0", func() bool { return TotalLag(t, cfg, group, topic) == 0 })
}

// testRejectGoesToDLQ: a rejected or panicking message is written to the
// dead-letter topic with its reason and original bytes, and the messages
// after it on the same partition still flow.
func testRejectGoesToDLQ(t *testing.T, cfg bus.Config) {
	topic := CreateTopic(t, cfg, 1)
	dlq := CreateTopic(t, cfg, 1)
	group := Unique(t, "g")
	p := NewProducer(t, cfg)
	reg := prometheus.NewRegistry()

	var mu sync.Mutex
	var handled []string
	StartConsumer(t, cfg, bus.ConsumerConfig{Group: group, Topic: topic, DeadLetterTopic: dlq}, p, func(_ context.Context, m bus.Message) error {
		switch v := string(m.Value); v {
		case "poison":
			return fmt.Errorf("decode: %w", bus.Reject(errors.New("bad payload")))
		case "boom":
			panic("boom!")
		default:
			mu.Lock()
			handled = append(handled, v)
			mu.Unlock()
			return nil
		}
	}, reg)

	ctx := ctxFor(t)
	values := []string{"ok1", "poison", "ok2", "boom", "ok3"}
	for _, v := range values {
		m := bus.Message{Topic: topic, Key: []byte("key-" + v), Value: []byte(v), Headers: map[string]string{"h": v}}
		if err := p.Write(ctx, m); err != nil {
			t.Fatalf("write: %v", err)
		}
	}
	polltest.Until(t, "ok1, ok2, ok3 handled", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(handled) >= 3
	})
	mu.Lock()
	if !slices.Equal(handled, []string{"ok1", "ok2", "ok3"}) {
		t.Errorf("handled %v, want [ok1 ok2 ok3]", handled)
	}
	mu.Unlock()

	type letter struct {
		dl  bus.DeadLetter
		key string // of the dead-letter message itself
	}
	letters := make(chan letter, 10)
	StartConsumer(t, cfg, bus.ConsumerConfig{Group: Unique(t, "dlq"), Topic: dlq}, p, func(_ context.Context, m bus.Message) error {
		var dl bus.DeadLetter
		if err := json.Unmarshal(m.Value, &dl); err != nil {
			return bus.Reject(err)
		}
		letters <- letter{dl, string(m.Key)}
		return nil
	}, nil)
	want := []struct {
		offset         int64
		original, why  string
		key, headerVal string
	}{
		{1, "poison", "decode: bad payload", "key-poison", "poison"},
		{3, "boom", "boom!", "key-boom", "boom"},
	}
	for _, w := range want {
		var l letter
		select {
		case l = <-letters:
		case <-time.After(patience):
			t.Fatalf("dead letter for %s not received", w.original)
		}
		dl := l.dl
		if l.key != w.key {
			t.Errorf("dead letter for %s has key %q, want the original key %q", w.original, l.key, w.key)
		}
		if dl.V != bus.DeadLetterVersion || dl.Topic != topic || dl.Partition != 0 || dl.Offset != w.offset ||
			string(dl.Original) != w.original || string(dl.Key) != w.key || dl.Group != group ||
			!strings.Contains(dl.Reason, w.why) || dl.Headers["h"] != w.headerVal || dl.At.IsZero() {
			t.Errorf("dead letter %+v, want v=1 topic=%s partition=0 offset=%d original=%q key=%q group=%s reason containing %q",
				dl, topic, w.offset, w.original, w.key, group, w.why)
		}
	}
	polltest.Until(t, "lag 0", func() bool { return TotalLag(t, cfg, group, topic) == 0 })
	if n := CounterValue(t, reg, "tousu_consumer_messages_dead_lettered_total", map[string]string{"group": group, "topic": topic}); n != 2 {
		t.Errorf("dead-lettered counter = %v, want 2", n)
	}
}

// testOversizedWrite: a message larger than the broker takes is refused
// as a permanent error (IsRejected); a handler that returns that error has
// its input dead-lettered instead of retried forever, and the messages
// after it are handled. The dead letter of a near-limit original is itself
// writable: a truncated copy with the whole original's size and SHA-256.
func testOversizedWrite(t *testing.T, cfg bus.Config) {
	topic := CreateTopic(t, cfg, 1)
	out := CreateTopic(t, cfg, 1)
	dlq := CreateTopic(t, cfg, 1)
	group := Unique(t, "g")
	p := NewProducer(t, cfg)
	ctx := ctxFor(t)

	huge := bus.Message{Topic: out, Key: []byte("k"), Value: bytes.Repeat([]byte("<"), bus.MaxRecordBytes+1)}
	if err := p.Write(ctx, huge); !bus.IsRejected(err) {
		t.Fatalf("write of %d bytes: %v, want an error IsRejected holds for", len(huge.Value), err)
	}
	if err := p.Write(ctx, huge, bus.Message{Topic: out, Key: []byte("k"), Value: []byte("small")}); !bus.IsRejected(err) {
		t.Fatalf("write of a huge and a small message: %v, want an error IsRejected holds for", err)
	}

	nearLimit := bytes.Repeat([]byte("x"), bus.MaxRecordBytes-1024)
	var mu sync.Mutex
	var handled []string
	StartConsumer(t, cfg, bus.ConsumerConfig{Group: group, Topic: topic, DeadLetterTopic: dlq, MaxBackoff: 100 * time.Millisecond}, p, func(ctx context.Context, m bus.Message) error {
		switch {
		case string(m.Value) == "expands":
			return p.Write(ctx, huge)
		case len(m.Value) == len(nearLimit):
			return bus.Reject(errors.New("too big to handle"))
		}
		mu.Lock()
		handled = append(handled, string(m.Value))
		mu.Unlock()
		return nil
	}, nil)
	for _, v := range [][]byte{[]byte("expands"), []byte("ok1"), nearLimit, []byte("ok2")} {
		if err := p.Write(ctx, bus.Message{Topic: topic, Key: []byte("k"), Value: v}); err != nil {
			t.Fatalf("write input of %d bytes: %v", len(v), err)
		}
	}
	polltest.Until(t, "ok1 and ok2 handled", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(handled) == 2
	})

	letters := make(chan bus.DeadLetter, 2)
	StartConsumer(t, cfg, bus.ConsumerConfig{Group: Unique(t, "dlq"), Topic: dlq}, p, func(_ context.Context, m bus.Message) error {
		var dl bus.DeadLetter
		if err := json.Unmarshal(m.Value, &dl); err != nil {
			return bus.Reject(err)
		}
		letters <- dl
		return nil
	}, nil)
	sum := sha256.Sum256(nearLimit)
	for i, want := range []struct {
		size      int
		truncated bool
		sha       string
		reason    string
	}{
		{len("expands"), false, "", "Message Size Too Large"},
		{len(nearLimit), true, hex.EncodeToString(sum[:]), "too big to handle"},
	} {
		var dl bus.DeadLetter
		select {
		case dl = <-letters:
		case <-time.After(patience):
			t.Fatalf("dead letter %d not received", i)
		}
		if dl.OriginalSize != want.size || dl.Truncated != want.truncated || !strings.Contains(dl.Reason, want.reason) ||
			(want.sha != "" && dl.OriginalSHA256 != want.sha) || !bytes.HasPrefix(nearLimit, dl.Original) && want.truncated {
			t.Errorf("dead letter %d: size %d truncated %v sha %s reason %q, want size %d truncated %v sha %s reason containing %q",
				i, dl.OriginalSize, dl.Truncated, dl.OriginalSHA256, dl.Reason, want.size, want.truncated, want.sha, want.reason)
		}
	}
	polltest.Until(t, "lag 0", func() bool { return TotalLag(t, cfg, group, topic) == 0 })
}

// testTransientErrorRetried: a transient error makes the consumer offer
// the same message again until it succeeds; the next message waits.
func testTransientErrorRetried(t *testing.T, cfg bus.Config) {
	topic := CreateTopic(t, cfg, 1)
	group := Unique(t, "g")
	p := NewProducer(t, cfg)
	reg := prometheus.NewRegistry()

	var mu sync.Mutex
	var calls []string
	flakyFailures := 0
	StartConsumer(t, cfg, bus.ConsumerConfig{Group: group, Topic: topic, MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond}, p,
		func(_ context.Context, m bus.Message) error {
			mu.Lock()
			defer mu.Unlock()
			v := string(m.Value)
			calls = append(calls, v)
			if v == "flaky" && flakyFailures < 2 {
				flakyFailures++
				return errors.New("temporarily unavailable")
			}
			return nil
		}, reg)

	ctx := ctxFor(t)
	for _, v := range []string{"a", "flaky", "b"} {
		if err := p.Write(ctx, bus.Message{Topic: topic, Key: []byte("k"), Value: []byte(v)}); err != nil {
			t.Fatalf("write: %v", err)
		}
	}
	polltest.Until(t, "b handled", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.Contains(calls, "b")
	})
	mu.Lock()
	if want := []string{"a", "flaky", "flaky", "flaky", "b"}; !slices.Equal(calls, want) {
		t.Errorf("calls %v, want %v", calls, want)
	}
	mu.Unlock()
	polltest.Until(t, "lag 0", func() bool { return TotalLag(t, cfg, group, topic) == 0 })
	if n := CounterValue(t, reg, "tousu_consumer_retries_total", map[string]string{"group": group, "topic": topic}); n != 2 {
		t.Errorf("retries counter = %v, want 2", n)
	}
}

// testLag: lag counts what the group has not committed, from the broker,
// and the lag gauge reports it per partition.
func testLag(t *testing.T, cfg bus.Config) {
	const partitions, messages = 3, 30
	topic := CreateTopic(t, cfg, partitions)
	group := Unique(t, "g")
	p := NewProducer(t, cfg)
	ctx := ctxFor(t)

	reg := prometheus.NewRegistry()
	w, err := bus.NewLagWatcher(cfg, map[string][]string{group: {topic}}, reg, nil)
	if err != nil {
		t.Fatalf("NewLagWatcher: %v", err)
	}
	if err := w.Update(ctx); err != nil {
		t.Fatalf("Update on an empty topic: %v", err)
	}
	if got := TotalLag(t, cfg, group, topic); got != 0 {
		t.Errorf("lag of an empty topic = %d, want 0", got)
	}

	msgs := make([]bus.Message, messages)
	for i := range msgs {
		msgs[i] = bus.Message{Topic: topic, Key: []byte("k" + strconv.Itoa(i)), Value: []byte("v")}
	}
	if err := p.Write(ctx, msgs...); err != nil {
		t.Fatalf("write: %v", err)
	}
	lag, err := bus.Lag(ctx, cfg, group, topic)
	if err != nil {
		t.Fatalf("Lag: %v", err)
	}
	if len(lag) != partitions {
		t.Errorf("lag has %d partitions, want %d: %v", len(lag), partitions, lag)
	}
	var sum int64
	for _, n := range lag {
		sum += n
	}
	if sum != messages {
		t.Errorf("lag before consuming = %d (%v), want %d", sum, lag, messages)
	}
	if err := w.Update(ctx); err != nil {
		t.Fatalf("Update: %v", err)
	}
	if g := GaugeSum(t, reg, "tousu_consumer_lag", map[string]string{"group": group, "topic": topic}); g != messages {
		t.Errorf("lag gauge before consuming = %v, want %d", g, messages)
	}

	var consumed atomic.Int64
	StartConsumer(t, cfg, bus.ConsumerConfig{Group: group, Topic: topic}, p, func(context.Context, bus.Message) error {
		consumed.Add(1)
		return nil
	}, nil)
	polltest.Until(t, "lag 0 after consuming everything", func() bool { return TotalLag(t, cfg, group, topic) == 0 })
	if consumed.Load() < messages {
		t.Errorf("consumed %d, want %d", consumed.Load(), messages)
	}
	if err := w.Update(ctx); err != nil {
		t.Fatalf("Update: %v", err)
	}
	if g := GaugeSum(t, reg, "tousu_consumer_lag", map[string]string{"group": group, "topic": topic}); g != 0 {
		t.Errorf("lag gauge after consuming = %v, want 0", g)
	}
}

var seq atomic.Int64

var unsafeChars = regexp.MustCompile(`[^a-zA-Z0-9._-]+`)

// Unique returns a topic or group name no other test uses.
func Unique(tb testing.TB, kind string) string {
	name := unsafeChars.ReplaceAllString(tb.Name(), "_")
	if len(name) > 120 {
		name = name[len(name)-120:]
	}
	return fmt.Sprintf("bustest.%s.%s.%d.%d", name, kind, time.Now().UnixNano(), seq.Add(1))
}

// CreateTopic creates a topic with a unique name and the given partitions.
func CreateTopic(tb testing.TB, cfg bus.Config, partitions int) string {
	tb.Helper()
	name := Unique(tb, "t")
	if err := bus.CreateTopics(ctxFor(tb), cfg, partitions, name); err != nil {
		tb.Fatalf("create topic %s: %v", name, err)
	}
	return name
}

// NewProducer returns a producer closed when the test ends.
func NewProducer(tb testing.TB, cfg bus.Config) *bus.Producer {
	tb.Helper()
	p, err := bus.NewProducer(cfg, zaptest.NewLogger(tb, zaptest.Level(zapcore.InfoLevel)), nil)
	if err != nil {
		tb.Fatalf("NewProducer: %v", err)
	}
	tb.Cleanup(func() {
		if err := p.Close(); err != nil {
			tb.Errorf("close producer: %v", err)
		}
	})
	return p
}

// Running is a consumer started by StartConsumer.
type Running struct {
	*bus.Consumer
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

// Stop cancels Run, checks it returned nil and closes the consumer.
func (r *Running) Stop(tb testing.TB) {
	tb.Helper()
	r.once.Do(func() {
		r.cancel()
		if err := <-r.done; err != nil {
			tb.Errorf("Run returned %v, want nil after cancellation", err)
		}
		if err := r.Close(); err != nil {
			tb.Errorf("close consumer: %v", err)
		}
	})
}

// StartConsumer creates a consumer, runs it in a goroutine and stops it
// when the test ends. reg may be nil.
func StartConsumer(tb testing.TB, cfg bus.Config, cc bus.ConsumerConfig, p *bus.Producer, h bus.Handler, reg prometheus.Registerer) *Running {
	tb.Helper()
	c, err := bus.NewConsumer(cfg, cc, p, h, zaptest.NewLogger(tb, zaptest.Level(zapcore.InfoLevel)).Named(cc.Group), reg)
	if err != nil {
		tb.Fatalf("NewConsumer: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Running{Consumer: c, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- c.Run(ctx) }()
	tb.Cleanup(func() { r.Stop(tb) })
	return r
}

// TotalLag returns the lag of group on topic summed over partitions.
func TotalLag(tb testing.TB, cfg bus.Config, group, topic string) int64 {
	tb.Helper()
	lag, err := bus.Lag(ctxFor(tb), cfg, group, topic)
	if err != nil {
		tb.Fatalf("Lag: %v", err)
	}
	var sum int64
	for _, n := range lag {
		sum += n
	}
	return sum
}

// Wait waits for ch to be closed or to deliver, with the same bound.
func Wait(tb testing.TB, ch <-chan struct{}, what string) {
	tb.Helper()
	select {
	case <-ch:
	case <-time.After(patience):
		tb.Fatalf("timed out waiting for %s", what)
	}
}

// CounterValue returns the value of the counter name with exactly labels
// from reg, or 0 if it has none.
func CounterValue(tb testing.TB, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	tb.Helper()
	var v float64
	forMetric(tb, reg, name, labels, func(m metricValue) { v += m.counter })
	return v
}

// GaugeSum returns the sum of the gauges name whose labels include labels.
func GaugeSum(tb testing.TB, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	tb.Helper()
	var v float64
	forMetric(tb, reg, name, labels, func(m metricValue) { v += m.gauge })
	return v
}

type metricValue struct{ counter, gauge float64 }

func forMetric(tb testing.TB, reg *prometheus.Registry, name string, labels map[string]string, fn func(metricValue)) {
	tb.Helper()
	families, err := reg.Gather()
	if err != nil {
		tb.Fatalf("gather: %v", err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue metrics
				}
			}
			fn(metricValue{counter: m.GetCounter().GetValue(), gauge: m.GetGauge().GetValue()})
		}
	}
}

func ctxFor(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	tb.Cleanup(cancel)
	return ctx
}

// OnBrokers runs test as the subtest "embedded", on an embedded broker of
// its own, and as "kafka" on the Kafka brokers of TOUSU_TEST_KAFKA (skipped
// without it, see servertest.Require).
func OnBrokers(t *testing.T, test func(t *testing.T, cfg bus.Config)) {
	t.Run("embedded", func(t *testing.T) {
		br, err := bus.StartBroker(bus.BrokerConfig{Dir: t.TempDir()}, zaptest.NewLogger(t, zaptest.Level(zapcore.WarnLevel)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { br.Close() })
		test(t, bus.Config{Brokers: []string{br.Addr()}})
	})
	t.Run("kafka", func(t *testing.T) {
		test(t, bus.Config{Brokers: strings.Split(servertest.Require(t, servertest.Kafka), ",")})
	})
}
