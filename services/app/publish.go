package app

import (
	"context"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/services/bus"
	"github.com/tousu/tousu/services/spool"
	"github.com/tousu/tousu/services/stages/record"
)

// publishEnvelope returns the gateway's ingest.Publish: the envelope goes to
// complaints.raw keyed by its id, and the call returns once acknowledged.
// Each call counts in intake while it waits (nil: counted nowhere).
func publishEnvelope(p *bus.Producer, intake *bus.Intake) ingest.Publish {
	publish := publishEnvelopes(p, intake)
	return func(ctx context.Context, env ingest.Envelope) error { return publish(ctx, env) }
}

// publishEnvelopes is publishEnvelope for several envelopes at once, in
// one request to the broker.
func publishEnvelopes(p *bus.Producer, intake *bus.Intake) spool.PublishBatch {
	return func(ctx context.Context, envs ...ingest.Envelope) error {
		msgs := make([]bus.Message, len(envs))
		for i, env := range envs {
			b, err := ingest.EncodeJSON(env)
			if err != nil {
				return err
			}
			msgs[i] = bus.Message{Topic: bus.TopicRaw, Key: []byte(env.ID), Value: b}
		}
		defer intake.Begin()()
		return p.Write(ctx, msgs...)
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
