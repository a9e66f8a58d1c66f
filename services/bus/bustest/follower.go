package bustest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"

	"github.com/tousu/tousu/internal/polltest"
	"github.com/tousu/tousu/services/bus"
)

// StartFollower creates a follower, runs it in a goroutine and, when the
// test ends, cancels it and checks that Run returned nil. reg may be nil.
func StartFollower(tb testing.TB, cfg bus.Config, fc bus.FollowerConfig, h bus.Handler, reg prometheus.Registerer) {
	tb.Helper()
	f, err := bus.NewFollower(cfg, fc, h, zaptest.NewLogger(tb, zaptest.Level(zapcore.InfoLevel)).Named("follower"), reg)
	if err != nil {
		tb.Fatalf("NewFollower: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				tb.Errorf("follower Run returned %v, want nil after cancellation", err)
			}
		case <-time.After(patience):
			tb.Errorf("follower Run did not return after cancellation")
		}
	})
}

// followed records what one follower's handler was done with.
type followed struct {
	mu     sync.Mutex
	seqs   map[string][]int // key -> sequence numbers, in arrival order
	parts  map[int]bool
	n      int
	flakes int // transient failures still to return for "flaky"
}

func newFollowed() *followed {
	return &followed{seqs: map[string][]int{}, parts: map[int]bool{}, flakes: 2}
}

// handle rejects "poison", fails "flaky" transiently twice, and records
// every other value (a sequence number).
func (f *followed) handle(_ context.Context, m bus.Message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch v := string(m.Value); v {
	case "poison":
		return fmt.Errorf("decode: %w", bus.Reject(errors.New("bad payload")))
	case "flaky":
		if f.flakes > 0 {
			f.flakes--
			return errors.New("temporarily unavailable")
		}
		return nil
	default:
		seq, err := strconv.Atoi(v)
		if err != nil {
			return bus.Reject(err)
		}
		f.seqs[string(m.Key)] = append(f.seqs[string(m.Key)], seq)
		f.parts[m.Partition] = true
		f.n++
		return nil
	}
}

func (f *followed) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}

// testFollower: two followers each get every message of every partition,
// those written before they started and those written after, each once
// and in order per key; a rejected message is skipped and a transiently
// failing one retried without stalling the rest.
func testFollower(t *testing.T, cfg bus.Config) {
	const partitions, keys, perKey = 3, 12, 10
	topic := CreateTopic(t, cfg, partitions)
	p := NewProducer(t, cfg)
	ctx := ctxFor(t)
	// write writes sequence numbers [from, to) of every key, and a
	// poison and a flaky message among them.
	write := func(from, to int) {
		var msgs []bus.Message
		for i := from; i < to; i++ {
			for k := range keys {
				msgs = append(msgs, bus.Message{Topic: topic, Key: []byte("key-" + strconv.Itoa(k)), Value: []byte(strconv.Itoa(i))})
			}
			if i == from+1 {
				msgs = append(msgs,
					bus.Message{Topic: topic, Key: []byte("key-0"), Value: []byte("poison")},
					bus.Message{Topic: topic, Key: []byte("key-1"), Value: []byte("flaky")})
			}
		}
		if err := p.Write(ctx, msgs...); err != nil {
			t.Fatalf("write: %v", err)
		}
	}

	write(0, perKey/2)
	fc := bus.FollowerConfig{Topic: topic, MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond}
	followers := []*followed{newFollowed(), newFollowed()}
	regs := []*prometheus.Registry{prometheus.NewRegistry(), prometheus.NewRegistry()}
	for i, f := range followers {
		StartFollower(t, cfg, fc, f.handle, regs[i])
	}
	for i, f := range followers {
		polltest.Until(t, fmt.Sprintf("follower %d has the messages written before it started", i), func() bool { return f.count() == keys*perKey/2 })
	}
	write(perKey/2, perKey)
	for i, f := range followers {
		polltest.Until(t, fmt.Sprintf("follower %d has the messages written after it started", i), func() bool { return f.count() >= keys*perKey })
	}

	want := make([]int, perKey)
	for i := range want {
		want[i] = i
	}
	for i, f := range followers {
		f.mu.Lock()
		if len(f.parts) != partitions {
			t.Errorf("follower %d read partitions %v, want all %d", i, f.parts, partitions)
		}
		for k := range keys {
			key := "key-" + strconv.Itoa(k)
			if !slices.Equal(f.seqs[key], want) {
				t.Errorf("follower %d got %s as %v, want 0..%d once each in order", i, key, f.seqs[key], perKey-1)
			}
		}
		if f.flakes != 0 {
			t.Errorf("follower %d: the flaky messages were not retried until done (%d failures left)", i, f.flakes)
		}
		f.mu.Unlock()
		labels := map[string]string{"topic": topic}
		if n := CounterValue(t, regs[i], "tousu_follower_messages_rejected_total", labels); n != 2 {
			t.Errorf("follower %d rejected %v messages, want the 2 poison ones", i, n)
		}
		if n := CounterValue(t, regs[i], "tousu_follower_retries_total", labels); n != 2 {
			t.Errorf("follower %d retried %v times, want 2 (the first flaky message)", i, n)
		}
	}
}

