package sender

import (
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tousu/tousu/services/boltfile"
)

// Buckets of the sender's state file.
var (
	// sentBucket: outbox record id -> 8-byte unix ns of the provider's
	// acceptance.
	sentBucket = []byte("sent")
	// sentAtBucket: 8-byte time + id -> nothing, to prune by age.
	sentAtBucket = []byte("sent_at")
)

// deliveredStore remembers the ids of the outbox records a provider
// accepted, in a bbolt file, so that a record delivered again (the offset
// was not committed before a crash or a rebalance) is not sent again. It
// is safe for concurrent use.
type deliveredStore struct {
	db *bolt.DB
}

// openDelivered opens (creating) the state file at path.
func openDelivered(path string) (*deliveredStore, error) {
	db, err := boltfile.Open(path, sentBucket, sentAtBucket)
	if err != nil {
		return nil, err
	}
	return &deliveredStore{db: db}, nil
}

// Close closes the file.
func (s *deliveredStore) Close() error { return s.db.Close() }

// Sent reports whether the record id was delivered, and when.
func (s *deliveredStore) Sent(id string) (at time.Time, ok bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(sentBucket).Get([]byte(id))
		if len(v) == 8 {
			at, ok = time.Unix(0, int64(binary.BigEndian.Uint64(v))), true
		}
		return nil
	})
	return at, ok, err
}

// MarkSent records that the provider accepted the record id at at. The
// write is synced to disk (bbolt commits with fsync) before it returns.
func (s *deliveredStore) MarkSent(id string, at time.Time) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		v := make([]byte, 8)
		binary.BigEndian.PutUint64(v, uint64(max(at.UnixNano(), 0)))
		if err := tx.Bucket(sentBucket).Put([]byte(id), v); err != nil {
			return err
		}
		return tx.Bucket(sentAtBucket).Put(boltfile.TimeKey(at, id), nil)
	})
}

// Prune forgets the records delivered before cutoff and returns how
// many.
func (s *deliveredStore) Prune(cutoff time.Time) (int, error) {
	n := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		at := tx.Bucket(sentAtBucket)
		old := boltfile.KeysBefore(at, boltfile.TimeKey(cutoff, ""))
		for _, k := range old {
			if len(k) < 8 {
				continue
			}
			if err := tx.Bucket(sentBucket).Delete(k[8:]); err != nil {
				return err
			}
			if err := at.Delete(k); err != nil {
				return err
			}
		}
		n = len(old)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("prune delivered ids: %w", err)
	}
	return n, nil
}
