package bleveindex

import "sync"

// caseLocks lets upserts of different cases run at once while upserts of
// the same case take turns: an Upsert holds the ids of its cases from the
// revision read to the end of its write. The zero value is ready to use.
// It also waits, on close, for every holder to finish.
type caseLocks struct {
	mu      sync.Mutex
	changed *sync.Cond // signalled whenever held shrinks
	held    map[string]struct{}
	closing bool
}

// lock waits until no other holder has any of ids and takes them all. It
// reports false, holding nothing, once close was called. ids must not
// repeat an id.
func (l *caseLocks) lock(ids []string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.init()
	for !l.closing && l.anyHeld(ids) {
		l.changed.Wait()
	}
	if l.closing {
		return false
	}
	for _, id := range ids {
		l.held[id] = struct{}{}
	}
	return true
}

// unlock releases ids taken by lock.
func (l *caseLocks) unlock(ids []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, id := range ids {
		delete(l.held, id)
	}
	l.changed.Broadcast()
}

// close makes later (and waiting) calls of lock fail and waits until
// nothing is held. It reports false when it was called before.
func (l *caseLocks) close() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.init()
	if l.closing {
		return false
	}
	l.closing = true
	l.changed.Broadcast()
	for len(l.held) > 0 {
		l.changed.Wait()
	}
	return true
}

func (l *caseLocks) init() {
	if l.changed == nil {
		l.changed = sync.NewCond(&l.mu)
		l.held = map[string]struct{}{}
	}
}

func (l *caseLocks) anyHeld(ids []string) bool {
	for _, id := range ids {
		if _, ok := l.held[id]; ok {
			return true
		}
	}
	return false
}
