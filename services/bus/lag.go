package bus

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/tousu/tousu/internal/backoff"
)

// PartitionLag is how far a consumer group has read one partition of a
// topic, as the broker knows it.
type PartitionLag struct {
	Partition int
	// Committed is the offset the group committed (the next record it
	// reads), or -1 when it has committed none.
	Committed int64
	// End is the offset the next record written will get: the high
	// watermark.
	End int64
	// Lag is the records the group has not committed yet: End minus
	// Committed, or minus the first retained offset when the group has
	// committed nothing (a new group starts at the oldest record).
	Lag int64
}

// Lag returns, for every partition of topic, how many records group has
// not committed yet (see PartitionLag.Lag). It asks the broker, so it is
// right whichever process consumes. While the group's coordinator is
// moving or loading (a broker just started, say) it asks again a few times.
func Lag(ctx context.Context, cfg Config, group, topic string) (map[int]int64, error) {
	cfg, err := cfg.ready()
	if err != nil {
		return nil, err
	}
	client, release := newClient(cfg)
	defer release()
	parts, err := whileCoordinatorMoves(ctx, func() ([]PartitionLag, error) { return partitionLags(ctx, client, group, topic) })
	if err != nil {
		return nil, err
	}
	lag := make(map[int]int64, len(parts))
	for _, p := range parts {
		lag[p.Partition] = p.Lag
	}
	return lag, nil
}

// whileCoordinatorMoves calls ask until it succeeds, fails for another
// reason than a group coordinator being elected or loading its offsets,
// or failed five times, pausing a little longer each time.
func whileCoordinatorMoves[T any](ctx context.Context, ask func() (T, error)) (T, error) {
	for attempt := 1; ; attempt++ {
		v, err := ask()
		if err == nil || !coordinatorMoving(err) || attempt == 5 {
			return v, err
		}
		if !backoff.Sleep(ctx, time.Duration(attempt)*100*time.Millisecond) {
			var zero T
			return zero, ctx.Err()
		}
	}
}

// coordinatorMoving reports the errors a group coordinator answers while
// it is being elected or loads its offsets: worth asking again.
func coordinatorMoving(err error) bool {
	return errors.Is(err, kafka.NotCoordinatorForGroup) || errors.Is(err, kafka.GroupCoordinatorNotAvailable) ||
		errors.Is(err, kafka.GroupLoadInProgress)
}

// partitionLags returns the offsets and lag of group on every partition of
// topic, in partition order.
func partitionLags(ctx context.Context, client *kafka.Client, group, topic string) ([]PartitionLag, error) {
	parts, first, last, err := offsetRanges(ctx, client, topic)
	if err != nil {
		return nil, fmt.Errorf("bus: lag of %s on %s: %w", group, topic, err)
	}
	of, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: parts}})
	if err != nil {
		return nil, fmt.Errorf("bus: lag of %s on %s: offset fetch: %w", group, topic, err)
	}
	// A group that never committed has no offsets; some brokers (kfake)
	// say so with GROUP_ID_NOT_FOUND, Kafka with offsets of -1.
	if of.Error != nil && !errors.Is(of.Error, kafka.GroupIdNotFound) {
		return nil, fmt.Errorf("bus: lag of %s on %s: offset fetch: %w", group, topic, of.Error)
	}
	committed := make(map[int]int64, len(parts))
	for _, p := range of.Topics[topic] {
		if p.Error != nil {
			if errors.Is(p.Error, kafka.GroupIdNotFound) {
				continue
			}
			return nil, fmt.Errorf("bus: lag of %s on %s: offset fetch of partition %d: %w", group, topic, p.Partition, p.Error)
		}
		committed[p.Partition] = p.CommittedOffset
	}
	slices.Sort(parts)
	out := make([]PartitionLag, 0, len(parts))
	for _, p := range parts {
		hw, ok := last[p]
		if !ok {
			return nil, fmt.Errorf("bus: lag of %s on %s: no offsets for partition %d", group, topic, p)
		}
		pl := PartitionLag{Partition: p, Committed: -1, End: hw}
		from, ok := committed[p]
		if ok && from >= 0 {
			pl.Committed = from
		} else {
			from = first[p]
		}
		pl.Lag = max(hw-from, 0)
		out = append(out, pl)
	}
	return out, nil
}

