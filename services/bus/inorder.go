package bus

import (
	"context"
	"errors"
	"sync"
)

// errOneByOne marks a flight whose messages go to the Handler one by one
// (no BatchHandler, or a batch of one).
var errOneByOne = errors.New("bus: handled one by one")

// flight is one batch handed to the BatchHandler: err is set before done
// is closed.
type flight[T any] struct {
	batch []T
	done  chan struct{}
	err   error
}

// inOrder runs up to a bounded number of batches at once and finishes
// them (commits, or handles their messages again one by one) strictly in
// the order they were started, each only after every earlier one was
// finished. Start is called from one goroutine; finishing runs on a
// goroutine of its own until Close.
type inOrder[T any] struct {
	slots  chan struct{}
	queue  chan *flight[T]
	handle func(ctx context.Context, batch []T) error
	finish func(ctx context.Context, batch []T, err error) error

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	failed error // the first error finish returned; read after Close
}

// newInOrder starts the finishing goroutine. handle runs each batch of two
// or more on a goroutine of its own (a nil handle runs none: every batch
// then finishes with errOneByOne); finish gets the batches in order with
// handle's error, also after ctx ended, so that batches done by then are
// still committed. Once finish returns an error, ctx is cancelled and no
// later batch is finished (they are waited for and dropped, so nothing
// after an unfinished message is committed).
func newInOrder[T any](ctx context.Context, limit int, handle func(context.Context, []T) error,
	finish func(context.Context, []T, error) error) *inOrder[T] {
	ctx, cancel := context.WithCancel(ctx)
	p := &inOrder[T]{
		slots:  make(chan struct{}, max(limit, 1)),
		queue:  make(chan *flight[T], max(limit, 1)),
		handle: handle,
		finish: finish,
		ctx:    ctx,
		cancel: cancel,
	}
	p.wg.Add(1)
	go p.run()
	return p
}

// Start waits for a free slot and hands batch to handle. It reports false
// when ctx ended (or finishing failed) first; the batch is then dropped.
// Start must not be called after Close.
func (p *inOrder[T]) Start(batch []T) bool {
	select {
	case p.slots <- struct{}{}:
	case <-p.ctx.Done():
		return false
	}
	if p.ctx.Err() != nil { // both were ready
		<-p.slots
		return false
	}
	f := &flight[T]{batch: batch, done: make(chan struct{})}
	if p.handle == nil || len(batch) < 2 {
		f.err = errOneByOne
		close(f.done)
	} else {
		go func() {
			defer close(f.done)
			f.err = p.handle(p.ctx, batch)
		}()
	}
	p.queue <- f // never blocks: a slot is held
	return true
}

// Full reports whether every slot is taken, so that Start would wait.
// Only Start takes slots; a slot may free at any moment.
func (p *inOrder[T]) Full() bool { return len(p.slots) == cap(p.slots) }

// Done is closed when ctx ended or finishing failed.
func (p *inOrder[T]) Done() <-chan struct{} { return p.ctx.Done() }

// Close waits for every started batch and returns the first error of
// finish, if any.
func (p *inOrder[T]) Close() error {
	close(p.queue)
	p.wg.Wait()
	p.cancel()
	return p.failed
}

func (p *inOrder[T]) run() {
	defer p.wg.Done()
	for f := range p.queue {
		<-f.done
		if p.failed == nil {
			if err := p.finish(p.ctx, f.batch, f.err); err != nil {
				p.failed = err
				p.cancel()
			}
		}
		<-p.slots
	}
}
