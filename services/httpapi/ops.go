package httpapi

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"
	"go.uber.org/zap"

	"github.com/tousu/tousu/services/ops"
)

// The paths of the ops API.
const (
	PathOpsLag       = "/api/v1/ops/lag"
	PathOpsChannels  = "/api/v1/ops/channels"
	PathOpsProcesses = "/api/v1/ops/processes"
)

// LagSource reports the lag of the pipeline's consumer groups, asking the
// broker, so every process answers the same whichever components it runs.
// It does not fail: a group the broker cannot answer for carries its error.
type LagSource func(ctx context.Context) []ops.GroupLag

// OpsDeps is what the ops API reads.
type OpsDeps struct {
	// Lag asks the broker for the lag now.
	Lag LagSource
	// History is the lag sampled by a console replica; nil in a process
	// that runs no console (its lag answers then carry no rates).
	History *ops.History
	// Deployment is the deployment as the heartbeats tell it; nil in a
	// process that runs no console, which then serves no channels and
	// processes.
	Deployment *ops.Deployment
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// MountOps registers GET /api/v1/ops/lag for admin, supervisor and ops
// (with ?history=1 the sampled hour too) and, where d.Deployment is set,
// GET /api/v1/ops/channels and /api/v1/ops/processes for the roles
// Role.MonitorsPipeline admits.
func MountOps(app fiber.Router, auth *Authenticator, d OpsDeps, logger *zap.Logger) {
	now := d.Now
	if now == nil {
		now = time.Now
	}
	app.Get(PathOpsLag, auth.Require(Role.WatchesOps), func(c *fiber.Ctx) error {
		s := CurrentLag(c.UserContext(), d.Lag, d.History, now())
		for _, g := range s.Groups {
			if g.Error != "" {
				logger.Warn("lag unavailable", zap.String("group", g.Group), zap.String("error", g.Error))
			}
		}
		answer := fiber.Map{"groups": s.Groups}
		if c.QueryBool("history") && d.History != nil {
			answer["history"] = d.History.Samples()
		}
		return c.JSON(answer)
	})
	if d.Deployment == nil {
		return
	}
	app.Get(PathOpsChannels, auth.Require(Role.MonitorsPipeline), func(c *fiber.Ctx) error {
		return c.JSON(fiber.Map{"channels": d.Deployment.Channels(now())})
	})
	app.Get(PathOpsProcesses, auth.Require(Role.MonitorsPipeline), func(c *fiber.Ctx) error {
		return c.JSON(fiber.Map{"processes": d.Deployment.Processes(now())})
	})
}

// CurrentLag asks lag for the lag at now, with rates against the newest
// sample of history at least ops.SampleEvery old, so that the rates cover
// 15 to 30 seconds rather than the moment since the last sample.
func CurrentLag(ctx context.Context, lag LagSource, history *ops.History, now time.Time) ops.Sample {
	s := ops.Sample{At: now.UTC(), Groups: lag(ctx)}
	if history == nil {
		return s
	}
	if prev, ok := history.Before(now.Add(-ops.SampleEvery)); ok {
		return ops.WithRates(prev, s)
	}
	return s
}
