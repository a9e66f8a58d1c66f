// Package ingesttest holds test doubles for the intake adapters.
package ingesttest

import (
	"context"
	"sync"

	"github.com/tousu/tousu/ingest"
)

// Recorder stands in for the broker behind an ingest.Publish: it records
// every envelope it accepts and refuses all while an error is set. It is
// safe for concurrent use.
type Recorder struct {
	mu   sync.Mutex
	envs []ingest.Envelope
	err  error
}

// Publish is an ingest.Publish.
func (r *Recorder) Publish(_ context.Context, env ingest.Envelope) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	r.envs = append(r.envs, env)
	return nil
}

// Fail makes Publish return err from now on; nil accepts again.
func (r *Recorder) Fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.err = err
}

// Published returns a copy of the envelopes accepted so far, in order.
func (r *Recorder) Published() []ingest.Envelope {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]ingest.Envelope(nil), r.envs...)
}

// References returns the reference derivation tests use: keyed with a
// fixed test key, the same in every call.
func References() ingest.References {
	return ingest.NewReferences([]byte("ingesttest: a reference key for tests only"))
}
