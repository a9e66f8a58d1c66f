// Package outcomes keeps, for every console replica, what became of the
// case actions agents sent: the router.ActionResult records the routers
// write to bus.TopicOutcomes, keyed by action id. Every console follows
// all partitions of the topic from the first retained offset (a
// bus.Follower with Follow as its handler), so whichever replica an agent
// asks learns the result any router wrote, within the follower's fetch
// wait. Results are kept in memory for Retention, the topic's retention,
// at most MaxResults of them.
package outcomes

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/services/bus"
)

// Retention is how long results are kept: as long as deploy/topics.yaml
// keeps case.outcomes.
const Retention = 24 * time.Hour

// MaxResults bounds the results kept in memory (tens of MiB); beyond it
// the oldest go, down to nine tenths of it. An agent's page asks for its
// action's result within seconds, so only a flood of the routers' own
// actions (escalations, batch flags) reaches it.
const MaxResults = 100000

// Store is the results of case actions by action id. It is safe for
// concurrent use.
type Store struct {
	now func() time.Time

	mu      sync.Mutex
	results map[string]router.ActionResult
}

// New returns an empty Store; Follow must be the handler of a
// bus.Follower of bus.TopicOutcomes for it to learn results.
func New() *Store {
	return &Store{now: time.Now, results: map[string]router.ActionResult{}}
}

// Follow is the bus.Handler that stores a followed result; it rejects a
// record it cannot read, and ignores one older than Retention. A refusal
// does not replace an application of the same action: an action applied
// once stays applied, even when a redelivery of it was refused later.
func (s *Store) Follow(_ context.Context, m bus.Message) error {
	var r router.ActionResult
	if err := json.Unmarshal(m.Value, &r); err != nil {
		return bus.Reject(fmt.Errorf("outcomes: decode result: %w", err))
	}
	if r.V != router.ActionResultVersion || r.Action == "" || r.Case == "" {
		return bus.Reject(fmt.Errorf("outcomes: result version %d, action %q, case %q: not a result of this version", r.V, r.Action, r.Case))
	}
	if s.now().Sub(r.At) > Retention {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.results[r.Action]; ok && old.State == router.ActionApplied && r.State != router.ActionApplied {
		return nil
	}
	s.results[r.Action] = r
	if len(s.results) > MaxResults {
		all := slices.SortedFunc(maps.Values(s.results), func(a, b router.ActionResult) int { return a.At.Compare(b.At) })
		for _, old := range all[:len(all)-MaxResults*9/10] {
			delete(s.results, old.Action)
		}
	}
	return nil
}

// Result returns the result of an action, and false when no router has
// told it (yet, or within Retention).
func (s *Store) Result(actionID string) (router.ActionResult, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.results[actionID]
	return r, ok
}

// Prune drops the results older than Retention at now and returns how
// many it dropped.
func (s *Store) Prune(now time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	before := len(s.results)
	maps.DeleteFunc(s.results, func(_ string, r router.ActionResult) bool { return now.Sub(r.At) > Retention })
	return before - len(s.results)
}
