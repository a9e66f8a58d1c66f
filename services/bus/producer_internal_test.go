package bus

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/tousu/tousu/internal/servertest"
)

// TestBrokerRefusalIsPermanent: a record the broker itself refuses (larger
// than the topic's max.message.bytes, below the writer's own limit) makes
// Write return an error IsRejected holds for, alone or in a batch with
// messages of another topic the broker takes.
func TestBrokerRefusalIsPermanent(t *testing.T) {
	brokers := map[string]func(testing.TB) []string{
		"embedded": func(tb testing.TB) []string {
			b, err := StartBroker(BrokerConfig{}, nil)
			if err != nil {
				tb.Fatal(err)
			}
			tb.Cleanup(func() { b.Close() })
			return []string{b.Addr()}
		},
		"kafka": func(tb testing.TB) []string {
			return strings.Split(servertest.Require(tb, servertest.Kafka), ",")
		},
	}
	for name, start := range brokers {
		t.Run(name, func(t *testing.T) {
			cfg := Config{Brokers: start(t)}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			small := fmt.Sprintf("bustest.refused-%d", time.Now().UnixNano())
			other := small + "-other"
			client, release := newClient(provisioned(cfg))
			resp, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{
				{Topic: small, NumPartitions: 1, ReplicationFactor: 1, ConfigEntries: []kafka.ConfigEntry{{ConfigName: "max.message.bytes", ConfigValue: "4096"}}},
				{Topic: other, NumPartitions: 1, ReplicationFactor: 1},
			}})
			release()
			if err == nil {
				err = resp.Errors[small]
			}
			if err != nil {
				t.Fatalf("create %s: %v", small, err)
			}
			if err := waitTopics(ctx, provisioned(cfg), []string{small, other}); err != nil {
				t.Fatal(err)
			}
			p, err := NewProducer(cfg, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			big := Message{Topic: small, Key: []byte("k"), Value: bytes.Repeat([]byte("x"), 8192)}
			if err := p.Write(ctx, big); !IsRejected(err) {
				t.Errorf("write of 8 KiB to a topic of 4 KiB records: %v, want an error IsRejected holds for", err)
			}
			if err := p.Write(ctx, big, Message{Topic: other, Key: []byte("k"), Value: []byte("fine")}); !IsRejected(err) {
				t.Errorf("write of a refused and a taken message: %v, want an error IsRejected holds for", err)
			}
			if err := p.Write(ctx, Message{Topic: small, Key: []byte("k"), Value: []byte("fine")}); err != nil {
				t.Errorf("write of a small message: %v", err)
			}
		})
	}
}
