package sender

import (
	"path/filepath"
	"testing"
	"time"
)

func TestDeliveredStorePrunes(t *testing.T) {
	s, err := openDelivered(filepath.Join(t.TempDir(), "sender.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t0 := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	ids := []string{"c-1/ack/1", "c-1/reply/a-7", "c-2/result/5", "c-3/survey/6"}
	for i, id := range ids {
		if err := s.MarkSent(id, t0.Add(time.Duration(i)*24*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.Prune(t0.Add(36 * time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("Prune = %d, %v, want 2", n, err)
	}
	for i, id := range ids {
		at, ok, err := s.Sent(id)
		if err != nil {
			t.Fatal(err)
		}
		if want := i >= 2; ok != want || (ok && !at.Equal(t0.Add(time.Duration(i)*24*time.Hour))) {
			t.Errorf("Sent(%s) = %v, %v, want %v", id, at, ok, want)
		}
	}
}
