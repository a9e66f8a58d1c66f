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
