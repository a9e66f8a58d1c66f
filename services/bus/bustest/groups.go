package bustest

import (
	"context"
	"fmt"
	"testing"

	"github.com/tousu/tousu/internal/polltest"
	"github.com/tousu/tousu/services/bus"
)

// testGroupStates: the broker tells which consumers are attached to a group
// and how far it has read; a group never started has no members and lags
// by every record; an unknown topic is an error of its own entry.
func testGroupStates(t *testing.T, cfg bus.Config) {
	const partitions, messages = 2, 20
	topic := CreateTopic(t, cfg, partitions)
	missing := Unique(t, "missing")
	running, idle := Unique(t, "running"), Unique(t, "idle")
	p := NewProducer(t, cfg)
	for i := range messages {
		if err := p.Write(ctxFor(t), bus.Message{Topic: topic, Key: []byte(fmt.Sprint("k", i)), Value: []byte("v")}); err != nil {
			t.Fatal(err)
		}
	}
	StartConsumer(t, cfg, bus.ConsumerConfig{Group: running, Topic: topic}, p, func(context.Context, bus.Message) error { return nil }, nil)
	groups := []bus.GroupTopics{{Group: running, Topics: []string{topic}}, {Group: idle, Topics: []string{topic, missing}}}

	ctx := ctxFor(t)
	var states []bus.GroupState
	caughtUp := polltest.Within(patience, func() bool {
		var err error
		states, err = bus.GroupStates(ctx, cfg, groups)
		if err != nil {
			t.Fatalf("GroupStates: %v", err)
		}
		r := stateOf(states, running)
		return len(r.Members) > 0 && len(r.Topics) == 1 && r.Topics[0].Err == nil && r.Topics[0].Total == 0
	})
	if !caughtUp {
		t.Fatalf("timed out waiting for %s to have a member and no lag; last seen %+v", running, states)
	}
	if len(states) != 2 || states[0].Group != running || states[1].Group != idle {
		t.Fatalf("states %+v, want the two groups in the order asked", states)
	}

	r := stateOf(states, running)
	if r.Err != nil || r.State != "Stable" || len(r.Members) != 1 || r.Members[0].ClientID == "" {
		t.Errorf("running group: state %q, members %+v, error %v; want Stable with one member naming its client", r.State, r.Members, r.Err)
	}
	checkPartitions(t, running, r.Topics[0], partitions, func(pl bus.PartitionLag) bool {
		return pl.Committed == pl.End && pl.Lag == 0
	})

	g := stateOf(states, idle)
	if g.Err != nil || len(g.Members) != 0 {
		t.Errorf("idle group: members %+v, error %v; want none", g.Members, g.Err)
	}
	if len(g.Topics) != 2 || g.Topics[0].Topic != topic || g.Topics[1].Topic != missing {
		t.Fatalf("idle group topics %+v, want %s then %s", g.Topics, topic, missing)
	}
	if tl := g.Topics[0]; tl.Total != messages {
		t.Errorf("idle group lag %d, want every record (%d)", tl.Total, messages)
	}
	checkPartitions(t, idle, g.Topics[0], partitions, func(pl bus.PartitionLag) bool {
		return pl.Committed == -1 && pl.Lag == pl.End
	})
	if tl := g.Topics[1]; tl.Err == nil || len(tl.Partitions) != 0 || tl.Total != 0 {
		t.Errorf("unknown topic: %+v, want an error and no partitions", tl)
	}
}

// checkPartitions checks that tl holds every partition, in order, without
// error, each satisfying ok.
func checkPartitions(tb testing.TB, group string, tl bus.TopicLag, partitions int, ok func(bus.PartitionLag) bool) {
	tb.Helper()
	if tl.Err != nil || len(tl.Partitions) != partitions {
		tb.Errorf("%s on %s: %d partitions, error %v; want %d", group, tl.Topic, len(tl.Partitions), tl.Err, partitions)
		return
	}
	for i, pl := range tl.Partitions {
		if pl.Partition != i || !ok(pl) {
			tb.Errorf("%s on %s: partition %d: %+v", group, tl.Topic, i, pl)
		}
	}
}

// stateOf returns the state of group among states, or a zero GroupState.
func stateOf(states []bus.GroupState, group string) bus.GroupState {
	for _, s := range states {
		if s.Group == group {
			return s
		}
	}
	return bus.GroupState{}
}
