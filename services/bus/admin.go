package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

// newClient returns a kafka-go Client with a transport of its own and the
// function that releases its connections. A fresh transport matters:
// kafka-go transports answer metadata requests from a cache, so a
// long-lived one would neither notice a dead broker nor a new topic.
func newClient(cfg Config) (*kafka.Client, func()) {
	tr := cfg.transport(&kafka.Transport{})
	return &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Transport: roundTripper{tr, cfg.sec}}, tr.CloseIdleConnections
}

// Ping checks that the brokers answer a metadata request. It is meant for
// readiness probes; give ctx a deadline.
func Ping(ctx context.Context, cfg Config) error {
	cfg, err := cfg.ready()
	if err != nil {
		return err
	}
	client, release := newClient(cfg)
	defer release()
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{}})
	if err != nil {
		return fmt.Errorf("bus: ping %v: %w", cfg.Brokers, err)
	}
	if len(md.Brokers) == 0 {
		return fmt.Errorf("bus: ping %v: metadata lists no brokers", cfg.Brokers)
	}
	return nil
}

// CreateTopics creates the named topics with the given partition count
// (0 = cfg.Partitions), cfg.Replication replicas, cfg.MinInsyncReplicas
// and otherwise the broker's default settings, for tests and tools. It is
// idempotent.
func CreateTopics(ctx context.Context, cfg Config, partitions int, names ...string) error {
	cfg, err := cfg.ready()
	if err != nil {
		return err
	}
	if partitions < 0 {
		return fmt.Errorf("bus: create topics: negative partition count %d", partitions)
	}
	if partitions == 0 {
		partitions = cfg.Partitions
	}
	if len(names) == 0 {
		return nil
	}
	req := &kafka.CreateTopicsRequest{}
	for _, name := range names {
		if name == "" {
			return errors.New("bus: create topics: empty topic name")
		}
		req.Topics = append(req.Topics, kafka.TopicConfig{
			Topic:             name,
			NumPartitions:     partitions,
			ReplicationFactor: cfg.Replication,
			ConfigEntries:     replicaConfig(cfg),
		})
	}

	client, release := newClient(cfg)
	resp, err := client.CreateTopics(ctx, req)
	release()
	if err != nil {
		return fmt.Errorf("bus: create topics %v: %w", names, err)
	}
	for name, terr := range resp.Errors {
		if terr != nil && !errors.Is(terr, kafka.TopicAlreadyExists) {
			return fmt.Errorf("bus: create topic %s: %w", name, terr)
		}
	}
	return waitTopics(ctx, cfg, names)
}

// waitTopics polls until every named topic exists, each of its partitions
// has a leader in the metadata, and the leaders answer for them (a fresh
// topic on Kafka shows a leader in the metadata a moment before that
// leader serves it).
func waitTopics(ctx context.Context, cfg Config, names []string) error {
	delay := 10 * time.Millisecond
	for {
		missing, err := missingTopics(ctx, cfg, names)
		if err == nil && len(missing) == 0 {
			return nil
		}
		if err == nil {
			err = fmt.Errorf("not yet visible: %v", missing)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("bus: waiting for topics: %w (last: %w)", ctx.Err(), err)
		case <-t.C:
		}
		delay = min(2*delay, 500*time.Millisecond)
	}
}

func missingTopics(ctx context.Context, cfg Config, names []string) ([]string, error) {
	client, release := newClient(cfg)
	defer release()
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: names})
	if err != nil {
		return nil, err
	}
	ok := make(map[string]bool, len(md.Topics))
	for _, t := range md.Topics {
		if t.Error != nil || len(t.Partitions) == 0 {
			continue
		}
		led := true
		for _, p := range t.Partitions {
			if p.Error != nil || p.Leader.Host == "" {
				led = false
			}
		}
		ok[t.Name] = led
	}
	var missing []string
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for _, t := range md.Topics {
		if !ok[t.Name] {
			continue
		}
		for _, p := range t.Partitions {
			req.Topics[t.Name] = append(req.Topics[t.Name], kafka.LastOffsetOf(p.ID))
		}
	}
	if len(req.Topics) > 0 {
		lo, err := client.ListOffsets(ctx, req)
		if err != nil {
			return nil, err
		}
		for name, parts := range lo.Topics {
			for _, p := range parts {
				if p.Error != nil {
					ok[name] = false
				}
			}
		}
	}
	for _, n := range names {
		if !ok[n] {
			missing = append(missing, n)
		}
	}
	return missing, nil
}

// partitionsOf returns the partition ids of topic.
func partitionsOf(ctx context.Context, client *kafka.Client, topic string) ([]int, error) {
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, err
	}
	for _, t := range md.Topics {
		if t.Name != topic {
			continue
		}
		if t.Error != nil {
			return nil, t.Error
		}
		ids := make([]int, 0, len(t.Partitions))
		for _, p := range t.Partitions {
			ids = append(ids, p.ID)
		}
		return ids, nil
	}
	return nil, kafka.UnknownTopicOrPartition
}

