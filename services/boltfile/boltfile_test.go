package boltfile

import (
	"path/filepath"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestKeysBefore: time keys sort by time (a time before 1970 as 1970), and
// KeysBefore returns those before the cutoff, in order, whatever their
// suffix.
func TestKeysBefore(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "test.db"), []byte("b"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	keys := []struct {
		at     time.Time
		suffix string
	}{
		{t0.Add(time.Hour), "later"},
		{t0, "z"},
		{t0, "a"},
		{time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC), "old"},
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, k := range keys {
			if err := tx.Bucket([]byte("b")).Put(TimeKey(k.at, k.suffix), nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		cutoff time.Time
		want   []string
	}{
		{"before every key", time.Unix(0, 0), nil},
		{"at t0", t0, []string{"old"}},
		{"after t0", t0.Add(time.Minute), []string{"old", "a", "z"}},
		{"after every key", t0.Add(2 * time.Hour), []string{"old", "a", "z", "later"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			db.View(func(tx *bolt.Tx) error {
				for _, k := range KeysBefore(tx.Bucket([]byte("b")), TimeKey(tt.cutoff, "")) {
					got = append(got, string(k[8:]))
				}
				return nil
			})
			if !slices.Equal(got, tt.want) {
				t.Errorf("keys %v, want %v", got, tt.want)
			}
		})
	}
}
