package bustest

import (
	"context"
	"slices"
	"sync"

	"github.com/tousu/tousu/services/bus"
)

// Recorder is a write (as bus.Producer.Write) that keeps what it is given
// instead of sending it, and fails while Fail is set. It is safe for
// concurrent use.
type Recorder struct {
	mu   sync.Mutex
	msgs []bus.Message
	fail error
}

// Write records msgs, or returns the error Fail set.
func (r *Recorder) Write(_ context.Context, msgs ...bus.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	r.msgs = append(r.msgs, msgs...)
	return nil
}

// Fail makes every Write return err until Fail(nil).
func (r *Recorder) Fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fail = err
}

// Messages returns what was written so far.
func (r *Recorder) Messages() []bus.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.msgs)
}
