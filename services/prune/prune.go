// Package prune runs the periodic pruning of a component's state.
package prune

import (
	"context"
	"time"

	"go.uber.org/zap"
)

// Every calls prune every interval until ctx ends, logging
// failures.
func Every(ctx context.Context, interval time.Duration, logger *zap.Logger, prune func(time.Time) error) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if err := prune(now); err != nil {
				logger.Error("prune state", zap.Error(err))
			}
		}
	}
}
