package bus_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tousu/tousu/internal/polltest"
	"github.com/tousu/tousu/internal/servertest"
	"github.com/tousu/tousu/services/bus"
)

// TestReplicationOnTheCluster creates topics on the three-node cluster
// with bus.replication and bus.min_insync_replicas, and checks that an
// existing topic whose replicas or min ISR disagree with the configuration
// stops ApplyTopics with an error naming the setting. The cluster's own
// default is min ISR 2, so the topic-level value is checked with 3.
func TestReplicationOnTheCluster(t *testing.T) {
	cluster := servertest.RequireCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	run := time.Now().UnixNano()
	spec := bus.TopicSpec{Name: fmt.Sprintf("t.replicated-%d", run), CleanupPolicy: "delete", Retention: 48 * time.Hour}
	cfg := bus.Config{Brokers: cluster.Brokers, Partitions: 3, Replication: 3, MinInsyncReplicas: 3}
	res, err := bus.ApplyTopics(ctx, cfg, []bus.TopicSpec{spec})
	if err != nil || !res[0].Created {
		t.Fatalf("apply with replication 3, min ISR 3: %+v %v", res, err)
	}
	if _, err := bus.ApplyTopics(ctx, cfg, []bus.TopicSpec{spec}); err != nil {
		t.Errorf("second apply with the same settings: %v", err)
	}
	leaders, err := bus.PartitionLeaders(ctx, cfg, spec.Name)
	if err != nil || len(leaders) != 3 {
		t.Fatalf("leaders: %v %v", leaders, err)
	}
	for p, node := range leaders {
		if node < 1 || node > 3 {
			t.Errorf("partition %d led by node %d, want one of 1, 2, 3", p, node)
		}
	}

	tests := []struct {
		name string
		cfg  bus.Config
		want string
	}{
		{"min ISR", bus.Config{Brokers: cluster.Brokers, Partitions: 3, Replication: 3, MinInsyncReplicas: 2}, "has min.insync.replicas=3, the declaration says 2"},
		{"replication", bus.Config{Brokers: cluster.Brokers, Partitions: 3, Replication: 1}, "has 3 replicas, bus.replication says 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := bus.ApplyTopics(ctx, tt.cfg, []bus.TopicSpec{spec})
			checkErr(t, err, tt.want)
		})
	}

	// A topic CreateTopics makes for tests and tools gets the same
	// settings: three replicas take a record with acks=all.
	name := fmt.Sprintf("t.tool-%d", run)
	if err := bus.CreateTopics(ctx, cfg, 1, name); err != nil {
		t.Fatal(err)
	}
	p, err := bus.NewProducer(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	// A topic just created may not yet be in every broker's metadata
	// (a fresh cluster answers Unknown Topic Or Partition for a moment):
	// the write is tried again, as every writer of tousu does.
	var werr error
	if !polltest.Within(30*time.Second, func() bool {
		werr = p.Write(ctx, bus.Message{Topic: name, Key: []byte("13800138000"), Value: []byte(`{"v":1,"text":"12月3日交的话费没到账"}`)})
		return werr == nil
	}) {
		t.Errorf("write with acks=all to three in-sync replicas: %v", werr)
	}
	_, err = bus.ApplyTopics(ctx, tests[0].cfg, []bus.TopicSpec{{Name: name, CleanupPolicy: "delete", Partitions: 1}})
	checkErr(t, err, "has min.insync.replicas=3, the declaration says 2")
}
