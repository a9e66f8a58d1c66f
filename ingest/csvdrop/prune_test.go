package csvdrop

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// pruneAll runs a prune pass of st to its end in steps of batch and
// returns it with the number of steps taken.
func pruneAll(tb testing.TB, st *state, cutoff time.Time, batch int) (*prunePass, int) {
	tb.Helper()
	p := newPrunePass(cutoff, batch)
	steps := 0
	for !p.done() {
		if steps++; steps > 1_000_000 {
			tb.Fatal("prune pass does not end")
		}
		n, err := st.pruneStep(p)
		if err != nil {
			tb.Fatalf("pruneStep: %v", err)
		}
		if n > p.batch {
			tb.Fatalf("one step deleted %d ids, more than the batch of %d", n, p.batch)
		}
	}
	return p, steps
}

func TestLedgerPrune(t *testing.T) {
	const window = 400 * 24 * time.Hour
	now := time.Unix(1_750_000_000, 0)
	cutoff := now.Add(-window)
	tests := []struct {
		name             string
		batch            int
		expired, kept    int
		wantMoreThanStep bool // the pass needs several steps per bucket
	}{
		{"empty ledger", pruneBatch, 0, 0, false},
		{"nothing expired", pruneBatch, 0, 50, false},
		{"everything expired", pruneBatch, 50, 0, false},
		{"mixed in one chunk", pruneBatch, 300, 300, false},
		{"mixed in many chunks", 3, 300, 300, true},
		{"one entry per chunk", 1, 40, 40, true},
		{"expired beyond one batch", 7, 100, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := openState(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			defer st.close()

			// Runs: one begun long ago whose rows all expired, one begun
			// just before the cutoff whose rows are kept, a recent one,
			// and an old one still being taken (work record, no rows yet).
			runOld, runSpan, runNew, runWork := newRunID(), newRunID(), newRunID(), newRunID()
			for _, r := range []struct {
				run runID
				at  time.Time
			}{{runOld, cutoff.Add(-300 * 24 * time.Hour)}, {runSpan, cutoff.Add(-time.Hour)}, {runNew, now.Add(-time.Hour)}, {runWork, cutoff.Add(-100 * 24 * time.Hour)}} {
				if err := st.beginRun(r.run, "f-"+r.run.String()+".csv", r.at); err != nil {
					t.Fatal(err)
				}
			}
			if err := st.saveWork(&workRecord{Name: "slow.csv", Run: runWork.String()}); err != nil {
				t.Fatal(err)
			}

			// Expired and kept rows interleave in key order. Expired rows
			// are a second or a year older than the cutoff; kept rows are
			// exactly at the cutoff or an hour old.
			n := tt.expired + tt.kept
			keys := make([][]byte, n)
			expired := make([]bool, n)
			batches := map[runID]map[time.Time][]acked{}
			add := func(run runID, at time.Time, a acked) {
				if batches[run] == nil {
					batches[run] = map[time.Time][]acked{}
				}
				batches[run][at] = append(batches[run][at], a)
			}
			for i := range n {
				keys[i] = ledgerKey(fmt.Sprintf("GD%06d", i), nil, 0)
				a := acked{key: keys[i], row: i + 2}
				switch j := i * 7919 % n; { // a permutation of 0..n-1
				case j < tt.expired:
					expired[i] = true
					add(runOld, cutoff.Add(-time.Second-time.Duration(j%2)*365*24*time.Hour), a)
				case j%2 == 0:
					add(runSpan, cutoff, a)
				default:
					add(runNew, now.Add(-time.Hour), a)
				}
			}
			for run, byTime := range batches {
				for at, rows := range byTime {
					if err := st.record(run, at, rows); err != nil {
						t.Fatal(err)
					}
				}
			}

			p, steps := pruneAll(t, st, cutoff, tt.batch)

			if p.ids != tt.expired {
				t.Errorf("pruned %d ids, want %d", p.ids, tt.expired)
			}
			for i, k := range keys {
				_, ok, err := st.lookup(k)
				if err != nil {
					t.Fatal(err)
				}
				if ok == expired[i] {
					t.Errorf("row %s: in the ledger = %v, want %v", k, ok, !expired[i])
				}
			}
			wantRuns := map[runID]bool{runOld: false, runSpan: tt.kept > 0, runNew: true, runWork: true}
			wantPrunedRuns := 0
			for run, want := range wantRuns {
				if !want {
					wantPrunedRuns++
				}
				var got bool
				_ = st.ledger.View(func(tx *bolt.Tx) error {
					got = tx.Bucket(runsBucket).Get(run[:]) != nil
					return nil
				})
				if got != want {
					t.Errorf("run %s kept = %v, want %v", run, got, want)
				}
			}
			if p.runs != wantPrunedRuns {
				t.Errorf("pruned %d runs, want %d", p.runs, wantPrunedRuns)
			}
			// One step per bucket when everything fits in a chunk.
			if several := steps > 2; several != tt.wantMoreThanStep {
				t.Errorf("pass took %d steps; several = %v, want %v", steps, several, tt.wantMoreThanStep)
			}

			// A kept row still reads as the duplicate it is, with its file.
			for i, k := range keys {
				if expired[i] {
					continue
				}
				e, _, _ := st.lookup(k)
				if e.File == "" {
					t.Errorf("row %s lost the name of its file", k)
				}
				break
			}

			// A second pass finds nothing more.
			if p2, _ := pruneAll(t, st, cutoff, tt.batch); p2.ids != 0 || p2.runs != 0 {
				t.Errorf("second pass pruned %d ids and %d runs", p2.ids, p2.runs)
			}
		})
	}
}

