package bus_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tousu/tousu/deploy"
	"github.com/tousu/tousu/services/bus"
)

func TestParseTopics(t *testing.T) {
	specs, err := bus.ParseTopics(deploy.TopicsYAML)
	if err != nil {
		t.Fatalf("deploy/topics.yaml: %v", err)
	}
	if len(specs) != len(bus.AllTopics) {
		t.Errorf("deploy/topics.yaml declares %d topics, want %d", len(specs), len(bus.AllTopics))
	}
	// The compacted topics that hold personal information drop a record
	// an erasure replaced within a stated bound.
	for _, spec := range specs {
		switch spec.Name {
		case bus.TopicCases, bus.TopicRouterState, bus.TopicCorrections:
			if spec.Segment != 24*time.Hour || spec.MaxCompactionLag != 24*time.Hour || spec.DeleteRetention != 24*time.Hour {
				t.Errorf("%s: segment %s, max_compaction_lag %s, delete_retention %s; want 24h each", spec.Name, spec.Segment, spec.MaxCompactionLag, spec.DeleteRetention)
			}
		}
	}
	tests := []struct{ name, yaml, want string }{
		{"compaction lag on a delete topic", "topics:\n  - {name: alerts, cleanup_policy: delete, max_compaction_lag: 1h}\n", "only a compacted topic"},
		{"negative segment", "topics:\n  - {name: cases, cleanup_policy: compact, segment: -1h}\n", "must not be negative"},
		{"unknown key", "topics:\n  - name: cases\n    retenton: 1h\n", `unknown key "topics[0].retenton"`},
		{"unknown policy", "topics:\n  - name: cases\n    cleanup_policy: shred\n", `"shred" is not delete or compact`},
		{"declared twice", "topics:\n  - {name: cases, cleanup_policy: compact}\n  - {name: cases, cleanup_policy: compact}\n", "declared twice"},
		{"missing topic", "topics:\n  - {name: cases, cleanup_policy: compact}\n", "complaints.raw is not declared"},
		{"compact with retention", "topics:\n  - {name: cases, cleanup_policy: compact, retention: 1h}\n", "compacted topic"},
		{"actions not co-partitioned", "topics:\n  - {name: complaints.normalized, cleanup_policy: delete, partitions: 12}\n  - {name: case.actions, cleanup_policy: delete}\n", "must have the same partitions"},
		{"router state not co-partitioned", "topics:\n  - {name: complaints.normalized, cleanup_policy: delete}\n  - {name: router.state, cleanup_policy: compact, partitions: 3}\n", "router.state must have the same partitions"},
		{"accounts on more than one partition", "topics:\n  - {name: console.accounts, cleanup_policy: compact, partitions: 3}\n", "console.accounts must have 1 partition"},
		{"accounts on the default partitions", "topics:\n  - {name: console.accounts, cleanup_policy: compact}\n", "console.accounts must have 1 partition"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := bus.ParseTopics([]byte(tt.yaml))
			checkErr(t, err, tt.want)
		})
	}
}

func TestLoadTopicsFromFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "topics.yaml")
	os.WriteFile(path, []byte("topics: []\n"), 0o600)
	_, err := bus.LoadTopics(bus.Config{TopicsFile: path})
	checkErr(t, err, "is not declared")
	specs, err := bus.LoadTopics(bus.Config{})
	if err != nil || len(specs) == 0 {
		t.Errorf("built-in topics: %v %v", specs, err)
	}
}

func TestApplyTopics(t *testing.T) {
	b := startBroker(t, "")
	cfg := bus.Config{Brokers: []string{b.Addr()}, Partitions: 3}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	specs := []bus.TopicSpec{
		{Name: "t.events", CleanupPolicy: "delete", Retention: 48 * time.Hour},
		{Name: "t.state", CleanupPolicy: "compact", Partitions: 2},
	}
	res, err := bus.ApplyTopics(ctx, cfg, specs)
	if err != nil {
		t.Fatal(err)
	}
	if !res[0].Created || !res[1].Created || res[0].Partitions != 3 || res[1].Partitions != 2 {
		t.Errorf("first apply = %+v", res)
	}
	res, err = bus.ApplyTopics(ctx, cfg, specs)
	if err != nil || res[0].Created || res[1].Created {
		t.Errorf("second apply = %+v, %v; want nothing created", res, err)
	}
	lag, err := bus.Lag(ctx, cfg, "nobody", "t.state")
	if err != nil || len(lag) != 2 {
		t.Errorf("t.state partitions: %v %v", lag, err)
	}

	disagree := []struct {
		spec bus.TopicSpec
		want string
	}{
		{bus.TopicSpec{Name: "t.events", CleanupPolicy: "compact"}, "t.events has cleanup.policy=delete, the declaration says compact"},
		{bus.TopicSpec{Name: "t.events", CleanupPolicy: "delete", Retention: time.Hour}, "retention.ms=172800000, the declaration says 3600000"},
		{bus.TopicSpec{Name: "t.state", CleanupPolicy: "compact", Partitions: 4}, "t.state has 2 partitions, the declaration says 4"},
	}
	for _, d := range disagree {
		_, err := bus.ApplyTopics(ctx, cfg, []bus.TopicSpec{d.spec})
		checkErr(t, err, d.want)
	}
}
