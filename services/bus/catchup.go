package bus

import (
	"context"
	"errors"
	"sync"
)

// CatchUp tells whether state kept from a topic by a Follower has caught
// up with it: Done is the follower's FollowerConfig.CaughtUp; until it is
// called, Wait blocks and Ready reports an error, for a readiness check.
// A CatchUp is safe for concurrent use.
type CatchUp struct {
	notReady error
	done     chan struct{}
	once     sync.Once
}

// NewCatchUp returns a CatchUp whose Ready reports notReady until Done.
func NewCatchUp(notReady string) *CatchUp {
	return &CatchUp{notReady: errors.New(notReady), done: make(chan struct{})}
}

// Done records that the follower has read everything the topic held when
// it started. Calling it again does nothing.
func (c *CatchUp) Done() { c.once.Do(func() { close(c.done) }) }

// Ready reports nil once Done was called, and the notReady error before.
func (c *CatchUp) Ready(context.Context) error {
	select {
	case <-c.done:
		return nil
	default:
		return c.notReady
	}
}

// Wait returns nil once Done was called, or ctx's error if it ends first.
func (c *CatchUp) Wait(ctx context.Context) error {
	if c.Ready(ctx) == nil {
		return nil
	}
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
