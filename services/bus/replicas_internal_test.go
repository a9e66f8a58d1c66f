package bus

import (
	"fmt"
	"testing"

	"github.com/segmentio/kafka-go"
)

// TestTooFewReplicasIsRetried: a broker's NOT_ENOUGH_REPLICAS answers
// (fewer in-sync replicas than min.insync.replicas, while brokers are
// down) are temporary to kafka-go's writer, which retries them with
// backoff, and a write that still fails with them is not refused for good:
// a consumer retries its message instead of dead-lettering it.
func TestTooFewReplicasIsRetried(t *testing.T) {
	for _, e := range []kafka.Error{kafka.NotEnoughReplicas, kafka.NotEnoughReplicasAfterAppend, kafka.MessageSizeTooLarge} {
		wantRefused := e == kafka.MessageSizeTooLarge
		if !wantRefused && !e.Temporary() {
			t.Errorf("%v is not temporary: kafka-go would not retry it", e)
		}
		err := fmt.Errorf("bus: write: 1 of 1 messages failed: %w", e)
		if refused(err) != wantRefused {
			t.Errorf("refused(%v) = %v, want %v", e, !wantRefused, wantRefused)
		}
	}
}
