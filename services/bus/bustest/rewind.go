package bustest

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/tousu/tousu/internal/polltest"
	"github.com/tousu/tousu/services/bus"
)

// testRewindGroup: a group rewound while it has no members reads the topic
// again from its start; a group with a member is not rewound.
func testRewindGroup(t *testing.T, cfg bus.Config) {
	topic := CreateTopic(t, cfg, 3)
	group := Unique(t, "g")
	p := NewProducer(t, cfg)
	const n = 30
	for i := range n {
		if err := p.Write(ctxFor(t), bus.Message{Topic: topic, Key: []byte(fmt.Sprint("k", i)), Value: []byte(fmt.Sprint(i))}); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	seen := map[string]int{}
	count := func(_ context.Context, m bus.Message) error {
		mu.Lock()
		defer mu.Unlock()
		seen[string(m.Value)]++
		return nil
	}
	total := func() int {
		mu.Lock()
		defer mu.Unlock()
		sum := 0
		for _, c := range seen {
			sum += c
		}
		return sum
	}
	first := StartConsumer(t, cfg, bus.ConsumerConfig{Group: group, Topic: topic}, p, count, nil)
	polltest.Until(t, "every message once, committed", func() bool { return total() == n && TotalLag(t, cfg, group, topic) == 0 })
	if err := bus.RewindGroup(ctxFor(t), cfg, group, topic); err == nil {
		t.Error("a group with a member was rewound")
	}
	first.Stop(t)
	polltest.Until(t, "the group is empty", func() bool {
		g, err := bus.DescribeGroup(ctxFor(t), cfg, group)
		return err == nil && len(g.Members) == 0
	})
	if err := bus.RewindGroup(ctxFor(t), cfg, group, topic); err != nil {
		t.Fatalf("rewind: %v", err)
	}
	if lag := TotalLag(t, cfg, group, topic); lag != n {
		t.Errorf("lag after the rewind = %d, want %d", lag, n)
	}
	StartConsumer(t, cfg, bus.ConsumerConfig{Group: group, Topic: topic}, p, count, nil)
	polltest.Until(t, "every message a second time", func() bool { return total() == 2*n && TotalLag(t, cfg, group, topic) == 0 })
	mu.Lock()
	defer mu.Unlock()
	for v, c := range seen {
		if c != 2 {
			t.Errorf("message %s handled %d times, want 2", v, c)
		}
	}
	// A group that never existed is rewound too (it then starts at the
	// beginning, as a new group does).
	if err := bus.RewindGroup(ctxFor(t), cfg, Unique(t, "g"), topic); err != nil {
		t.Errorf("rewind a new group: %v", err)
	}
}
