package sender

import (
	"context"
	"sync"
	"time"

	"github.com/tousu/tousu/internal/backoff"
)

// wait is how long a provider limited by r must wait at now before one
// more message may go, given the times of the messages sent in the last
// minute (oldest first). Zero means at once.
func (r Rate) wait(now time.Time, sent []time.Time) time.Duration {
	var d time.Duration
	for _, w := range []struct {
		limit  int
		window time.Duration
	}{{r.PerSecond, time.Second}, {r.PerMinute, time.Minute}} {
		if w.limit <= 0 || len(sent) < w.limit {
			continue
		}
		// The limit-th latest send must have left the window.
		if free := sent[len(sent)-w.limit].Add(w.window).Sub(now); free > d {
			d = free
		}
	}
	return d
}

// limiter paces the messages of one provider by its Rate. It is safe for
// concurrent use.
type limiter struct {
	rate Rate
	mu   sync.Mutex
	sent []time.Time // the last minute's sends, oldest first
}

// Wait blocks until one more message may go (and counts it), or ctx
// ends (ctx.Err()).
func (l *limiter) Wait(ctx context.Context) error {
	for {
		l.mu.Lock()
		now := time.Now()
		i := 0
		for i < len(l.sent) && now.Sub(l.sent[i]) >= time.Minute {
			i++
		}
		l.sent = l.sent[i:]
		d := l.rate.wait(now, l.sent)
		if d <= 0 {
			l.sent = append(l.sent, now)
			l.mu.Unlock()
			return nil
		}
		l.mu.Unlock()
		if !backoff.Sleep(ctx, d) {
			return ctx.Err()
		}
	}
}
