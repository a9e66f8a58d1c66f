package bus

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/tousu/tousu/configs"
	"github.com/tousu/tousu/deploy"
)

// TopicSpec declares one topic as deploy/topics.yaml does.
type TopicSpec struct {
	Name string `yaml:"name"`
	// Partitions is the partition count; 0 means Config.Partitions.
	Partitions int `yaml:"partitions"`
	// CleanupPolicy is "delete" (records expire after Retention) or
	// "compact" (the latest record per key is kept).
	CleanupPolicy string `yaml:"cleanup_policy"`
	// Retention is how long a delete topic keeps records; 0 leaves the
	// broker's default.
	Retention time.Duration `yaml:"retention"`
	// Segment (segment.ms), MaxCompactionLag (max.compaction.lag.ms) and
	// DeleteRetention (delete.retention.ms) bound, on a compacted topic,
	// how long a record another under its key replaced stays: a segment
	// rolls after Segment, a replaced record is compacted away at most
	// MaxCompactionLag after it was written, and a tombstone stays
	// DeleteRetention after that. 0 leaves the broker's default. They are
	// set when tousu creates the topic and not checked on an existing one.
	Segment          time.Duration `yaml:"segment"`
	MaxCompactionLag time.Duration `yaml:"max_compaction_lag"`
	DeleteRetention  time.Duration `yaml:"delete_retention"`
}

// ParseTopics reads a topics file strictly and checks that it declares
// every topic tousu uses, each once, with a known cleanup policy.
func ParseTopics(data []byte) ([]TopicSpec, error) {
	var file struct {
		Topics []TopicSpec `yaml:"topics"`
	}
	if err := configs.DecodeStrict(data, &file); err != nil {
		return nil, err
	}
	var errs []error
	seen := map[string]bool{}
	for i, t := range file.Topics {
		switch {
		case t.Name == "":
			errs = append(errs, fmt.Errorf("topics[%d].name: must be set", i))
		case seen[t.Name]:
			errs = append(errs, fmt.Errorf("topics[%d].name: %s is declared twice", i, t.Name))
		}
		seen[t.Name] = true
		if t.CleanupPolicy != "delete" && t.CleanupPolicy != "compact" {
			errs = append(errs, fmt.Errorf("topics[%d].cleanup_policy: %q is not delete or compact", i, t.CleanupPolicy))
		}
		if t.Partitions < 0 || t.Retention < 0 {
			errs = append(errs, fmt.Errorf("topics[%d]: partitions and retention must not be negative", i))
		}
		if t.CleanupPolicy == "compact" && t.Retention != 0 {
			errs = append(errs, fmt.Errorf("topics[%d].retention: a compacted topic keeps the latest record per key; set no retention", i))
		}
		if t.Segment < 0 || t.MaxCompactionLag < 0 || t.DeleteRetention < 0 {
			errs = append(errs, fmt.Errorf("topics[%d]: segment, max_compaction_lag and delete_retention must not be negative", i))
		}
		if t.CleanupPolicy != "compact" && (t.MaxCompactionLag != 0 || t.DeleteRetention != 0) {
			errs = append(errs, fmt.Errorf("topics[%d].max_compaction_lag: only a compacted topic has max_compaction_lag and delete_retention", i))
		}
	}
	for _, name := range AllTopics {
		if !seen[name] {
			errs = append(errs, fmt.Errorf("topics: %s is not declared", name))
		}
	}
	partitions := map[string]int{}
	for _, t := range file.Topics {
		partitions[t.Name] = t.Partitions
	}
	for _, t := range []string{TopicActions, TopicRouterState} {
		if partitions[TopicNormalized] != partitions[t] {
			errs = append(errs, fmt.Errorf("topics: %s and %s must have the same partitions: the router reads them co-partitioned by customer key", TopicNormalized, t))
		}
	}
	if partitions[TopicAccounts] != 1 {
		errs = append(errs, fmt.Errorf("topics: %s must have 1 partition: the first creation of an account name in its order wins", TopicAccounts))
	}
	return file.Topics, errors.Join(errs...)
}

// LoadTopics returns the topics of cfg.TopicsFile, or deploy/topics.yaml
// as built into the binary when it is empty.
func LoadTopics(cfg Config) ([]TopicSpec, error) {
	if cfg.TopicsFile == "" {
		return ParseTopics(deploy.TopicsYAML)
	}
	data, err := os.ReadFile(cfg.TopicsFile)
	if err != nil {
		return nil, err
	}
	specs, err := ParseTopics(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.TopicsFile, err)
	}
	return specs, nil
}

// TopicResult says what ApplyTopics did with one topic.
type TopicResult struct {
	Name       string
	Created    bool
	Partitions int
}

// EnsureTopics applies the topics of LoadTopics(cfg); see ApplyTopics.
func EnsureTopics(ctx context.Context, cfg Config) error {
	specs, err := LoadTopics(cfg)
	if err != nil {
		return err
	}
	_, err = ApplyTopics(ctx, cfg, specs)
	return err
}

