package routing

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tousu/tousu/normalize"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/services/boltfile"
	"github.com/tousu/tousu/services/bus"
)

// The buckets of the router's state file.
var (
	// customers: customer key -> 8-byte last activity (unix ns) + JSON
	// normalize.CustomerHistory.
	customersBucket = []byte("customers")
	// activity: 8-byte last activity + customer key -> nothing; finds the
	// customers to forget without reading every one.
	activityBucket = []byte("activity")
	// cases: case id -> JSON router.Case, the latest revision the router
	// wrote, so that a change is written as Revision+1.
	casesBucket = []byte("cases")
	// finished: 8-byte update time + case id -> nothing; the resolved and
	// closed cases, by when they were last changed, to forget them.
	finishedBucket = []byte("finished")
	// sent: customer key -> JSON []router.Sent, the messages the router
	// wrote to the customer within router.SentKeep, for the limits.
	sentBucket = []byte("sent")
)

// History is the router's state: the recent cases of the customers
// whose partitions it owns, the latest revision of each of their cases
// (which case actions change), the messages it wrote to each customer
// lately (router.Sent), and the agents' category corrections of
// every router instance (see correctionsBucket). It is one bbolt file
// per router process under the data directory, safe across restarts, and
// bounded: customers inactive for longer than the
// repeat window and cases finished (resolved or closed) for longer than it
// are pruned at open and by Prune. Cases still open are kept however old. It implements
// normalize.History and is safe for concurrent use.
type History struct {
	db  *bolt.DB
	cfg normalize.DedupeConfig
}

// routerChanges is what one router call writes to its state, atomically.
// The agents' corrections are not among them: the router writes them to
// policy.corrections, and every router's corrections follower stores them
// (see FollowCorrection).
type routerChanges struct {
	customers []normalize.CustomerHistory
	cases     []storedCase
	sent      []sentLog
	// erased are the cases erased, with the customer key they had; the
	// state file has their erased revision in cases.
	erased []erasedCase
	// applied are next offsets of router.state partitions the call read
	// only its own records from (see Stage.catchUp), by partition.
	applied map[int]int64
}

// sentLog is the messages the router wrote to one customer lately; an
// empty one deletes the customer's.
type sentLog struct {
	Customer string        `json:"customer"`
	Sent     []router.Sent `json:"sent"`
}

// storedCase is a case the router writes, with its JSON encoding, made
// once for the cases topic, router.state and the state file.
type storedCase struct {
	router.Case
	JSON []byte
}

// encodeCase encodes c fitted to budget bytes (router.EncodeCase); a
// case that does not encode or fit is rejected.
func encodeCase(c router.Case, budget int) (storedCase, error) {
	c, b, err := router.EncodeCase(c, budget)
	if err != nil {
		return storedCase{}, bus.Reject(err)
	}
	return storedCase{Case: c, JSON: b}, nil
}

// OpenHistory opens (creating) the state file at path and prunes it as of
// now.
func OpenHistory(path string, cfg normalize.DedupeConfig, now time.Time) (*History, error) {
	db, err := boltfile.Open(path, customersBucket, activityBucket, casesBucket, finishedBucket, sentBucket, correctionsBucket, changelogBucket)
	if err != nil {
		return nil, err
	}
	h := &History{db: db, cfg: cfg}
	if _, err := h.Prune(now); err != nil {
		db.Close()
		return nil, fmt.Errorf("prune %s: %w", path, err)
	}
	return h, nil
}

// Close closes the file.
func (h *History) Close() error { return h.db.Close() }

// Load implements normalize.History.
func (h *History) Load(ctx context.Context, key string) (normalize.CustomerHistory, error) {
	out := normalize.CustomerHistory{Key: key}
	if err := ctx.Err(); err != nil {
		return out, err
	}
	err := h.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(customersBucket).Get([]byte(key))
		if v == nil {
			return nil
		}
		if len(v) < 8 {
			return fmt.Errorf("history of %s: short record", key)
		}
		return json.Unmarshal(v[8:], &out)
	})
	return out, err
}

// Save implements normalize.History.
func (h *History) Save(ctx context.Context, hs ...normalize.CustomerHistory) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return h.commit(routerChanges{customers: hs})
}

// Case returns the latest revision of a case the router wrote, if it has it.
func (h *History) Case(id string) (router.Case, bool, error) {
	var c router.Case
	found := false
	err := h.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(casesBucket).Get([]byte(id))
		if v == nil {
			return nil
		}
		found = true
		return json.Unmarshal(v, &c)
	})
	return c, found, err
}

// Sent returns the messages the router wrote to the customer with key
// lately, oldest first.
func (h *History) Sent(key string) ([]router.Sent, error) {
	var sent []router.Sent
	err := h.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(sentBucket).Get([]byte(key)); v != nil {
			return json.Unmarshal(v, &sent)
		}
		return nil
	})
	return sent, err
}

