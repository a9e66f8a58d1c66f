package app

// This file wires what replicas share through topics they all follow whole:
// the web form's keyed reference numbers and ledger, and (see follow) any
// store kept in step with such a topic.

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
		var err error
		if p.ledger, err = p.followLedger("ledger", bus.TopicLedger, ledger.Retention); err != nil {
			return webform.Shared{}, err
		}
		if p.rates, err = p.followLedger("rates", bus.TopicRates, ledger.RatesRetention); err != nil {
			return webform.Shared{}, err
		}
	}
	return webform.Shared{References: p.references(), Ledger: p.ledger, Rates: p.rates}, nil
}

// followLedger starts following a shared ledger on topic, keeping its
// records for retention; the process is ready once it has caught up.
func (p *Process) followLedger(name, topic string, retention time.Duration) (*ledger.Ledger, error) {
	l := ledger.New(p.producer.Write, topic, retention)
	if err := p.follow(name, bus.FollowerConfig{Topic: topic, CaughtUp: l.CaughtUp}, l.Follow, l.Prune); err != nil {
		return nil, err
	}
	p.server.AddCheck(name, l.Ready)
	return l, nil
}

// follow keeps a store of this process in step with a topic every replica
// follows whole (no consumer group), handing each record to h, and prunes
// the store every hour with forget (nil: never), which returns how many
// entries it dropped; name names the component in the log.
func (p *Process) follow(name string, fc bus.FollowerConfig, h bus.Handler, forget func(time.Time) int) error {
	log := p.component(name)
	follower, err := bus.NewFollower(p.cfg.Bus, fc, h, log, p.registry)
	if err != nil {
		return fmt.Errorf("%s follower: %w", name, err)
	}
	p.runners = append(p.runners, follower.Run)
	if forget != nil {
		p.runners = append(p.runners, func(ctx context.Context) error {
			prune.Every(ctx, time.Hour, log, func(now time.Time) error {
				log.Debug("pruned", zap.Int("entries", forget(now)))
				return nil
			})
			return nil
		})
	}
	return nil
}
