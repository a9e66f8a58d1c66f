package app

// This file wires what the web form shares across replicas: the keyed
// reference numbers and the ledger on the broker.

import (
	"github.com/tousu/tousu/ingest"
)

// references returns the reference derivation of the installation: keyed
// with the server secret's "reference" key, so every replica gives a
// complaint the same reference and nobody else can compute it.
func (p *Process) references() ingest.References {
	return ingest.NewReferences(p.key.Derive("reference"))
}
