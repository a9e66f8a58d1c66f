package routing

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tousu/tousu/normalize"
	"github.com/tousu/tousu/router"
)

// prepared is the policy of one router call: the cases its policy opened
// ahead, concurrently, for complaints that will open one, and the policy
// itself for the rest. Open is a pure function of the complaint and the
// instant (router.Policy, router.Engine), so a case opened ahead is the
// case the call would open in its turn. Used by the call's goroutine only.
type prepared struct {
	policy router.Policy
	now    time.Time
	// ahead are the cases opened ahead, by the complaint decoded in the
	// call; current is the complaint being decided (see deciding).
	ahead   map[*normalize.Complaint]router.Case
	current *normalize.Complaint
}

// deciding notes that c, a complaint decoded in the call, is decided
// next.
func (p *prepared) deciding(c *normalize.Complaint) { p.current = c }

// Open implements router.Policy: the case opened ahead for the complaint
// being decided, when c is that complaint (router.RouteComplaint opens
// the case of the complaint it decides) and now the call's instant;
// otherwise a case the policy opens. A case opened ahead is handed out
// once.
func (p *prepared) Open(c normalize.Complaint, now time.Time) router.Case {
	if cs, ok := p.ahead[p.current]; ok && c.ID == p.current.ID && now.Equal(p.now) {
		delete(p.ahead, p.current)
		return cs
	}
	return p.policy.Open(c, now)
}

// prepare opens, on every core, the cases of the call's complaints that
// will open a case as far as the state before the call tells: not a reply,
// and of an anonymous customer, with detection disabled, or of a customer
// without cases (the first of theirs in the call). A complaint that turns
// out otherwise just leaves its case unused. It loads those customers'
// histories into w, as deciding them would.
func (w *routerWork) prepare(complaints []*normalize.Complaint, now time.Time) (*prepared, error) {
	p := &prepared{policy: w.stage.policy, now: now, ahead: map[*normalize.Complaint]router.Case{}}
	var todo []*normalize.Complaint
	seen := map[string]bool{}
	for _, c := range complaints {
		key := c.Customer.Key
		if c.Thread != nil || seen[key] {
			continue
		}
		if !w.stage.cfg.Disabled && !normalize.Anonymous(key) {
			seen[key] = true
			h, err := w.history(key)
			if err != nil {
				return nil, err
			}
			if len(h.Cases) > 0 {
				continue
			}
		}
		todo = append(todo, c)
	}
	opened := make([]router.Case, len(todo))
	concurrently(len(todo), func(i int) { opened[i] = p.policy.Open(*todo[i], now) })
	for i, c := range todo {
		p.ahead[c] = opened[i]
	}
	return p, nil
}

// concurrently calls fn(i) for i from 0 to n-1 on every core and returns
// when every call has; fn must be safe for concurrent use with itself on
// distinct i. With one item, or one core, it calls fn in this goroutine.
func concurrently(n int, fn func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers < 2 {
		for i := range n {
			fn(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				fn(i)
			}
		})
	}
	wg.Wait()
}
