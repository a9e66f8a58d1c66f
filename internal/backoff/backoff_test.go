package backoff

import (
	"context"
	"testing"
	"time"
)

func TestCapped(t *testing.T) {
	tests := []struct {
		lo, hi  time.Duration
		attempt int
		want    time.Duration
	}{
		{100 * time.Millisecond, 10 * time.Second, 1, 100 * time.Millisecond},
		{100 * time.Millisecond, 10 * time.Second, 2, 200 * time.Millisecond},
		{100 * time.Millisecond, 10 * time.Second, 8, 10 * time.Second},
		{100 * time.Millisecond, 10 * time.Second, 1000, 10 * time.Second},
		{time.Second, 5 * time.Minute, 9, 256 * time.Second},
		{time.Second, 5 * time.Minute, 10, 5 * time.Minute},
		{time.Second, time.Second, 3, time.Second},
		{time.Second, 3 * time.Second, 0, time.Second},
	}
	for _, tt := range tests {
		if got := Capped(tt.lo, tt.hi, tt.attempt); got != tt.want {
			t.Errorf("Capped(%v, %v, %d) = %v, want %v", tt.lo, tt.hi, tt.attempt, got, tt.want)
		}
	}
}

func TestBetween(t *testing.T) {
	tests := []struct{ lo, hi time.Duration }{
		{75 * time.Millisecond, 125 * time.Millisecond},
		{time.Second, time.Second + time.Second/4},
		{3, 3},
		{5, 2},
	}
	for _, tt := range tests {
		for range 1000 {
			got := Between(tt.lo, tt.hi)
			if got < tt.lo || got > max(tt.lo, tt.hi) {
				t.Fatalf("Between(%v, %v) = %v", tt.lo, tt.hi, got)
			}
		}
	}
}

func TestSleepEndsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if Sleep(ctx, time.Hour) {
		t.Error("Sleep waited the full hour under a canceled context")
	}
	if !Sleep(context.Background(), time.Millisecond) {
		t.Error("Sleep did not wait a millisecond")
	}
}
