package normalizer

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// TestSeenForgetsAtOpen: the seen file remembers ids across a restart and
// forgets, when opened, those remembered longer ago than the retention.
func TestSeenForgetsAtOpen(t *testing.T) {
	tests := []struct {
		name      string
		retention time.Duration
		want      bool
	}{
		{"within the retention", time.Hour, true},
		{"older than the retention", -time.Hour, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "normalizer-seen.db")
			s, err := openSeen(path, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Remember(ctx, "api:1", "api:2"); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s, err = openSeen(path, tt.retention)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			for _, id := range []string{"api:1", "api:2"} {
				if got, err := s.Has(ctx, id); err != nil || got != tt.want {
					t.Errorf("Has(%s) = %v, %v; want %v", id, got, err, tt.want)
				}
			}
			if got, _ := s.Has(ctx, "api:3"); got {
				t.Error("an id never remembered is seen")
			}
		})
	}
}
