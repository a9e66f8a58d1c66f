// Package caseindex defines the search index agents find cases in: the Index
// interface both backends (Bleve embedded, Elasticsearch) implement, the
// query and result types of the search API, and, in caseindextest, the
// contract suite every backend must pass.
package caseindex

import (
	"context"
	"errors"
	"time"

	"github.com/tousu/tousu/router"
)

// ErrNotFound is returned by Get when no case has the id.
var ErrNotFound = errors.New("case not found")

// Index stores cases for search. Implementations are safe for concurrent
// use; every method blocks until done or ctx ends.
//
// Upsert is idempotent: writing the same case twice leaves one document, and
// a case whose Revision is lower than the stored one is ignored (a stale
// update never overwrites a newer one). When Upsert returns nil the cases are
// durable and visible to Get; Search sees them at once (Bleve) or after the
// index's next refresh (Elasticsearch, at most its refresh interval later).
type Index interface {
	Upsert(ctx context.Context, cases []router.Case) error
	Get(ctx context.Context, id string) (router.Case, error)
	Search(ctx context.Context, q Query) (Result, error)
	// SLACounts counts SLA facts for reports (see Counter).
	Counter
	// Ping reports whether the index is reachable, for readiness.
	Ping(ctx context.Context) error
	Close() error
}

// Sort orders of a search.
const (
	SortRelevance = "relevance"    // best match first (default when Text is set)
	SortNewest    = "-received_at" // newest first (default otherwise)
	SortOldest    = "received_at"
	SortDeadline  = "deadline" // earliest deadline first, cases without one last
)

// Query selects cases. Empty fields do not filter.
type Query struct {
	// Text is what an agent types into the search box, matched against
	// subject and description as text.go says: its terms in any order
	// (信号很差 finds 手机信号差了三天), a quoted part as an exact phrase
	// ("信号差" does not find 信号很差), or the whole text as a reference,
	// work-order number or business type.
	Text string
	// Filters are exact matches on keyword fields, keyed by Filter.Name
	// (see Filters), e.g. {"status": "open", "grade": "重大"}: a case
	// matches when it matches every entry. An empty value does not filter;
	// an unknown name is a *ParamError.
	Filters   map[string]string
	From, To  time.Time // received_at in [From, To)
	DueBefore time.Time // deadline before this instant
	Sort      string
	Offset    int
	Limit     int // default 20, at most MaxLimit
	// Scope, when set, limits the search to the cases a person may see
	// (see Scope); nil searches every case. Only code sets it, never the
	// query string.
	Scope *Scope
}

// MaxLimit bounds the page size of a search.
const MaxLimit = 200

// Result is one page of matching cases with the total and facet counts over
// all matches.
type Result struct {
	Total  int                       `json:"total"`
	Hits   []router.Case             `json:"hits"`
	Facets map[string]map[string]int `json:"facets"`
}
