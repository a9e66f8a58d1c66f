// Package indexer is the stage that writes cases to the search index. It
// consumes the cases topic (group Group) and produces nothing on the bus:
// a message is acknowledged once the index holds its case durably (the
// index's Upsert returned: Get sees the case at once, Search at once on
// Bleve and within the refresh interval on Elasticsearch). A batch the
// index fails is handled again message by message; a case the index
// refuses as invalid is rejected to the dead-letter topic.
package indexer

import (
	"context"
	"errors"

	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/services/bus"
	"github.com/tousu/tousu/services/stages/record"
	"github.com/tousu/tousu/sinks/caseindex"
)

// Group is the indexer's consumer group.
const Group = "tousu-indexer"

// InFlight is how many batches the indexer's consumer hands to Batch at
// once (bus.ConsumerConfig.InFlight) on Elasticsearch: while one bulk
// request is at the node, the next batches are fetched, decoded and sent.
// On Bleve, which writes one batch at a time under its lock, it stays 1
// (the consumer still fetches the next batch meanwhile): batches waiting
// for the lock were smaller, and Bleve pays a persist per batch. Offsets are still
// committed in order, each once every case up to it is written. Two
// revisions of one case in batches written at once cannot overwrite each
// other wrongly: an index keeps the highest revision of a case whatever
// order they arrive in (caseindex.Index, Upsert; Elasticsearch by external
// version, Bleve under its upsert lock), and its Upsert is safe for
// concurrent calls.
const InFlight = 4

// Stage writes cases to the search index.
type Stage struct {
	index caseindex.Index
}

// Topics are the topics the indexer consumes.
var Topics = []string{bus.TopicCases}

// Deps is what the indexer stage is made of.
type Deps struct {
	// Index is the search index; the caller closes it.
	Index caseindex.Index
}

// New returns the stage writing to d.Index.
func New(d Deps) *Stage { return &Stage{index: d.Index} }

// Handle writes the case of one message.
func (s *Stage) Handle(ctx context.Context, m bus.Message) error {
	return s.Batch(ctx, []bus.Message{m})
}

// Batch writes many cases in one index request; the consumer handles a
// failed batch again message by message, which isolates a bad case.
func (s *Stage) Batch(ctx context.Context, msgs []bus.Message) error {
	cases := make([]router.Case, len(msgs))
	for i, m := range msgs {
		if err := record.Decode(m, &cases[i]); err != nil {
			return err
		}
		if err := record.CheckVersion(m, cases[i].V, router.SchemaVersion); err != nil {
			return err
		}
	}
	err := s.index.Upsert(ctx, cases)
	if errors.Is(err, caseindex.ErrInvalidCase) {
		return bus.Reject(err)
	}
	return err
}
