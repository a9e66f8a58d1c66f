package bus_test

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/tousu/tousu/services/bus"
)

// TestRecordTimes: the timestamp of the record at an offset, per
// partition, as the ops view reads the oldest unprocessed record; a
// partition asked at its end (nothing waits) is left out.
func TestRecordTimes(t *testing.T) {
	b := startBroker(t, "")
	cfg := bus.Config{Brokers: []string{b.Addr()}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := bus.EnsureTopics(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	p, err := bus.NewProducer(cfg, zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	at := time.Date(2026, 12, 6, 9, 15, 0, 0, time.UTC)
	// Three urges of one case a minute apart, on its partition.
	var msgs []bus.Message
	for i := range 3 {
		msgs = append(msgs, bus.Message{Topic: bus.TopicAlerts, Key: []byte("TS20261206001"),
			Value: []byte(`{"v":1,"kind":"urge","note":"客户第三次来电催办"}`), Time: at.Add(time.Duration(i) * time.Minute)})
	}
	if err := p.Write(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	counts, err := bus.Lag(ctx, cfg, "nobody", bus.TopicAlerts)
	if err != nil {
		t.Fatal(err)
	}
	full, empty := -1, -1
	for part, n := range counts {
		switch n {
		case 3:
			full = part
		case 0:
			empty = part
		}
	}
	if full < 0 || empty < 0 {
		t.Fatalf("records per partition %v", counts)
	}
	tests := []struct {
		name    string
		offsets map[int]int64
		want    map[int]time.Time
	}{
		{"the first record", map[int]int64{full: 0}, map[int]time.Time{full: at}},
		{"the third", map[int]int64{full: 2}, map[int]time.Time{full: at.Add(2 * time.Minute)}},
		{"at the end nothing waits", map[int]int64{full: 3, empty: 0}, map[int]time.Time{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := bus.RecordTimes(ctx, cfg, bus.TopicAlerts, tc.offsets)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("RecordTimes = %v, want %v", got, tc.want)
			}
			for p, w := range tc.want {
				if !got[p].Equal(w) {
					t.Errorf("partition %d: %v, want %v", p, got[p], w)
				}
			}
		})
	}
}
