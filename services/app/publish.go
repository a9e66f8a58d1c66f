package app

import (
	"context"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/services/bus"
	"github.com/tousu/tousu/services/stages/record"
)

// publishEnvelope returns the gateway's ingest.Publish: the envelope goes to
// complaints.raw keyed by its id, and the call returns once acknowledged.
func publishEnvelope(p *bus.Producer) ingest.Publish {
	return func(ctx context.Context, env ingest.Envelope) error {
		b, err := ingest.EncodeJSON(env)
		if err != nil {
			return err
		}
		return p.Write(ctx, bus.Message{Topic: bus.TopicRaw, Key: []byte(env.ID), Value: b})
	}
}

// publishAction returns the console's publish of case actions: to
// case.actions keyed by the case's customer, returning once acknowledged.
func publishAction(p record.Writer) func(context.Context, router.Action) error {
	return func(ctx context.Context, a router.Action) error {
		b, err := ingest.EncodeJSON(a)
		if err != nil {
			return err
		}
		return p.Write(ctx, bus.Message{Topic: bus.TopicActions, Key: []byte(a.Customer), Value: b})
	}
}