// LagWatcher keeps the gauge tousu_consumer_lag{group,topic,partition}
// up to date for a set of consumer groups. It computes lag from the broker
// (see Lag), so any one process can report the lag of a group whose
// members run elsewhere. Run one LagWatcher per process that serves
// metrics; Update and Run are safe for concurrent use.
type LagWatcher struct {
	cfg    Config
	groups map[string][]string
	gauge  *prometheus.GaugeVec
	logger *zap.Logger
}

// NewLagWatcher returns a LagWatcher for groups, a map from consumer group
// to the topics it reads, and registers the gauge with reg (nil registers
// none).
func NewLagWatcher(cfg Config, groups map[string][]string, reg prometheus.Registerer, logger *zap.Logger) (*LagWatcher, error) {
	cfg, err := cfg.ready()
	if err != nil {
		return nil, err
	}
	for g, ts := range groups {
		if g == "" || len(ts) == 0 || slices.Contains(ts, "") {
			return nil, fmt.Errorf("bus: lag watcher: empty group or topic in %q -> %q", g, ts)
		}
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	gauge, err := register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "tousu_consumer_lag",
		Help: "Records of the topic partition not yet committed by the consumer group (high watermark minus committed offset).",
	}, []string{"group", "topic", "partition"}))
	if err != nil {
		return nil, err
	}
	return &LagWatcher{cfg: cfg, groups: maps.Clone(groups), gauge: gauge, logger: logger}, nil
}

// Update asks the broker for the lag of every watched group once and sets
// the gauge. Groups that fail keep their previous values; the errors are
// joined and returned.
func (w *LagWatcher) Update(ctx context.Context) error {
	client, release := newClient(w.cfg)
	defer release()
	var errs []error
	for _, group := range slices.Sorted(maps.Keys(w.groups)) {
		for _, topic := range w.groups[group] {
			parts, err := partitionLags(ctx, client, group, topic)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			for _, p := range parts {
				w.gauge.WithLabelValues(group, topic, strconv.Itoa(p.Partition)).Set(float64(p.Lag))
			}
		}
	}
	return errors.Join(errs...)
}

// Run calls Update at once and then every interval until ctx ends; it
// returns nil then. Failed updates are logged at warn.
func (w *LagWatcher) Run(ctx context.Context, every time.Duration) error {
	if every <= 0 {
		return fmt.Errorf("bus: lag watcher: interval must be positive, got %s", every)
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		uctx, cancel := context.WithTimeout(ctx, max(every, 5*time.Second))
		if err := w.Update(uctx); err != nil && ctx.Err() == nil {
			w.logger.Warn("consumer lag update failed", zap.Error(err))
		}
		cancel()
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// offsetRanges returns the partitions of topic and, per partition, its
// first retained offset and the offset the next message will get.
func offsetRanges(ctx context.Context, client *kafka.Client, topic string) (parts []int, first, next map[int]int64, err error) {
	parts, err = partitionsOf(ctx, client, topic)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("metadata: %w", err)
	}
	reqs := make([]kafka.OffsetRequest, 0, 2*len(parts))
	for _, p := range parts {
		reqs = append(reqs, kafka.FirstOffsetOf(p), kafka.LastOffsetOf(p))
	}
	lo, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("list offsets: %w", err)
	}
	first = make(map[int]int64, len(parts))
	next = make(map[int]int64, len(parts))
	for _, po := range lo.Topics[topic] {
		if po.Error != nil {
			return nil, nil, nil, fmt.Errorf("list offsets of partition %d: %w", po.Partition, po.Error)
		}
		first[po.Partition] = po.FirstOffset
		next[po.Partition] = po.LastOffset
	}
	return parts, first, next, nil
}
