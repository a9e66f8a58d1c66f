package webform

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tousu/tousu/ingest"
)

// Shared is what a Form must share with every other replica of the
// installation that serves the form, the API or the status page.
type Shared struct {
	// References derives reference numbers from envelope ids. Required
	// when the Form publishes (see New).
	References ingest.References
	// Ledger keeps the look-ups of each reference for the status page's
	// lock and the idempotency keys of the JSON API. Required.
	Ledger Ledger
	// Rates records the requests each client made recently, so that the
	// rate limits hold across replicas (RateLimit). Optional: without it
	// each replica counts alone. Its records need to live MaxRateWindow.
	Rates Ledger
}

// validate checks that s has what a Form that publishes (or only serves
// the status page) needs.
func (s Shared) validate(publishes bool) error {
	var errs []error
	if publishes {
		if err := s.References.Check(); err != nil {
			errs = append(errs, fmt.Errorf("webform: shared.%w", err))
		}
	}
	if s.Ledger == nil {
		errs = append(errs, errors.New("webform: shared.ledger: not set"))
	}
	return errors.Join(errs...)
}

// Ledger is a log of small records that every gateway and console replica
// of an installation shares (services/ledger keeps it on the broker). The
// status page records the look-ups of each reference in it, the JSON API
// the idempotency key of each accepted request. Its rules:
//
//   - Append records value under key. It blocks until the record is
//     durable and will reach every replica, and returns nil only then; it
//     returns early with an error when ctx ends. After an error the Form
//     refuses the request (it fails closed), since an unrecorded look-up
//     would escape the lock.
//   - Entries returns the records under key this replica knows, ordered by
//     their times: its own appends at once, another replica's once it has
//     followed them (usually within a second, so for that long two
//     replicas may each let through a request the other would refuse).
//     It never blocks and does no I/O. Records older than the ledger's
//     retention may be gone; the Form needs none older than
//     Config.StatusLockWindow and the idempotency retention the ledger
//     documents.
//   - Both are safe for concurrent use.
type Ledger interface {
	Append(ctx context.Context, key string, value []byte) error
	Entries(key string) []LedgerEntry
}

// LedgerEntry is one record of a Ledger.
type LedgerEntry struct {
	// At is when the record was appended, by the appending replica's
	// clock.
	At    time.Time
	Value []byte
}
