package bustest

import (
	"context"

	"github.com/tousu/tousu/services/bus"
)

// Loopback returns a write (as bus.Producer.Write) that hands each message
// at once to *follow, as a follower of the topic would read it back: for
// testing a store that follows its own topic without a broker. *follow is
// read at each write, so it may be set after the store is made.
func Loopback(follow *bus.Handler) func(ctx context.Context, msgs ...bus.Message) error {
	return func(ctx context.Context, msgs ...bus.Message) error {
		for _, m := range msgs {
			if err := (*follow)(ctx, m); err != nil {
				return err
			}
		}
		return nil
	}
}
