package bus

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

func TestBackoff(t *testing.T) {
	cc := ConsumerConfig{Group: "g", Topic: "t"}.withDefaults()
	tests := []struct {
		attempt int
		want    time.Duration
	}{
		{1, 100 * time.Millisecond},
		{2, 200 * time.Millisecond},
		{3, 400 * time.Millisecond},
		{7, 6400 * time.Millisecond},
		{8, 10 * time.Second},
		{1000, 10 * time.Second},
	}
	for _, tt := range tests {
		if got := cc.backoff(tt.attempt); got != tt.want {
			t.Errorf("backoff(%d) = %s, want %s", tt.attempt, got, tt.want)
		}
	}
}

func TestMessageConversion(t *testing.T) {
	tests := []Message{
		{Topic: "t", Key: []byte("k"), Value: []byte("v")},
		{Topic: "t", Value: []byte("v"), Headers: map[string]string{"b": "2", "a": "1"}},
	}
	for _, m := range tests {
		km := toKafka(m)
		for i := 1; i < len(km.Headers); i++ {
			if km.Headers[i-1].Key > km.Headers[i].Key {
				t.Errorf("headers not sorted: %v", km.Headers)
			}
		}
		back := fromKafka(km)
		if back.Topic != m.Topic || string(back.Key) != string(m.Key) || string(back.Value) != string(m.Value) || len(back.Headers) != len(m.Headers) {
			t.Errorf("round trip of %+v gave %+v", m, back)
		}
		for k, v := range m.Headers {
			if back.Headers[k] != v {
				t.Errorf("header %s = %q, want %q", k, back.Headers[k], v)
			}
		}
	}
}

func TestCoordinatorMoving(t *testing.T) {
	for err, want := range map[error]bool{
		fmt.Errorf("offset fetch: %w", kafka.NotCoordinatorForGroup):       true,
		fmt.Errorf("offset fetch: %w", kafka.GroupLoadInProgress):          true,
		fmt.Errorf("offset fetch: %w", kafka.GroupCoordinatorNotAvailable): true,
		fmt.Errorf("metadata: %w", kafka.UnknownTopicOrPartition):          false,
		errors.New("connection refused"):                                   false,
	} {
		if got := coordinatorMoving(err); got != want {
			t.Errorf("coordinatorMoving(%v) = %v, want %v", err, got, want)
		}
	}
}

// TestPartitionKey: a message with a partition key lands where a message
// keyed by it does, keeps its own key, and reads back with it.
func TestPartitionKey(t *testing.T) {
	partitions := []int{0, 1, 2, 3, 4, 5}
	b := &partitionKeyBalancer{}
	placed := map[int]bool{}
	for i := range 50 {
		customer := []byte(fmt.Sprint("phone:+86139", i))
		want := (&kafka.Murmur2Balancer{}).Balance(kafka.Message{Key: customer}, partitions...)
		km := toKafka(Message{Topic: "t", Key: []byte(fmt.Sprint("case-", i)), PartitionKey: customer, Headers: map[string]string{"h": "v"}})
		if got := b.Balance(km, partitions...); got != want {
			t.Fatalf("partition %d, want %d (the partition key's)", got, want)
		}
		placed[want] = true
		back := fromKafka(km)
		if string(back.Key) != fmt.Sprint("case-", i) || string(back.PartitionKey) != string(customer) || back.Headers["h"] != "v" || len(back.Headers) != 1 {
			t.Fatalf("read back %+v", back)
		}
		plain := toKafka(Message{Topic: "t", Key: customer})
		if got := b.Balance(plain, partitions...); got != want {
			t.Fatalf("without a partition key: partition %d, want %d", got, want)
		}
	}
	if len(placed) < 2 {
		t.Errorf("all 50 keys on partitions %v: the test shows nothing", placed)
	}
}

// provisioned returns cfg ready: its defaults filled in and its TLS and
// SASL loaded, as the package's functions use it.
func provisioned(cfg Config) Config {
	ready, err := cfg.ready()
	if err != nil {
		panic(err) // the tests' configurations name brokers and are valid
	}
	return ready
}