// GroupMember is one member of a consumer group as the coordinator sees it.
type GroupMember struct {
	ID       string
	ClientID string
	Host     string
	// Partitions maps each topic to the partitions assigned to the member.
	Partitions map[string][]int
}

// Group describes a consumer group: its state ("Stable",
// "PreparingRebalance", "CompletingRebalance", "Empty" or "Dead") and its
// members. It is for operators and tests.
type Group struct {
	State   string
	Members []GroupMember
}

// DescribeGroup asks the group coordinator for the state, members and
// partition assignment of group.
func DescribeGroup(ctx context.Context, cfg Config, group string) (Group, error) {
	cfg, err := cfg.ready()
	if err != nil {
		return Group{}, err
	}
	client, release := newClient(cfg)
	defer release()
	resp, err := client.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
	if err != nil {
		return Group{}, fmt.Errorf("bus: describe group %s: %w", group, err)
	}
	for _, g := range resp.Groups {
		if g.GroupID != group {
			continue
		}
		if g.Error != nil {
			return Group{}, fmt.Errorf("bus: describe group %s: %w", group, g.Error)
		}
		out := Group{State: g.GroupState}
		for _, m := range g.Members {
			gm := GroupMember{ID: m.MemberID, ClientID: m.ClientID, Host: m.ClientHost, Partitions: map[string][]int{}}
			for _, t := range m.MemberAssignments.Topics {
				gm.Partitions[t.Topic] = append(gm.Partitions[t.Topic], t.Partitions...)
			}
			out.Members = append(out.Members, gm)
		}
		return out, nil
	}
	return Group{}, fmt.Errorf("bus: describe group %s: not in the response", group)
}

// RewindGroup commits, for group, the earliest retained offset of every
// partition of topic, so that the group's next member reads the topic from
// its start: a consumer whose state is gone rebuilds it from a compacted
// topic (the escalator's schedule from cases). The group must have no
// members; a broker refuses the commit of a group that has (the error says
// so), so a second instance cannot rewind a running one.
func RewindGroup(ctx context.Context, cfg Config, group, topic string) error {
	cfg, err := cfg.ready()
	if err != nil {
		return err
	}
	client, release := newClient(cfg)
	defer release()
	if g, err := DescribeGroup(ctx, cfg, group); err == nil && len(g.Members) > 0 {
		return fmt.Errorf("bus: rewind group %s: it has %d members; stop them first", group, len(g.Members))
	}
	parts, err := partitionsOf(ctx, client, topic)
	if err != nil {
		return fmt.Errorf("bus: rewind group %s on %s: metadata: %w", group, topic, err)
	}
	reqs := make([]kafka.OffsetRequest, 0, len(parts))
	for _, p := range parts {
		reqs = append(reqs, kafka.FirstOffsetOf(p))
	}
	lo, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return fmt.Errorf("bus: rewind group %s on %s: list offsets: %w", group, topic, err)
	}
	commits := make([]kafka.OffsetCommit, 0, len(parts))
	for _, po := range lo.Topics[topic] {
		if po.Error != nil {
			return fmt.Errorf("bus: rewind group %s on %s: list offsets of partition %d: %w", group, topic, po.Partition, po.Error)
		}
		commits = append(commits, kafka.OffsetCommit{Partition: po.Partition, Offset: po.FirstOffset})
	}
	resp, err := client.OffsetCommit(ctx, &kafka.OffsetCommitRequest{GroupID: group, GenerationID: -1, Topics: map[string][]kafka.OffsetCommit{topic: commits}})
	if err != nil {
		return fmt.Errorf("bus: rewind group %s on %s: %w", group, topic, err)
	}
	for _, p := range resp.Topics[topic] {
		if p.Error != nil {
			return fmt.Errorf("bus: rewind group %s on %s: partition %d: %w", group, topic, p.Partition, p.Error)
		}
	}
	return nil
}

// PartitionLeaders returns, for each partition of topic, the node id of
// the broker that leads it, for operators and fault tests. A partition
// without a leader (its brokers are down) is missing from the map.
func PartitionLeaders(ctx context.Context, cfg Config, topic string) (map[int]int, error) {
	cfg, err := cfg.ready()
	if err != nil {
		return nil, err
	}
	client, release := newClient(cfg)
	defer release()
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, fmt.Errorf("bus: leaders of %s: %w", topic, err)
	}
	for _, t := range md.Topics {
		if t.Name != topic {
			continue
		}
		if t.Error != nil {
			return nil, fmt.Errorf("bus: leaders of %s: %w", topic, t.Error)
		}
		leaders := make(map[int]int, len(t.Partitions))
		for _, p := range t.Partitions {
			if p.Error == nil && p.Leader.Host != "" {
				leaders[p.ID] = p.Leader.ID
			}
		}
		return leaders, nil
	}
	return nil, fmt.Errorf("bus: leaders of %s: %w", topic, kafka.UnknownTopicOrPartition)
}
