// Package backoff computes the pauses between retries: a capped
// exponential backoff, an optional random spread (jitter) and a sleep that
// ends early when its context does. Every retry loop of tousu uses it, so
// that they all back off alike.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Capped returns the pause before retry attempt+1: lo doubled per attempt
// after the first, capped at hi. Attempt counts from 1.
func Capped(lo, hi time.Duration, attempt int) time.Duration {
	d := lo
	for i := 1; i < attempt && d < hi; i++ {
		d *= 2
	}
	return min(d, hi)
}

// Between returns a random duration from lo to hi inclusive, to spread the
// retries of many clients that failed together. It returns lo when hi is
// not above it.
func Between(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + rand.N(hi-lo+1)
}

// Sleep waits d or until ctx ends, and reports whether it waited the full
// d.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
