// Package bus is all broker plumbing of tousu: topic names and creation,
// the one shared producer, consumer-group consumers with dead-lettering and
// retry, consumer lag, and the embedded broker.
//
// Every service talks to the broker through github.com/segmentio/kafka-go
// over the Kafka protocol, whether the broker is the embedded one
// (github.com/twmb/franz-go/pkg/kfake, started in-process by StartBroker)
// or a real Apache Kafka cluster. Nothing outside package bus imports a
// Kafka client.
//
// Delivery is at least once. A Producer returns only when every message was
// acknowledged by all in-sync replicas (acks=all). A Consumer commits a
// message's offset only after its Handler returned nil, or after a rejected
// message was written to complaints.dlq, so a crash at any point means the
// message is delivered again; handlers must be idempotent.
package bus

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
)

// The topics of tousu. Each payload carries an explicit "v" version.
const (
	// TopicRaw carries ingest.Envelope values keyed by envelope id.
	TopicRaw = "complaints.raw"
	// TopicNormalized carries normalize.Complaint values keyed by customer key.
	TopicNormalized = "complaints.normalized"
	// TopicCases carries router.Case values keyed by case id.
	TopicCases = "cases"
	// TopicDLQ carries DeadLetter values: what could not be processed.
	TopicDLQ = "complaints.dlq"
	// TopicAlerts carries escalation alerts.
	TopicAlerts = "alerts"
	// TopicActions carries actions on cases (router.Action) keyed by the
	// case's customer key, co-partitioned with TopicNormalized.
	TopicActions = "case.actions"
	// TopicBatch carries the complaints that opened a case, offered to
	// batch detection (批量投诉), keyed by policy pack so that one batcher
	// sees every complaint of an organisation.
	TopicBatch = "complaints.batch"
	// TopicRouterState carries the router's state of each customer
	// (compacted, keyed by customer key, co-partitioned with
	// TopicNormalized), so that any router instance can take a partition
	// over.
	TopicRouterState = "router.state"
	// TopicCorrections carries the agents' category corrections keyed by
	// policy pack + "/" + case id, compacted to the latest correction of
	// each case. Every router instance reads all of it (bus.Follower) and
	// trains its classifiers on every correction.
	TopicCorrections = "policy.corrections"
	// TopicLedger carries the records of the gateways' shared ledger (the
	// status page's look-ups per reference, the API's idempotency keys),
	// keyed by ledger key. Every gateway and console replica reads all of
	// it (bus.Follower); see services/ledger.
	TopicLedger = "gateway.ledger"
	// TopicRates carries one record per request the form's rate limits
	// let through, keyed by limit and client (webform.RateLimit), so that
	// the limits hold across replicas. Every gateway and console replica
	// reads all of it; it is kept an hour.
	TopicRates = "gateway.rates"
	// TopicOutcomes carries what became of each case action
	// (router.ActionResult: applied with the case's revision, or refused
	// with the reason), keyed by action id. The routers write it; every
	// console replica reads all of it (bus.Follower) to tell agents the
	// result of their actions; see services/outcomes.
	TopicOutcomes = "case.outcomes"
	// TopicAccounts carries the console's accounts, each change the whole
	// account after it. Every console replica reads all of it
	// (bus.Follower); see services/accounts. It has one partition, so that
	// its order is one order.
	TopicAccounts = "console.accounts"
	// TopicOutbox carries the messages to customers (router.Outgoing)
	// keyed by case id. The routers write them with the case change that
	// calls for them; the senders deliver them.
	TopicOutbox = "outbox"
	// TopicHeartbeat carries every process's beat (services/ops.Beat),
	// keyed by process id: its targets, version and channels' health.
	// Every console replica reads all of it (bus.Follower) to show the
	// whole deployment.
	TopicHeartbeat = "ops.heartbeat"
)

// AllTopics lists every topic tousu uses; a topics file must declare each.
var AllTopics = []string{TopicRaw, TopicNormalized, TopicCases, TopicDLQ, TopicAlerts, TopicActions, TopicBatch, TopicRouterState, TopicCorrections, TopicLedger, TopicRates, TopicOutcomes, TopicAccounts, TopicOutbox, TopicHeartbeat}

