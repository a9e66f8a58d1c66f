package bus

import (
	"context"
)

// GroupState is a consumer group as the broker knows it: the consumers
// attached to it and how far it has read each topic it consumes.
type GroupState struct {
	Group string
	// State is the coordinator's word for the group (see Group): "Dead"
	// for a group that never ran or was forgotten, "Empty" for one with
	// committed offsets and no members, "Stable" while members consume.
	State string
	// Members are the consumers attached now; none when no process runs
	// the group.
	Members []GroupMember
	// Err says why the coordinator could not describe the group; State
	// and Members are then empty. The topics are asked for all the same.
	Err error
	// Topics holds one entry per topic asked for, in the order given.
	Topics []TopicLag
}

// TopicLag is how far a consumer group has read one topic.
type TopicLag struct {
	Topic string
	// Partitions are the group's offsets and lag per partition, in
	// partition order.
	Partitions []PartitionLag
	// Total is the lag summed over the partitions.
	Total int64
	// Err says why the offsets could not be learned (an unknown topic,
	// say); Partitions is then empty and Total 0.
	Err error
}

// GroupTopics names a consumer group and the topics it reads.
type GroupTopics struct {
	Group  string
	Topics []string
}

// GroupStates asks the broker for the state of consumer groups, one after
// the other in the order given, and returns one GroupState per group in
// that order, each with one TopicLag per topic. Give the groups of a
// pipeline upstream first: a record a stage has just handed on and
// committed is then seen either in its lag or in the next stage's, never
// in neither (asked downstream first, both could miss it for a moment). A group or topic the
// broker cannot answer for carries its error in its entry, so one missing
// topic does not hide the others; GroupStates itself fails only when cfg is
// invalid. Like Lag it asks again while a coordinator is moving. It is
// meant for the ops view and tests; give ctx a deadline.
func GroupStates(ctx context.Context, cfg Config, groups []GroupTopics) ([]GroupState, error) {
	cfg, err := cfg.ready()
	if err != nil {
		return nil, err
	}
	client, release := newClient(cfg)
	defer release()
	out := make([]GroupState, 0, len(groups))
	for _, gt := range groups {
		group := gt.Group
		gs := GroupState{Group: group}
		g, err := whileCoordinatorMoves(ctx, func() (Group, error) { return DescribeGroup(ctx, cfg, group) })
		if err != nil {
			gs.Err = err
		} else {
			gs.State, gs.Members = g.State, g.Members
		}
		for _, topic := range gt.Topics {
			tl := TopicLag{Topic: topic}
			tl.Partitions, tl.Err = whileCoordinatorMoves(ctx, func() ([]PartitionLag, error) { return partitionLags(ctx, client, group, topic) })
			for _, p := range tl.Partitions {
				tl.Total += p.Lag
			}
			gs.Topics = append(gs.Topics, tl)
		}
		out = append(out, gs)
	}
	return out, nil
}
