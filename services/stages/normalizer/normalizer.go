// Package normalizer is the stage that turns raw envelopes into
// complaints. It consumes complaints.raw (group Group), cleans each
// envelope into a normalize.Complaint, drops exact duplicates by id (its
// seen file remembers the ids it processed), threads e-mail replies from
// other addresses to the case they answer (by asking the search index),
// and produces the complaints on complaints.normalized keyed by
// normalize.PartitionKey. A call acknowledges its messages once the
// broker acknowledged the complaints; only then are their ids remembered,
// so a failed call is decided again. An envelope that does not decode or
// normalize is rejected to the dead-letter topic.
package normalizer

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/normalize"
	"github.com/tousu/tousu/services/bus"
	"github.com/tousu/tousu/services/stages/record"
	"github.com/tousu/tousu/sinks/caseindex"
)

// Group is the normalizer's consumer group.
const Group = "tousu-normalizer"

// Stage cleans raw envelopes into complaints, drops exact
// duplicates by id and threads e-mail replies from other addresses to the
// case they answer (threads: nil when the index is out of its reach).
type Stage struct {
	producer   record.Writer
	seen       *boltSeen
	threads    *threadFinder
	duplicates prometheus.Counter
}

// Topics are the topics the normalizer consumes.
var Topics = []string{bus.TopicRaw}

// Deps is what the normalizer stage is made of.
type Deps struct {
	// Writer writes the normalized complaints.
	Writer record.Writer
	// SeenPath is the file of the complaint ids already processed, which
	// are forgotten after SeenRetention.
	SeenPath      string
	SeenRetention time.Duration
	// Index is where e-mail replies from other addresses are looked up;
	// nil: they are not.
	Index    caseindex.Index
	Logger   *zap.Logger
	Registry prometheus.Registerer // nil: no metrics registered
}

// New opens the seen file and registers the stage's
// metrics with d.Registry.
func New(d Deps) (*Stage, error) {
	seen, err := openSeen(d.SeenPath, d.SeenRetention)
	if err != nil {
		return nil, err
	}
	dups := prometheus.NewCounter(prometheus.CounterOpts{Name: "tousu_normalizer_duplicates_total", Help: "Complaints dropped as exact duplicates by id."})
	if d.Registry != nil {
		d.Registry.MustRegister(dups)
	}
	s := &Stage{producer: d.Writer, seen: seen, duplicates: dups}
	if d.Index != nil {
		s.threads = newThreadFinder(d.Index, d.Logger, d.Registry)
	}
	return s, nil
}

// Close closes the seen file.
func (s *Stage) Close() error { return s.seen.Close() }

// Handle normalizes the envelope of one message.
func (s *Stage) Handle(ctx context.Context, m bus.Message) error {
	return s.Batch(ctx, []bus.Message{m})
}

// Batch normalizes messages, writes the new complaints in one broker call
// and only then remembers their ids.
func (s *Stage) Batch(ctx context.Context, msgs []bus.Message) error {
	var out []bus.Message
	var ids []string
	fresh := map[string]bool{}
	for _, m := range msgs {
		var env ingest.Envelope
		if err := record.Decode(m, &env); err != nil {
			return err
		}
		c, err := normalize.Normalize(env)
		if err != nil {
			return bus.Reject(err)
		}
		keys := normalize.SeenKeys(c)
		dup, err := s.seenAny(ctx, keys, fresh)
		if err != nil {
			return fmt.Errorf("duplicate check: %w", err)
		}
		if dup {
			s.duplicates.Inc()
			continue
		}
		for _, k := range keys {
			fresh[k] = true
		}
		if s.threads != nil {
			c.Thread = s.threads.find(ctx, c)
		}
		if err := record.AppendJSON(&out, bus.MaxRecordBytes, bus.TopicNormalized, normalize.PartitionKey(c), c); err != nil {
			return err
		}
		ids = append(ids, keys...)
	}
	if len(out) == 0 {
		return nil
	}
	if err := s.producer.Write(ctx, out...); err != nil {
		return err
	}
	return s.seen.Remember(ctx, ids...)
}

// seenAny reports whether any key was processed before or earlier in the
// batch.
func (s *Stage) seenAny(ctx context.Context, keys []string, fresh map[string]bool) (bool, error) {
	for _, k := range keys {
		if fresh[k] {
			return true, nil
		}
		dup, err := s.seen.Has(ctx, k)
		if err != nil || dup {
			return dup, err
		}
	}
	return false, nil
}