// Defaults applied to zero fields of Config.
const (
	DefaultPartitions   = 6
	DefaultReplication  = 1
	DefaultBatchTimeout = 5 * time.Millisecond
	DefaultClientID     = "tousu"
)

// Config says how to reach the broker. The zero value of every field except
// Brokers means its default (see DefaultConfig).
type Config struct {
	// Brokers lists host:port bootstrap addresses. Empty means the embedded
	// broker; the caller fills in its address (Broker.Addr) before using
	// the Config with any function of this package.
	Brokers []string `yaml:"brokers"`
	// Partitions is the partition count of topics this package creates.
	// Default 6.
	Partitions int `yaml:"partitions"`
	// Replication is the replication factor of created topics. Default 1.
	Replication int `yaml:"replication"`
	// MinInsyncReplicas is the min.insync.replicas of created topics: how
	// many replicas must have a record before a write with acks=all (every
	// write of the Producer) succeeds. 0 leaves the broker's default and
	// existing topics unchecked; a set value is checked against existing
	// topics like their other settings. At most Replication.
	MinInsyncReplicas int `yaml:"min_insync_replicas"`
	// BatchTimeout is how long the producer waits to fill a batch before
	// sending it. Every synchronous Write waits at most this long for
	// company. Default 5ms.
	BatchTimeout time.Duration `yaml:"batch_timeout"`
	// ClientID is sent to the broker with every request. Default "tousu".
	ClientID string `yaml:"client_id"`
	// TopicsFile declares the topics (see deploy/topics.yaml, built in
	// when empty).
	TopicsFile string `yaml:"topics_file"`
	// SASL authenticates every connection (SCRAM or PLAIN); none by
	// default.
	SASL SASLConfig `yaml:"sasl"`
	// TLS encrypts every connection; off by default.
	TLS TLSConfig `yaml:"tls"`

	sec *security // what Load made of SASL and TLS
}

// DefaultConfig returns a Config with every default filled in and no
// brokers (the embedded broker).
func DefaultConfig() Config {
	return Config{
		Partitions:   DefaultPartitions,
		Replication:  DefaultReplication,
		BatchTimeout: DefaultBatchTimeout,
		ClientID:     DefaultClientID,
	}
}

// Provision fills every zero field but Brokers with its default. It opens
// nothing.
func (c *Config) Provision() {
	d := DefaultConfig()
	if c.Partitions == 0 {
		c.Partitions = d.Partitions
	}
	if c.Replication == 0 {
		c.Replication = d.Replication
	}
	if c.BatchTimeout == 0 {
		c.BatchTimeout = d.BatchTimeout
	}
	if c.ClientID == "" {
		c.ClientID = d.ClientID
	}
	c.SASL.provision()
}

// Validate reports every invalid field, each named by its key. An empty
// Brokers list is valid (embedded broker); a listed address must be
// host:port. It changes nothing.
func (c Config) Validate() error {
	var errs []error
	for i, b := range c.Brokers {
		if err := validHostPort(b); err != nil {
			errs = append(errs, fmt.Errorf("brokers[%d]: %w", i, err))
		}
	}
	if c.Partitions < 0 || c.Partitions > 10000 {
		errs = append(errs, fmt.Errorf("partitions: must be between 1 and 10000 (0 = default %d), got %d", DefaultPartitions, c.Partitions))
	}
	if c.Replication < 0 || c.Replication > 32767 {
		errs = append(errs, fmt.Errorf("replication: must be between 1 and 32767 (0 = default %d), got %d", DefaultReplication, c.Replication))
	}
	replication := c.Replication
	if replication == 0 {
		replication = DefaultReplication
	}
	if c.MinInsyncReplicas < 0 || c.MinInsyncReplicas > replication {
		errs = append(errs, fmt.Errorf("min_insync_replicas: must be between 1 and replication (%d), or 0 for the broker's default; got %d", replication, c.MinInsyncReplicas))
	}
	if c.BatchTimeout < 0 {
		errs = append(errs, fmt.Errorf("batch_timeout: must not be negative, got %s", c.BatchTimeout))
	}
	if c.BatchTimeout > time.Second {
		errs = append(errs, fmt.Errorf("batch_timeout: %s is longer than 1s: every synchronous write would wait that long", c.BatchTimeout))
	}
	errs = append(errs, c.SASL.validate(c.TLS.Enabled)...)
	errs = append(errs, c.TLS.validate()...)
	if len(c.Brokers) == 0 && (c.SASL.Mechanism != "" || c.TLS.Enabled) {
		errs = append(errs, errors.New("brokers: sasl and tls are for the brokers named here; the embedded broker takes neither"))
	}
	return errors.Join(errs...)
}