func TestFolderRedropAfterDedupeWindow(t *testing.T) {
	tests := []struct {
		name          string
		window        time.Duration // 0: the default
		advance       time.Duration
		wantPublished int
		wantDups      int
		wantPruned    int
	}{
		{"within the default window: duplicates", 0, DefaultDedupeWindow - 24*time.Hour, 0, 5, 0},
		{"after the default window: published again", 0, DefaultDedupeWindow + 24*time.Hour, 5, 0, 5},
		{"short window, kept", 72 * time.Hour, 48 * time.Hour, 0, 5, 0},
		{"short window, pruned", 72 * time.Hour, 73 * time.Hour, 5, 0, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			core, logs := observer.New(zap.InfoLevel)
			rec := newRecorder()
			f, clk := testFolder(t, FolderConfig{Completeness: Completeness{Mode: CompleteRename}, DedupeWindow: tt.window}, rec.publish)
			f.log = zap.New(core)
			noID := stdRow(99)
			noID[0] = "" // identified by the file's content and row number
			data := []byte(csvText(",", stdHeader, stdRow(1), stdRow(2), stdRow(3), stdRow(4), noID))
			ctx := context.Background()

			writeFile(t, filepath.Join(f.cfg.Path, "a.csv"), data)
			scanUntilPruned(t, f)
			if s := readSummary(t, filepath.Join(f.cfg.Path, "processed", "a.csv.summary.json")); s.Published != 5 {
				t.Fatalf("first drop: %+v", s)
			}

			// Time passes; the scan loop runs the daily pass when due.
			clk.Advance(tt.advance)
			scanUntilPruned(t, f)
			writeFile(t, filepath.Join(f.cfg.Path, "a-again.csv"), data)
			f.scan(ctx)

			s := readSummary(t, filepath.Join(f.cfg.Path, "processed", "a-again.csv.summary.json"))
			if s.Published != tt.wantPublished || s.Duplicates != tt.wantDups {
				t.Errorf("dropped again: published %d, duplicates %d; want %d, %d", s.Published, s.Duplicates, tt.wantPublished, tt.wantDups)
			}
			want := 1
			if tt.wantPublished > 0 {
				want = 2
			}
			for id, n := range rec.calls {
				if n != want {
					t.Errorf("%s published %d times, want %d", id, n, want)
				}
			}
			if got := prunedMetric(t, f); got != float64(tt.wantPruned) {
				t.Errorf("pruned metric = %v, want %d", got, tt.wantPruned)
			}
			logged := logs.FilterMessage("ledger pruned").All()
			switch {
			case tt.wantPruned == 0 && len(logged) > 0:
				t.Errorf("logged %v with nothing pruned", logged[0].ContextMap())
			case tt.wantPruned > 0 && (len(logged) != 1 || logged[0].ContextMap()["ids"] != int64(tt.wantPruned)):
				t.Errorf("logs: %v", logs.All())
			}
		})
	}
}

// prunedMetric reads the folder's tousu_csvdrop_ledger_pruned_total.
func prunedMetric(tb testing.TB, f *folder) float64 {
	tb.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(f.m.pruned)
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "folder" && l.GetValue() == f.cfg.Name {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	tb.Fatal("no tousu_csvdrop_ledger_pruned_total for the folder")
	return 0
}

// scanUntilPruned scans f until no prune pass is under way, checking
// that the loop comes back at once while one is.
func scanUntilPruned(tb testing.TB, f *folder) {
	tb.Helper()
	for i := 0; ; i++ {
		next := f.scan(context.Background())
		if f.prune == nil {
			return
		}
		if next > 10*time.Millisecond {
			tb.Fatalf("scan returned %v with a prune pass under way", next)
		}
		if i > 1000 {
			tb.Fatal("prune pass does not end")
		}
	}
}

// BenchmarkPrunePass measures a daily pass over a ledger of 200,000 ids
// of which none expired (the steady state: a pass reads everything and
// deletes a day's worth), in the default batches. It reports the cost per
// id read.
func BenchmarkPrunePass(b *testing.B) {
	const ids = 200_000
	st, err := openState(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer st.close()
	now := time.Now()
	run := newRunID()
	if err := st.beginRun(run, "export.csv", now); err != nil {
		b.Fatal(err)
	}
	rows := make([]acked, 0, 2048)
	for i := range ids {
		rows = append(rows, acked{key: ledgerKey(fmt.Sprintf("GD2025%012d", i), nil, 0), row: i + 2})
		if len(rows) == cap(rows) || i == ids-1 {
			if err := st.record(run, now, rows); err != nil {
				b.Fatal(err)
			}
			rows = rows[:0]
		}
	}
	start := time.Now()
	for b.Loop() {
		if p, _ := pruneAll(b, st, now.Add(-time.Hour), pruneBatch); p.ids != 0 {
			b.Fatalf("pruned %d", p.ids)
		}
	}
	b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(b.N*ids), "ns/id")
}
