package webform

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/tousu/tousu/ingest/ingesttest"
)

// memLedger is a Ledger in memory. Forms sharing one behave like replicas
// sharing the broker's ledger with no follower lag. It fails every Append
// while err is set.
type memLedger struct {
	mu      sync.Mutex
	entries map[string][]LedgerEntry
	err     error
}

func (l *memLedger) Append(ctx context.Context, key string, value []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return l.err
	}
	if l.entries == nil {
		l.entries = map[string][]LedgerEntry{}
	}
	l.entries[key] = append(l.entries[key], LedgerEntry{At: time.Now(), Value: slices.Clone(value)})
	return nil
}

func (l *memLedger) Entries(key string) []LedgerEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.entries[key])
}

func (l *memLedger) fail(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.err = err
}

// testShared is what a Form of the tests shares: the test references and
// a ledger of its own.
func testShared() Shared {
	return Shared{References: ingesttest.References(), Ledger: &memLedger{}}
}