// ready checks c for use with a broker: it must be valid and name at least
// one broker. It returns a provisioned and loaded copy, so that the
// package's functions also serve a Config built by hand.
func (c Config) ready() (Config, error) {
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("bus: %w", err)
	}
	if len(c.Brokers) == 0 {
		return c, errors.New("bus: no brokers configured (start the embedded broker and put its address in Config.Brokers)")
	}
	c.Brokers = slices.Clone(c.Brokers)
	c.Provision()
	if c.sec == nil {
		if err := c.Load(); err != nil {
			return c, fmt.Errorf("bus: %w", err)
		}
	}
	return c, nil
}

func validHostPort(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port: %w", addr, err)
	}
	if host == "" {
		return fmt.Errorf("%q has no host", addr)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q has an invalid port", addr)
	}
	return nil
}

// Message is one record on a topic. Producers set Topic, Key, Value and
// optionally PartitionKey, Headers and Time; Partition and Offset are
// filled in for consumed messages and ignored when producing (the key, or
// the partition key, decides the partition).
type Message struct {
	Topic     string
	Partition int
	Offset    int64
	Key       []byte
	Value     []byte
	// PartitionKey, when set on a message produced, chooses its partition
	// instead of Key, as Key would: records of different keys (compacted
	// separately) land on the partition of one key. It travels as the
	// header HeaderPartitionKey.
	PartitionKey []byte
	// Time is the record timestamp. Zero when producing means now.
	Time    time.Time
	Headers map[string]string
}

// HeaderPartitionKey is the header that carries Message.PartitionKey.
const HeaderPartitionKey = "tousu-partition-key"

func toKafka(m Message) kafka.Message {
	km := kafka.Message{Topic: m.Topic, Key: m.Key, Value: m.Value, Time: m.Time}
	if m.PartitionKey != nil {
		km.Headers = append(km.Headers, kafka.Header{Key: HeaderPartitionKey, Value: m.PartitionKey})
	}
	if len(m.Headers) > 0 {
		keys := make([]string, 0, len(m.Headers))
		for k := range m.Headers {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			km.Headers = append(km.Headers, kafka.Header{Key: k, Value: []byte(m.Headers[k])})
		}
	}
	return km
}

// partitionKeyBalancer is the Murmur2 partitioner of the Java client,
// applied to a message's partition key when it has one, else to its key.
type partitionKeyBalancer struct{ kafka.Murmur2Balancer }

// Balance implements kafka.Balancer.
func (b *partitionKeyBalancer) Balance(msg kafka.Message, partitions ...int) int {
	for _, h := range msg.Headers {
		if h.Key == HeaderPartitionKey {
			msg.Key = h.Value
			break
		}
	}
	return b.Murmur2Balancer.Balance(msg, partitions...)
}

func fromKafka(km kafka.Message) Message {
	m := Message{
		Topic:     km.Topic,
		Partition: km.Partition,
		Offset:    km.Offset,
		Key:       km.Key,
		Value:     km.Value,
		Time:      km.Time,
	}
	if len(km.Headers) > 0 {
		m.Headers = make(map[string]string, len(km.Headers))
		for _, h := range km.Headers {
			if h.Key == HeaderPartitionKey {
				m.PartitionKey = h.Value
				continue
			}
			m.Headers[h.Key] = string(h.Value)
		}
	}
	return m
}
