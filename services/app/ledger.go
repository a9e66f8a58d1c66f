package app

// This file wires what the web form shares across replicas: the keyed
// reference numbers and the ledger on the broker.

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/ingest/webform"
	"github.com/tousu/tousu/services/bus"
	"github.com/tousu/tousu/services/ledger"
	"github.com/tousu/tousu/services/prune"
)

// references returns the reference derivation of the installation: keyed
// with the server secret's "reference" key, so every replica gives a
// complaint the same reference and nobody else can compute it.
func (p *Process) references() ingest.References {
	return ingest.NewReferences(p.key.Derive("reference"))
}

// formShared returns what the web form, the API and the status page share
// with the other replicas. The first call starts following the ledger
// topic; the gateway and the console of one process share the ledger.
func (p *Process) formShared() (webform.Shared, error) {
	if p.ledger == nil {
		l := ledger.New(p.producer.Write, bus.TopicLedger)
		log := p.component("ledger")
		follower, err := bus.NewFollower(p.cfg.Bus, bus.FollowerConfig{Topic: bus.TopicLedger, CaughtUp: l.CaughtUp}, l.Follow, log, p.registry)
		if err != nil {
			return webform.Shared{}, fmt.Errorf("ledger follower: %w", err)
		}
		p.runners = append(p.runners, follower.Run, func(ctx context.Context) error {
			prune.Every(ctx, time.Hour, log, func(now time.Time) error {
				log.Debug("pruned the ledger", zap.Int("keys", l.Prune(now)))
				return nil
			})
			return nil
		})
		p.ledger = l
		p.server.AddCheck("ledger", l.Ready)
	}
	return webform.Shared{References: p.references(), Ledger: p.ledger}, nil
}
