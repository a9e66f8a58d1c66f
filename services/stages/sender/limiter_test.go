package sender

import (
	"testing"
	"time"
)

func TestRateWait(t *testing.T) {
	t0 := time.Date(2026, 3, 4, 9, 0, 0, 0, time.UTC)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	// A batch incident: 30 acknowledgements at once.
	burst := func(n int, at time.Time) []time.Time {
		out := make([]time.Time, n)
		for i := range out {
			out[i] = at
		}
		return out
	}
	tests := []struct {
		name string
		rate Rate
		now  time.Time
		sent []time.Time
		want time.Duration
	}{
		{"nothing sent", Rate{PerSecond: 5}, t0, nil, 0},
		{"under the second's limit", Rate{PerSecond: 5}, ms(300), []time.Time{ms(0), ms(100), ms(200), ms(250)}, 0},
		{"at the second's limit", Rate{PerSecond: 5}, ms(300), []time.Time{ms(0), ms(100), ms(200), ms(250), ms(280)}, 700 * time.Millisecond},
		{"the oldest left the second", Rate{PerSecond: 2}, ms(1100), []time.Time{ms(0), ms(1000)}, 0},
		{"minute limit", Rate{PerMinute: 30}, ms(2000), burst(30, t0), 58 * time.Second},
		{"both: the minute binds", Rate{PerSecond: 10, PerMinute: 30}, ms(2000), burst(30, t0), 58 * time.Second},
		{"both: the second binds", Rate{PerSecond: 2, PerMinute: 30}, ms(500), burst(2, t0), 500 * time.Millisecond},
		{"no limits", Rate{}, t0, burst(100, t0), 0},
	}
	for _, tt := range tests {
		if got := tt.rate.wait(tt.now, tt.sent); got != tt.want {
			t.Errorf("%s: wait = %v, want %v", tt.name, got, tt.want)
		}
	}
}