// putSent stores a customer's sent log; an empty one deletes it.
func putSent(tx *bolt.Tx, l sentLog) error {
	if len(l.Sent) == 0 {
		return tx.Bucket(sentBucket).Delete([]byte(l.Customer))
	}
	v, err := json.Marshal(l.Sent)
	if err != nil {
		return err
	}
	return tx.Bucket(sentBucket).Put([]byte(l.Customer), v)
}

// forgetSent deletes the sent logs whose latest message is older than
// router.SentKeep as of now.
func forgetSent(tx *bolt.Tx, now time.Time) error {
	var stale [][]byte
	err := tx.Bucket(sentBucket).ForEach(func(k, v []byte) error {
		var sent []router.Sent
		if err := json.Unmarshal(v, &sent); err != nil || len(sent) == 0 || now.Sub(sent[len(sent)-1].At) > router.SentKeep {
			stale = append(stale, bytes.Clone(k))
		}
		return nil
	})
	for _, k := range stale {
		if err == nil {
			err = tx.Bucket(sentBucket).Delete(k)
		}
	}
	return err
}

// commit writes one call's changes in one transaction.
func (h *History) commit(ch routerChanges) error {
	return h.db.Update(func(tx *bolt.Tx) error {
		for _, c := range ch.cases {
			if err := putCase(tx, c); err != nil {
				return err
			}
		}
		for _, hist := range ch.customers {
			if err := putCustomer(tx, hist); err != nil {
				return err
			}
		}
		for _, l := range ch.sent {
			if err := putSent(tx, l); err != nil {
				return err
			}
		}
		for p, next := range ch.applied {
			if err := putApplied(tx, p, next); err != nil {
				return err
			}
		}
		return nil
	})
}

// putCustomer stores a history and moves its activity key; an empty
// history deletes the customer.
func putCustomer(tx *bolt.Tx, ch normalize.CustomerHistory) error {
	if ch.Key == "" {
		return errors.New("history without a customer key")
	}
	customers, activity := tx.Bucket(customersBucket), tx.Bucket(activityBucket)
	key := []byte(ch.Key)
	if old := customers.Get(key); len(old) >= 8 {
		if err := activity.Delete(append(bytes.Clone(old[:8]), key...)); err != nil {
			return err
		}
	}
	if len(ch.Cases) == 0 {
		return customers.Delete(key)
	}
	v, err := json.Marshal(ch)
	if err != nil {
		return err
	}
	stamp := boltfile.TimeKey(ch.LastActivity(), "")
	if err := customers.Put(key, append(stamp, v...)); err != nil {
		return err
	}
	return activity.Put(append(stamp, key...), nil)
}

// Prune forgets, as of now, the customers without activity in the repeat
// window, the cases finished before it and the messages written longer
// than router.SentKeep ago, and returns how many customers
// it forgot. Customers still active forget their own old cases when the
// router next saves them.
func (h *History) Prune(now time.Time) (customers int, err error) {
	cutoff := boltfile.TimeKey(now.Add(-h.cfg.RepeatWindow()), "")
	err = h.db.Update(func(tx *bolt.Tx) error {
		stale := boltfile.KeysBefore(tx.Bucket(activityBucket), cutoff)
		for _, k := range stale {
			if err := forgetCustomer(tx, k[8:]); err != nil {
				return err
			}
			if err := tx.Bucket(activityBucket).Delete(k); err != nil {
				return err
			}
		}
		customers = len(stale)
		if err := forgetSent(tx, now); err != nil {
			return err
		}
		return forgetFinished(tx, cutoff)
	})
	return customers, err
}

// forgetCustomer deletes a customer's history; their cases stay until
// they are finished and forgotten by forgetFinished.
func forgetCustomer(tx *bolt.Tx, key []byte) error {
	return tx.Bucket(customersBucket).Delete(key)
}

// forgetFinished deletes the cases finished before cutoff (a time key).
// An entry whose case changed since (reopened, or finished again later) is
// dropped without touching the case.
func forgetFinished(tx *bolt.Tx, cutoff []byte) error {
	cases := tx.Bucket(casesBucket)
	for _, k := range boltfile.KeysBefore(tx.Bucket(finishedBucket), cutoff) {
		if err := tx.Bucket(finishedBucket).Delete(k); err != nil {
			return err
		}
		if len(k) <= 8 {
			continue
		}
		id := k[8:]
		var cs router.Case
		v := cases.Get(id)
		if v == nil {
			continue
		}
		if err := json.Unmarshal(v, &cs); err == nil && (!cs.Finished() || bytes.Compare(boltfile.TimeKey(cs.UpdatedAt, ""), cutoff) >= 0) {
			continue
		}
		if err := cases.Delete(id); err != nil {
			return err
		}
	}
	return nil
}
