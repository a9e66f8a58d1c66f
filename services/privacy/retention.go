package privacy

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/services/prune"
	"github.com/tousu/tousu/sinks/caseindex"
)

// Due returns the cases of found whose personal information the
// retention period no longer allows to keep as of now: finished
// (resolved or closed) longer than retention ago, and not erased. It is
// pure; a retention of 0 keeps every case.
func Due(found []router.Case, retention time.Duration, now time.Time) []router.Case {
	var out []router.Case
	if retention <= 0 {
		return nil
	}
	for _, c := range found {
		if c.Finished() && c.Erased == nil && !c.UpdatedAt.After(now.Add(-retention)) {
			out = append(out, c)
		}
	}
	return out
}

// Scan erases the cases past the retention period (Due) that the index
// finds and returns how many it sent erase actions for. A case reopened
// or changed since is finished again later and waits.
func (s *Service) Scan(ctx context.Context) (int, error) {
	if s.cfg.RetentionAfterClose <= 0 {
		return 0, nil
	}
	now := s.now()
	cutoff := now.Add(-s.cfg.RetentionAfterClose)
	n := 0
	for _, status := range []router.Status{router.StatusResolved, router.StatusClosed} {
		// A case finished before the cutoff was received before it too.
		found, err := s.all(ctx, caseindex.Query{Filters: map[string]string{"status": string(status)}, To: cutoff})
		if err != nil {
			return n, err
		}
		due := Due(found, s.cfg.RetentionAfterClose, now)
		if len(due) == 0 {
			continue
		}
		out, err := s.Erase(ctx, due, router.ErasureRetention, router.RetentionActor, "")
		n += len(out.Cases)
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// Run runs the retention job every ScanEvery until ctx ends; it does
// nothing when RetentionAfterClose is 0. Every router applies an erase
// action once, so replicas that scan too only repeat harmless actions.
func (s *Service) Run(ctx context.Context) error {
	if s.cfg.RetentionAfterClose <= 0 {
		return nil
	}
	prune.Every(ctx, s.cfg.ScanEvery, s.logger, func(time.Time) error {
		n, err := s.Scan(ctx)
		if n > 0 {
			s.logger.Info("personal information erased: retention period passed", zap.Int("cases", n),
				zap.Duration("retention_after_close", s.cfg.RetentionAfterClose))
		}
		return err
	})
	return nil
}
