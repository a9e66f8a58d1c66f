package httpapi

import (
	"context"

	"github.com/gofiber/fiber/v2"
	"go.uber.org/zap"
)

// GroupLag is the lag of one consumer group on the topic it reads: per
// partition, the records not yet committed (high watermark minus committed
// offset), and their sum; and how many consumers are attached to the group
// (0 when no process runs it, whatever its lag).
type GroupLag struct {
	Group      string        `json:"group"`
	Topic      string        `json:"topic"`
	Members    int           `json:"members"`
	Partitions map[int]int64 `json:"partitions"`
	Total      int64         `json:"total"`
	Error      string        `json:"error,omitempty"`
}

// LagSource reports the lag of the pipeline's consumer groups, asking the
// broker, so every process answers the same whichever components it runs.
type LagSource func(ctx context.Context) []GroupLag

// MountOps registers GET /api/v1/ops/lag for admin and supervisor tokens.
func MountOps(app fiber.Router, auth *Authenticator, lag LagSource, logger *zap.Logger) {
	app.Get("/api/v1/ops/lag", auth.Require(Role.WatchesOps), func(c *fiber.Ctx) error {
		groups := lag(c.UserContext())
		for _, g := range groups {
			if g.Error != "" {
				logger.Warn("lag unavailable", zap.String("group", g.Group), zap.String("error", g.Error))
			}
		}
		return c.JSON(fiber.Map{"groups": groups})
	})
}
