package bus_test

import (
	"context"
	"errors"
	"testing"

	"github.com/tousu/tousu/services/bus"
)

func TestCatchUp(t *testing.T) {
	c := bus.NewCatchUp("accounts: still reading the accounts")
	if err := c.Ready(context.Background()); err == nil || err.Error() != "accounts: still reading the accounts" {
		t.Errorf("Ready before Done: %v, want the not-ready error", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait before Done with an ended context: %v, want context.Canceled", err)
	}
	c.Done()
	c.Done() // again: nothing
	if err := c.Ready(context.Background()); err != nil {
		t.Errorf("Ready after Done: %v", err)
	}
	if err := c.Wait(ctx); err != nil {
		t.Errorf("Wait after Done: %v, want nil even with an ended context", err)
	}
}
