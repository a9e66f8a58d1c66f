package normalizer

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tousu/tousu/services/boltfile"
)

var seenBucket = []byte("seen")

// boltSeen is the normalizer's record of processed complaint ids, a bbolt
// file under the data directory. It implements normalize.Seen.
type boltSeen struct {
	db *bolt.DB
}

// openSeen opens the store and forgets ids older than retention.
func openSeen(path string, retention time.Duration) (*boltSeen, error) {
	db, err := boltfile.Open(path, seenBucket)
	if err != nil {
		return nil, err
	}
	cutoff := time.Now().Add(-retention).Unix()
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(seenBucket)
		var old [][]byte
		_ = b.ForEach(func(k, v []byte) error {
			if len(v) == 8 && int64(binary.BigEndian.Uint64(v)) < cutoff {
				old = append(old, k)
			}
			return nil
		})
		for _, k := range old {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("prune %s: %w", path, err)
	}
	return &boltSeen{db: db}, nil
}

// Has implements normalize.Seen.
func (s *boltSeen) Has(_ context.Context, id string) (bool, error) {
	found := false
	err := s.db.View(func(tx *bolt.Tx) error {
		found = tx.Bucket(seenBucket).Get([]byte(id)) != nil
		return nil
	})
	return found, err
}

// Remember implements normalize.Seen: one transaction for all ids.
func (s *boltSeen) Remember(_ context.Context, ids ...string) error {
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], uint64(time.Now().Unix()))
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(seenBucket)
		for _, id := range ids {
			if err := b.Put([]byte(id), v[:]); err != nil {
				return err
			}
		}
		return nil
	})
}

// Close closes the file.
func (s *boltSeen) Close() error { return s.db.Close() }
