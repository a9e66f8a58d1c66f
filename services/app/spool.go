package app

import (
	"path/filepath"
	"time"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/services/spool"
)

// startSpool opens the gateway's spool in the data directory and returns
// the intake's publish through it: the broker when it takes a complaint
// in time, the spool otherwise. The spool's room decides the gateway's
// readiness; its depth and oldest age are shown on /readyz.
func (p *Process) startSpool() (ingest.Publish, error) {
	s, err := spool.Open(filepath.Join(p.cfg.DataDir, "spool"), p.cfg.Spool, publishEnvelopes(p.producer, &p.intake), p.component("spool"), p.registry)
	if err != nil {
		return nil, err
	}
	p.runners = append(p.runners, s.Run)
	p.server.AddCheck("spool", s.Room)
	p.server.AddDetail("spool", func() any {
		n, oldest, bytes := s.Depth()
		detail := map[string]any{"depth": n, "bytes": bytes}
		if !oldest.IsZero() {
			detail["oldest"] = oldest.UTC().Format(time.RFC3339)
		}
		return detail
	})
	return p.countedIntake(s.Publish), nil
}
