package bleveindex

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"go.uber.org/zap/zaptest"

	"github.com/tousu/tousu/internal/polltest"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/sinks/caseindex/caseindextest"
)

// writeGate holds the first Upsert that writes heldID inside its write
// until release is closed, and records the ids of every Upsert that got
// as far as its revision read.
type writeGate struct {
	heldID  string
	held    chan struct{} // closed once the first Upsert of heldID is held
	release chan struct{}

	mu      sync.Mutex
	writes  [][]string
	holding bool
}

func newWriteGate(heldID string) *writeGate {
	return &writeGate{heldID: heldID, held: make(chan struct{}), release: make(chan struct{})}
}

// hook is Index.testHookWrite.
func (g *writeGate) hook(ids []string) {
	g.mu.Lock()
	g.writes = append(g.writes, slices.Clone(ids))
	first := slices.Contains(ids, g.heldID) && !g.holding
	if first {
		g.holding = true
	}
	g.mu.Unlock()
	if first {
		close(g.held)
		<-g.release
	}
}

// wrote reports how many Upserts holding id got to their write.
func (g *writeGate) wrote(id string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, ids := range g.writes {
		if slices.Contains(ids, id) {
			n++
		}
	}
	return n
}

// upsertAsync runs Upsert on a goroutine; the channel gets its error.
func upsertAsync(idx *Index, cases ...router.Case) <-chan error {
	done := make(chan error, 1)
	go func() { done <- idx.Upsert(context.Background(), cases) }()
	return done
}

// TestUpsertsTakeTurnsPerCase: while an Upsert of a case is inside its
// write, Upserts of other cases are written and searchable, an Upsert of
// the same case waits for it (so its revision read sees the first write)
// and gives up with ErrClosed when Close is called, and Close waits for
// the held one; after a reopen every written case is there.
func TestUpsertsTakeTurnsPerCase(t *testing.T) {
	const held = "TS202612070001"
	path := filepath.Join(t.TempDir(), "cases.bleve")
	idx, err := Open(Config{Path: path}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	gate := newWriteGate(held)
	idx.testHookWrite = gate.hook

	revision := func(id string, rev int64, note string) router.Case {
		return caseindextest.NewCase(t, id, func(c *router.Case) {
			c.Revision = rev
			c.Description = "宽带12月5号起天天掉线，报修三次没人上门。" + note
		})
	}
	first := upsertAsync(idx, revision(held, 1, ""), revision("TS202612070002", 1, ""))
	<-gate.held

	// Each step runs while the first Upsert is held in its write.
	steps := []struct {
		name string
		// cases are upserted; done says whether that finishes while
		// the first Upsert is held.
		cases []router.Case
		done  bool
	}{
		{"other cases", []router.Case{revision("TS202612070003", 1, ""), revision("TS202612070004", 2, "已回访，用户称网速恢复")}, true},
		{"the held case's next revision", []router.Case{revision(held, 2, "师傅12/6上门换了光猫")}, false},
		{"more cases after the waiting one", []router.Case{revision("TS202612070005", 1, "")}, true},
	}
	var waiting []<-chan error
	for _, s := range steps {
		done := upsertAsync(idx, s.cases...)
		if !s.done {
			waiting = append(waiting, done)
			continue
		}
		var err error
		polltest.Until(t, s.name+" written while "+held+" is held", func() bool {
			select {
			case err = <-done:
				return true
			default:
				return false
			}
		})
		if err != nil {
			t.Fatalf("%s: Upsert: %v", s.name, err)
		}
		for _, c := range s.cases {
			if got, err := idx.Get(context.Background(), c.ID); err != nil || got.Revision != c.Revision {
				t.Errorf("%s: case %s while %s is held: revision %d (%v), want %d", s.name, c.ID, held, got.Revision, err, c.Revision)
			}
		}
	}
	if n := gate.wrote(held); n != 1 {
		t.Errorf("Upserts of %s in their write at once = %d, want 1", held, n)
	}
	// Close waits for the held Upsert; the waiting one gives up.
	closed := make(chan error, 1)
	go func() { closed <- idx.Close() }()
	for _, done := range waiting {
		var err error
		polltest.Until(t, "the waiting Upsert ends once Close is called", func() bool {
			select {
			case err = <-done:
				return true
			default:
				return false
			}
		})
		if !errors.Is(err, ErrClosed) {
			t.Errorf("waiting Upsert after Close: %v, want ErrClosed", err)
		}
	}
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while an Upsert was in its write", err)
	default:
	}
	close(gate.release)
	if err := <-first; err != nil {
		t.Errorf("held Upsert: %v", err)
	}
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := idx.Upsert(context.Background(), []router.Case{revision(held, 3, "")}); !errors.Is(err, ErrClosed) {
		t.Errorf("Upsert after Close: %v, want ErrClosed", err)
	}

	reopened := openAt(t, path)
	want := map[string]int64{held: 1, "TS202612070002": 1, "TS202612070003": 1, "TS202612070004": 2, "TS202612070005": 1}
	for id, rev := range want {
		if got, err := reopened.Get(context.Background(), id); err != nil || got.Revision != rev {
			t.Errorf("after reopen, case %s: revision %d (%v), want %d", id, got.Revision, err, rev)
		}
	}
}

// BenchmarkUpsertWriters loads 2,000 new cases in batches of 500 (the
// indexer's largest) from one writer, as the indexer did, and from two
// writers at once, as it does with two batches in flight.
func BenchmarkUpsertWriters(b *testing.B) {
	const total, size = 2000, 500
	for _, writers := range []int{1, 2} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			round := 0
			for b.Loop() {
				b.StopTimer()
				idx := openBench(b)
				cases := benchCases(b, fmt.Sprintf("w%d-", round), total)
				round++
				batches := make(chan []router.Case, total/size)
				for lo := 0; lo < total; lo += size {
					batches <- cases[lo:min(lo+size, total)]
				}
				close(batches)
				b.StartTimer()
				var wg sync.WaitGroup
				for range writers {
					wg.Go(func() {
						for batch := range batches {
							if err := idx.Upsert(context.Background(), batch); err != nil {
								b.Error(err)
							}
						}
					})
				}
				wg.Wait()
			}
			b.ReportMetric(float64(round*total)/b.Elapsed().Seconds(), "cases/s")
		})
	}
}
