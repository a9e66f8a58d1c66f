package polltest

import (
	"testing"
	"time"
)

func TestWithin(t *testing.T) {
	tests := []struct {
		name  string
		holds int // the poll at which cond starts to hold; 0 for never
		bound time.Duration
		want  bool
	}{
		{"at once", 1, time.Minute, true},
		{"after a few polls", 5, time.Minute, true},
		{"never", 0, 20 * time.Millisecond, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			polls := 0
			got := Within(tt.bound, func() bool {
				polls++
				return tt.holds > 0 && polls >= tt.holds
			})
			if got != tt.want {
				t.Errorf("Within = %v after %d polls, want %v", got, polls, tt.want)
			}
			if tt.want && polls != tt.holds {
				t.Errorf("polled %d times, want %d", polls, tt.holds)
			}
		})
	}
}
