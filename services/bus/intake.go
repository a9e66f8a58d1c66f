package bus

import (
	"context"
	"sync"
	"time"
)

// IntakeBusyWrites is how many intake writes in flight at once make the
// intake busy (see Intake.Busy): a load of many concurrent submissions, not
// a trickle, whose writes rarely overlap.
const IntakeBusyWrites = 8

// Intake counts the writes of a process's intake (the gateway's
// submissions) that wait for the broker's acknowledgement, so that the
// stages in the same process can give way to them (ConsumerConfig.Intake):
// a submission's answer waits for its write, a stage's work can wait. Its
// methods are safe for concurrent use; only Wait blocks. The zero value is
// ready; a nil *Intake is never busy.
type Intake struct {
	mu       sync.Mutex
	inFlight int
	waiting  int           // callers of Wait held while busy
	idle     chan struct{} // closed when the intake stops being busy
}

// Begin marks one intake write in flight; the function it returns marks
// it done and must be called once. On a nil *Intake it counts nothing.
func (i *Intake) Begin() (end func()) {
	if i == nil {
		return func() {}
	}
	i.mu.Lock()
	i.inFlight++
	if i.inFlight == IntakeBusyWrites {
		i.idle = make(chan struct{})
	}
	i.mu.Unlock()
	return func() {
		i.mu.Lock()
		if i.inFlight == IntakeBusyWrites {
			close(i.idle)
			i.idle = nil
		}
		i.inFlight--
		i.mu.Unlock()
	}
}

// Busy reports whether at least IntakeBusyWrites intake writes are in
// flight.
func (i *Intake) Busy() bool {
	if i == nil {
		return false
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.inFlight >= IntakeBusyWrites
}

// Wait blocks while the intake is busy, until deadline or until ctx ends.
// It reports whether the intake is no longer busy.
func (i *Intake) Wait(ctx context.Context, deadline time.Time) bool {
	if i == nil {
		return true
	}
	i.mu.Lock()
	idle := i.idle
	if idle != nil {
		i.waiting++
	}
	i.mu.Unlock()
	if idle == nil {
		return true
	}
	defer func() {
		i.mu.Lock()
		i.waiting--
		i.mu.Unlock()
	}()
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-idle:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}

// Waiting returns how many callers of Wait are held by the busy intake
// now: the stages' batches giving way.
func (i *Intake) Waiting() int {
	if i == nil {
		return 0
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.waiting
}