// testFollowerWaitsForTopic: a follower of a topic that does not exist
// yet retries until it does, then reads it.
func testFollowerWaitsForTopic(t *testing.T, cfg bus.Config) {
	topic := Unique(t, "t")
	reg := prometheus.NewRegistry()
	f := newFollowed()
	StartFollower(t, cfg, bus.FollowerConfig{Topic: topic, MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}, f.handle, reg)
	polltest.Until(t, "the follower failing to find the topic", func() bool {
		return CounterValue(t, reg, "tousu_follower_errors_total", map[string]string{"topic": topic, "kind": "metadata"}) >= 2
	})
	if err := bus.CreateTopics(ctxFor(t), cfg, 2, topic); err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	p := NewProducer(t, cfg)
	var msgs []bus.Message
	for i := range 20 {
		msgs = append(msgs, bus.Message{Topic: topic, Key: []byte("key-" + strconv.Itoa(i)), Value: []byte(strconv.Itoa(i))})
	}
	if err := p.Write(ctxFor(t), msgs...); err != nil {
		t.Fatalf("write: %v", err)
	}
	polltest.Until(t, "every message followed", func() bool { return f.count() == len(msgs) })
	f.mu.Lock()
	defer f.mu.Unlock()
	var keys []string
	for k := range f.seqs {
		keys = append(keys, k)
	}
	if len(keys) != len(msgs) {
		t.Errorf("followed keys %s, want %d", strings.Join(keys, ","), len(msgs))
	}
}

// testFollowerCaughtUp: CaughtUp is called once, after every message the
// topic held at the start was handled (a rejected one and a transiently
// failing one among them, and an empty partition beside), and not again
// for messages written later; on an empty topic it is called at once.
func testFollowerCaughtUp(t *testing.T, cfg bus.Config) {
	const partitions = 3
	topic := CreateTopic(t, cfg, partitions)
	p := NewProducer(t, cfg)
	var msgs []bus.Message
	for i := range 40 {
		// Two keys: at most two of the three partitions hold messages.
		msgs = append(msgs, bus.Message{Topic: topic, Key: []byte("key-" + strconv.Itoa(i%2)), Value: []byte(strconv.Itoa(i))})
	}
	msgs = append(msgs, bus.Message{Topic: topic, Key: []byte("key-0"), Value: []byte("poison")},
		bus.Message{Topic: topic, Key: []byte("key-1"), Value: []byte("flaky")})
	if err := p.Write(ctxFor(t), msgs...); err != nil {
		t.Fatalf("write: %v", err)
	}
	f := newFollowed()
	var mu sync.Mutex
	var calls, handledAtCall, flakesAtCall []int
	fc := bus.FollowerConfig{Topic: topic, MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, CaughtUp: func() {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, 1)
		handledAtCall = append(handledAtCall, f.count())
		f.mu.Lock()
		flakesAtCall = append(flakesAtCall, f.flakes)
		f.mu.Unlock()
	}}
	StartFollower(t, cfg, fc, f.handle, nil)
	polltest.Until(t, "CaughtUp called", func() bool { mu.Lock(); defer mu.Unlock(); return len(calls) > 0 })
	if err := p.Write(ctxFor(t), bus.Message{Topic: topic, Key: []byte("key-0"), Value: []byte("40")}); err != nil {
		t.Fatalf("write: %v", err)
	}
	polltest.Until(t, "the later message followed", func() bool { return f.count() == 41 })
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != 1 || handledAtCall[0] != 40 || flakesAtCall[0] != 0 {
		t.Errorf("CaughtUp called %d times, first with %v handled and %v flaky failures left; want once, with all 40 handled and the flaky one done",
			len(calls), handledAtCall, flakesAtCall)
	}

	empty := CreateTopic(t, cfg, partitions)
	called := make(chan struct{})
	var once sync.Once
	StartFollower(t, cfg, bus.FollowerConfig{Topic: empty, CaughtUp: func() { once.Do(func() { close(called) }) }}, f.handle, nil)
	select {
	case <-called:
	case <-time.After(patience):
		t.Error("CaughtUp not called for an empty topic")
	}
}
