// Package boltfile holds what the stages' bbolt state files share:
// opening a file with its buckets, and keys that sort by time so that old
// entries are found without reading every one.
package boltfile

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Open opens (creating) a bbolt state file with the given buckets.
func Open(path string, buckets ...[]byte) (*bolt.DB, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range buckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("init %s: %w", path, err)
	}
	return db, nil
}

// TimeKey is t as 8 big-endian bytes (unix ns; times before 1970 as 0)
// followed by suffix, so keys sort by time.
func TimeKey(t time.Time, suffix string) []byte {
	k := make([]byte, 8, 8+len(suffix))
	binary.BigEndian.PutUint64(k, uint64(max(t.UnixNano(), 0)))
	return append(k, suffix...)
}

// KeysBefore returns copies of the keys of a bucket of time keys (see
// TimeKey) whose time is before cutoff, in order.
func KeysBefore(b *bolt.Bucket, cutoff []byte) [][]byte {
	var out [][]byte
	c := b.Cursor()
	for k, _ := c.First(); k != nil && bytes.Compare(k[:min(8, len(k))], cutoff) < 0; k, _ = c.Next() {
		out = append(out, bytes.Clone(k))
	}
	return out
}
