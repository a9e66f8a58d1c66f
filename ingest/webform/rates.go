package webform

import (
	"context"
	"fmt"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/limiter"
	"go.uber.org/zap"
)

// MaxRateWindow is the longest rate window: the shared rate records live
// an hour (deploy/topics.yaml, gateway.rates).
const MaxRateWindow = time.Hour

// rateWait bounds the wait for the shared rate record of one request;
// past it the replica counts the request itself.
const rateWait = 2 * time.Second

// RateLimit lets at most Max requests under one key through per Window,
// counted in Rates, which every replica shares, so that a client spreading
// its requests over the replicas behind a load balancer gets the same
// budget as one talking to a single replica. Each request let through is
// one record under its key; a request over the limit records nothing.
// Two replicas deciding at the same moment may each let one more through
// (they learn each other's records within about a second).
type RateLimit struct {
	Rates  Ledger
	Max    int
	Window time.Duration
}

// Allow reports whether one more request under key fits within the
// limit at now, and records it when it does; when it does not, retry says
// when the oldest counted request leaves the window. An error means the
// request could not be recorded: the caller decides (the form then counts
// it on this replica alone).
func (r RateLimit) Allow(ctx context.Context, key string, now time.Time) (ok bool, retry time.Duration, err error) {
	since := now.Add(-r.Window)
	var counted []time.Time
	for _, e := range r.Rates.Entries(key) {
		if e.At.After(since) {
			counted = append(counted, e.At)
		}
	}
	if len(counted) >= r.Max {
		return false, counted[len(counted)-r.Max].Add(r.Window).Sub(now), nil
	}
	if err := r.Rates.Append(ctx, key, nil); err != nil {
		return false, 0, fmt.Errorf("webform: record a request for the rate limit: %w", err)
	}
	return true, 0, nil
}

// newLimiter returns the handler that lets at most Config.RateLimit
// requests of kind per Config.RateWindow from one client IP through, and
// answers the others with reached. It counts in Shared.Rates when the Form
// has them, and on this replica alone when it has not or they cannot be
// written (the broker away: a customer is not refused because the count
// cannot be shared).
func (f *Form) newLimiter(kind string, reached fiber.Handler) fiber.Handler {
	local := limiter.New(limiter.Config{
		Max:          f.cfg.RateLimit,
		Expiration:   f.cfg.RateWindow,
		LimitReached: reached,
	})
	if f.shared.Rates == nil {
		return local
	}
	limit := RateLimit{Rates: f.shared.Rates, Max: f.cfg.RateLimit, Window: f.cfg.RateWindow}
	return func(c *fiber.Ctx) error {
		ctx, cancel := context.WithTimeout(c.UserContext(), rateWait)
		defer cancel()
		ok, retry, err := limit.Allow(ctx, "rate:"+kind+":"+c.IP(), time.Now())
		switch {
		case err != nil:
			f.log.Warn("rate limit counted on this replica only", zap.String("kind", kind), zap.Error(err))
			return local(c)
		case !ok:
			c.Locals(localRetryAfter, retry)
			return reached(c)
		}
		return c.Next()
	}
}

// localRetryAfter holds, on a request over the shared limit, how long
// until it would fit.
const localRetryAfter = "webform.retry_after"

// retryAfter is the Retry-After of a request over the limit, in whole
// seconds: when its oldest counted request leaves the window, or the
// whole window when that is not known.
func (f *Form) retryAfter(c *fiber.Ctx) string {
	d, _ := c.Locals(localRetryAfter).(time.Duration)
	if d <= 0 {
		d = f.cfg.RateWindow
	}
	return fmt.Sprint(int((d + time.Second - 1) / time.Second))
}
