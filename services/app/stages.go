package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/normalize"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/services/bus"
	"github.com/tousu/tousu/sinks/caseindex"
)

// The consumer groups of the pipeline stages.
const (
	GroupNormalizer = "tousu-normalizer"
	GroupRouter     = "tousu-router"
	GroupIndexer    = "tousu-indexer"
)

// decode reads a JSON payload; one that does not decode is rejected to the
// dead-letter topic.
func decode(m bus.Message, v any) error {
	if err := json.Unmarshal(m.Value, v); err != nil {
		return bus.Reject(fmt.Errorf("decode %s payload: %w", m.Topic, err))
	}
	return nil
}

// checkVersion rejects a payload of another schema version.
func checkVersion(m bus.Message, got, want int) error {
	if got != want {
		return bus.Reject(fmt.Errorf("%s payload has schema version %d, want %d", m.Topic, got, want))
	}
	return nil
}

// publishEnvelope returns the gateway's ingest.Publish: the envelope goes to
// complaints.raw keyed by its id, and the call returns once acknowledged.
func publishEnvelope(p *bus.Producer) ingest.Publish {
	return func(ctx context.Context, env ingest.Envelope) error {
		b, err := json.Marshal(env)
		if err != nil {
			return err
		}
		return p.Write(ctx, bus.Message{Topic: bus.TopicRaw, Key: []byte(env.ID), Value: b})
	}
}

// normalizerStage cleans raw envelopes into complaints and drops exact
// duplicates by id.
type normalizerStage struct {
	producer   *bus.Producer
	seen       normalize.Seen
	duplicates prometheus.Counter
}

func (s *normalizerStage) handle(ctx context.Context, m bus.Message) error {
	return s.batch(ctx, []bus.Message{m})
}

// batch normalizes messages, writes the new complaints in one broker call
// and only then remembers their ids.
func (s *normalizerStage) batch(ctx context.Context, msgs []bus.Message) error {
	var out []bus.Message
	var ids []string
	fresh := map[string]bool{}
	for _, m := range msgs {
		var env ingest.Envelope
		if err := decode(m, &env); err != nil {
			return err
		}
		c, err := normalize.Normalize(env)
		if err != nil {
			return bus.Reject(err)
		}
		dup, err := s.seen.Has(ctx, c.ID)
		if err != nil {
			return fmt.Errorf("duplicate check: %w", err)
		}
		if dup || fresh[c.ID] {
			s.duplicates.Inc()
			continue
		}
		fresh[c.ID] = true
		b, err := json.Marshal(c)
		if err != nil {
			return bus.Reject(err)
		}
		out = append(out, bus.Message{Topic: bus.TopicNormalized, Key: []byte(c.Customer.Key), Value: b})
		ids = append(ids, c.ID)
	}
	if len(out) == 0 {
		return nil
	}
	if err := s.producer.Write(ctx, out...); err != nil {
		return err
	}
	return s.seen.Remember(ctx, ids...)
}

// routerStage opens a case for every complaint by the policy.
type routerStage struct {
	producer *bus.Producer
	policy   router.Policy
	now      func() time.Time
}

func (s *routerStage) handle(ctx context.Context, m bus.Message) error {
	return s.batch(ctx, []bus.Message{m})
}

// batch opens the cases of several complaints and writes them in one
// broker call.
func (s *routerStage) batch(ctx context.Context, msgs []bus.Message) error {
	out := make([]bus.Message, len(msgs))
	for i, m := range msgs {
		var c normalize.Complaint
		if err := decode(m, &c); err != nil {
			return err
		}
		if err := checkVersion(m, c.V, normalize.SchemaVersion); err != nil {
			return err
		}
		cs := s.policy.Open(c, s.now())
		b, err := json.Marshal(cs)
		if err != nil {
			return bus.Reject(err)
		}
		out[i] = bus.Message{Topic: bus.TopicCases, Key: []byte(cs.ID), Value: b}
	}
	return s.producer.Write(ctx, out...)
}

// indexerStage writes cases to the search index.
type indexerStage struct {
	index caseindex.Index
}

func (s *indexerStage) handle(ctx context.Context, m bus.Message) error {
	return s.batch(ctx, []bus.Message{m})
}

// batch writes many cases in one index request; the consumer handles a
// failed batch again message by message, which isolates a bad case.
func (s *indexerStage) batch(ctx context.Context, msgs []bus.Message) error {
	cases := make([]router.Case, len(msgs))
	for i, m := range msgs {
		if err := decode(m, &cases[i]); err != nil {
			return err
		}
		if err := checkVersion(m, cases[i].V, router.SchemaVersion); err != nil {
			return err
		}
	}
	err := s.index.Upsert(ctx, cases)
	if errors.Is(err, caseindex.ErrInvalidCase) {
		return bus.Reject(err)
	}
	return err
}