// ApplyTopics creates the declared topics that do not exist and checks the
// ones that do: a different partition count, cleanup policy or retention is
// an error naming the topic, the setting, what the broker has and what the
// declaration says. It returns once every topic is usable.
func ApplyTopics(ctx context.Context, cfg Config, specs []TopicSpec) ([]TopicResult, error) {
	cfg, err := cfg.ready()
	if err != nil {
		return nil, err
	}
	client, release := newClient(cfg)
	defer release()
	req := &kafka.CreateTopicsRequest{}
	for _, t := range specs {
		req.Topics = append(req.Topics, kafka.TopicConfig{
			Topic:             t.Name,
			NumPartitions:     partitionsFor(cfg, t),
			ReplicationFactor: cfg.Replication,
			ConfigEntries:     topicConfig(cfg, t),
		})
	}
	resp, err := client.CreateTopics(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("bus: create topics: %w", err)
	}
	results := make([]TopicResult, len(specs))
	for i, t := range specs {
		results[i] = TopicResult{Name: t.Name, Partitions: partitionsFor(cfg, t)}
		switch terr := resp.Errors[t.Name]; {
		case terr == nil:
			results[i].Created = true
		case !errors.Is(terr, kafka.TopicAlreadyExists):
			return nil, fmt.Errorf("bus: create topic %s: %w", t.Name, terr)
		}
	}
	names := make([]string, len(specs))
	for i, t := range specs {
		names[i] = t.Name
	}
	if err := waitTopics(ctx, cfg, names); err != nil {
		return nil, err
	}
	if err := checkTopics(ctx, client, cfg, specs); err != nil {
		return nil, err
	}
	return results, nil
}

func partitionsFor(cfg Config, t TopicSpec) int {
	if t.Partitions > 0 {
		return t.Partitions
	}
	return cfg.Partitions
}

// topicConfig is what a declaration and the environment's replication
// settings set on the broker.
func topicConfig(cfg Config, t TopicSpec) []kafka.ConfigEntry {
	entries := append([]kafka.ConfigEntry{{ConfigName: "cleanup.policy", ConfigValue: t.CleanupPolicy}}, replicaConfig(cfg)...)
	for _, d := range []struct {
		name  string
		value time.Duration
	}{{"retention.ms", t.Retention}, {"segment.ms", t.Segment}, {"max.compaction.lag.ms", t.MaxCompactionLag}, {"delete.retention.ms", t.DeleteRetention}} {
		if d.value > 0 {
			entries = append(entries, kafka.ConfigEntry{ConfigName: d.name, ConfigValue: strconv.FormatInt(d.value.Milliseconds(), 10)})
		}
	}
	return entries
}

// replicaConfig is the topic configuration of cfg.MinInsyncReplicas: none
// when it is 0 (the broker's default).
func replicaConfig(cfg Config) []kafka.ConfigEntry {
	if cfg.MinInsyncReplicas == 0 {
		return nil
	}
	return []kafka.ConfigEntry{{ConfigName: "min.insync.replicas", ConfigValue: strconv.Itoa(cfg.MinInsyncReplicas)}}
}

// checkTopics compares existing topics with their declarations and the
// environment's replication settings.
func checkTopics(ctx context.Context, client *kafka.Client, cfg Config, specs []TopicSpec) error {
	var errs []error
	req := &kafka.DescribeConfigsRequest{}
	names := make([]string, len(specs))
	for i, t := range specs {
		names[i] = t.Name
	}
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: names})
	if err != nil {
		return fmt.Errorf("bus: describe topics: %w", err)
	}
	for _, t := range specs {
		i := slices.IndexFunc(md.Topics, func(mt kafka.Topic) bool { return mt.Name == t.Name })
		if i < 0 || md.Topics[i].Error != nil {
			return fmt.Errorf("bus: describe topic %s: not in the metadata", t.Name)
		}
		parts := md.Topics[i].Partitions
		if want := partitionsFor(cfg, t); len(parts) != want {
			errs = append(errs, fmt.Errorf("topic %s has %d partitions, the declaration says %d", t.Name, len(parts), want))
		}
		if len(parts) > 0 && len(parts[0].Replicas) != cfg.Replication {
			errs = append(errs, fmt.Errorf("topic %s has %d replicas, bus.replication says %d", t.Name, len(parts[0].Replicas), cfg.Replication))
		}
		req.Resources = append(req.Resources, kafka.DescribeConfigRequestResource{
			ResourceType: kafka.ResourceTypeTopic, ResourceName: t.Name, ConfigNames: []string{"cleanup.policy", "retention.ms", "min.insync.replicas"},
		})
	}
	resp, err := client.DescribeConfigs(ctx, req)
	if err != nil {
		return fmt.Errorf("bus: describe topic configs: %w", err)
	}
	for _, res := range resp.Resources {
		i := slices.IndexFunc(specs, func(t TopicSpec) bool { return t.Name == res.ResourceName })
		if res.Error != nil || i < 0 {
			return fmt.Errorf("bus: describe topic %s: %v", res.ResourceName, res.Error)
		}
		for _, want := range topicConfig(cfg, specs[i]) {
			for _, got := range res.ConfigEntries {
				if got.ConfigName == want.ConfigName && got.ConfigValue != want.ConfigValue {
					errs = append(errs, fmt.Errorf("topic %s has %s=%s, the declaration says %s", res.ResourceName, got.ConfigName, got.ConfigValue, want.ConfigValue))
				}
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("bus: existing topics disagree with their declarations (change the topic or the declaration): %w", errors.Join(errs...))
	}
	return nil
}
