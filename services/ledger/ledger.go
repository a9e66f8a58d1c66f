// Package ledger keeps the webform.Ledger that every gateway and console
// replica of an installation shares on the broker: the status page's
// look-ups of each reference and the JSON API's idempotency keys.
//
// A Ledger appends each record to its topic (bus.TopicLedger), keyed by its ledger key
// and acknowledged by all in-sync replicas before Append returns, and
// keeps it in memory at once. Every replica follows all partitions of the
// topic from the first retained offset (a bus.Follower with Follow as its
// handler), so it learns the other replicas' records within the
// follower's fetch wait, and a replica that starts reads back what the
// topic retains. Records are kept in memory as long as the topic keeps
// them (Retention for gateway.ledger, RatesRetention for gateway.rates).
package ledger

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/ingest/webform"
	"github.com/tousu/tousu/services/bus"
)

// Version is the "v" of a record's payload.
const Version = 1

// Retention is how long records are kept in memory: as long as
// deploy/topics.yaml keeps gateway.ledger, the time an idempotency key is
// remembered.
const Retention = 7 * 24 * time.Hour

// RatesRetention is how long the records of the rate limits are kept: as
// long as deploy/topics.yaml keeps gateway.rates, the longest rate window
// (webform.MaxRateWindow).
const RatesRetention = time.Hour

// Write writes messages to the broker and blocks until they are
// acknowledged (bus.Producer.Write).
type Write func(ctx context.Context, msgs ...bus.Message) error

// Ledger is a webform.Ledger on the broker. It is safe for concurrent use.
type Ledger struct {
	write     Write
	topic     string
	retention time.Duration
	now       func() time.Time

	// caughtUp is done once the follower has read what the topic held
	// when it started (CaughtUp): until then this replica's view may lack
	// other replicas' records, so Append waits for it.
	caughtUp *bus.CatchUp

	mu      sync.Mutex
	entries map[string][]entry
}

// entry is a record in memory; id tells a record read again.
type entry struct {
	id string
	webform.LedgerEntry
}

// record is the payload of a message on bus.TopicLedger.
type record struct {
	V     int       `json:"v"`
	ID    string    `json:"id"`
	Key   string    `json:"key"`
	At    time.Time `json:"at"`
	Value []byte    `json:"value"`
}

// New returns a Ledger that appends to topic (bus.TopicLedger or
// bus.TopicRates but in tests) through write and keeps records for
// retention, the topic's. Follow must be the handler of a bus.Follower of
// the topic for the Ledger to learn the other replicas' records, and
// CaughtUp its FollowerConfig.CaughtUp: a Ledger accepts no Append before.
func New(write Write, topic string, retention time.Duration) *Ledger {
	return &Ledger{write: write, topic: topic, retention: retention, now: time.Now, entries: map[string][]entry{},
		caughtUp: bus.NewCatchUp("ledger: still reading the records of the other replicas")}
}

// CaughtUp records that the follower has read everything the topic held
// when it started; it is the follower's FollowerConfig.CaughtUp. Calling
// it again does nothing.
func (l *Ledger) CaughtUp() { l.caughtUp.Done() }

// Ready reports nil once the Ledger has caught up with the topic, for a
// readiness check: a replica that has not is missing other replicas'
// records and would count a reference's failed look-ups low.
func (l *Ledger) Ready(ctx context.Context) error { return l.caughtUp.Ready(ctx) }

// Append implements webform.Ledger: once the Ledger has caught up with
// the topic (waiting for it, or for ctx), it writes the record and, once
// the broker acknowledged it, adds it to this replica's view.
func (l *Ledger) Append(ctx context.Context, key string, value []byte) error {
	if err := l.caughtUp.Wait(ctx); err != nil {
		return fmt.Errorf("ledger: append %s before catching up with the other replicas: %w", key, err)
	}
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return err
	}
	r := record{V: Version, ID: hex.EncodeToString(id), Key: key, At: l.now().UTC(), Value: bytes.Clone(value)}
	b, err := ingest.EncodeJSON(r)
	if err != nil {
		return err
	}
	if err := l.write(ctx, bus.Message{Topic: l.topic, Key: []byte(key), Value: b}); err != nil {
		return fmt.Errorf("ledger: append %s: %w", key, err)
	}
	l.add(r)
	return nil
}

// Entries implements webform.Ledger.
func (l *Ledger) Entries(key string) []webform.LedgerEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []webform.LedgerEntry
	for _, e := range l.entries[key] {
		out = append(out, webform.LedgerEntry{At: e.At, Value: bytes.Clone(e.Value)})
	}
	return out
}

// Follow is the bus.Handler that adds a followed record to this replica's
// view; it ignores the records it has (its own appends, a topic read
// again) and rejects those it cannot read.
func (l *Ledger) Follow(_ context.Context, m bus.Message) error {
	var r record
	if err := json.Unmarshal(m.Value, &r); err != nil {
		return bus.Reject(fmt.Errorf("ledger: decode record: %w", err))
	}
	if r.V != Version || r.ID == "" || r.Key == "" || r.At.IsZero() {
		return bus.Reject(fmt.Errorf("ledger: record version %d, id %q, key %q, time %s: not a record of this version", r.V, r.ID, r.Key, r.At))
	}
	l.add(r)
	return nil
}

// add puts r into the view, in time order, unless it is there or older
// than the retention.
func (l *Ledger) add(r record) {
	if l.now().Sub(r.At) > l.retention {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	list := l.entries[r.Key]
	if slices.ContainsFunc(list, func(e entry) bool { return e.id == r.ID }) {
		return
	}
	// After every record of the same time or earlier: records of one
	// replica keep the order it appended them in.
	i := sort.Search(len(list), func(i int) bool { return list[i].At.After(r.At) })
	l.entries[r.Key] = slices.Insert(list, i, entry{id: r.ID, LedgerEntry: webform.LedgerEntry{At: r.At, Value: r.Value}})
}

// Prune drops the records older than the retention at now and returns how many
// keys it dropped entirely.
func (l *Ledger) Prune(now time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	dropped := 0
	for key, list := range l.entries {
		list = slices.DeleteFunc(list, func(e entry) bool { return now.Sub(e.At) > l.retention })
		if len(list) == 0 {
			delete(l.entries, key)
			dropped++
			continue
		}
		l.entries[key] = list
	}
	return dropped
}
