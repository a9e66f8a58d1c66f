package csvdrop

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/transform"

	"github.com/tousu/tousu/ingest"
)

// writeLargeExport writes a GBK export of n rows to path, streaming. Every
// tenth row has no work-order number (content ids); the last row repeats
// the first work-order number (one duplicate).
func writeLargeExport(tb testing.TB, path string, n int) {
	tb.Helper()
	fh, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	bw := bufio.NewWriterSize(fh, 1<<20)
	w := transform.NewWriter(bw, simplifiedchinese.GBK.NewEncoder())
	fmt.Fprint(w, csvText(",", stdHeader))
	for i := 1; i <= n; i++ {
		r := stdRow(i)
		if i%10 == 0 {
			r[0] = ""
		}
		if i == n {
			r[0] = stdRow(1)[0]
		}
		fmt.Fprint(w, csvText(",", r))
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	if err := bw.Flush(); err != nil {
		tb.Fatal(err)
	}
	if err := fh.Close(); err != nil {
		tb.Fatal(err)
	}
}

// counter is a fast fake Publish that counts acknowledgements and the
// largest number of concurrent calls.
type counter struct {
	n, inFlight, maxInFlight atomic.Int64
	delay                    time.Duration
}

func (c *counter) publish(ctx context.Context, _ ingest.Envelope) error {
	cur := c.inFlight.Add(1)
	for {
		m := c.maxInFlight.Load()
		if cur <= m || c.maxInFlight.CompareAndSwap(m, cur) {
			break
		}
	}
	if c.delay > 0 {
		time.Sleep(c.delay)
	}
	c.inFlight.Add(-1)
	c.n.Add(1)
	return ctx.Err()
}

// peakHeap samples the heap until stop is called and returns the peak.
func peakHeap() (stop func() uint64) {
	var peak uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		wg.Wait()
		return peak
	}
}

// TestLargeFileStreams takes a 200,000-row GBK export (about 20 MB; 20,000
// rows under the race detector, which is ten times slower). The heap must
// stay far below what holding the file or its rows would need.
func TestLargeFileStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("200,000-row file skipped in -short mode")
	}
	n := 200000
	if raceEnabled {
		n = 20000
	}
	pub := &counter{}
	f, _ := testFolder(t, FolderConfig{Completeness: Completeness{Mode: CompleteRename}, MaxInFlight: 32}, pub.publish)
	p := filepath.Join(f.cfg.Path, "large.csv")
	writeLargeExport(t, p, n)
	fi, _ := os.Stat(p)

	runtime.GC()
	stop := peakHeap()
	start := time.Now()
	f.scan(context.Background())
	took := time.Since(start)
	peak := stop()

	sum := readSummary(t, filepath.Join(f.cfg.Path, "processed", "large.csv.summary.json"))
	if sum.RowsRead != n || sum.Published != n-1 || sum.Duplicates != 1 || sum.Rejected != 0 || pub.n.Load() != int64(n-1) {
		t.Errorf("summary %+v; %d published", sum, pub.n.Load())
	}
	if m := pub.maxInFlight.Load(); m > 32 {
		t.Errorf("%d publishes in flight, the bound is 32", m)
	}
	// Rows held at once are bounded by MaxInFlight and the ledger batch;
	// the limit leaves room for the garbage collector's slack but not for
	// the file (or its 200,000 envelopes, several hundred MB).
	const limit = 32 << 20
	t.Logf("file %d MB, peak heap %d MB, took %v", fi.Size()>>20, peak>>20, took)
	if peak > limit {
		t.Errorf("peak heap %d MB for a %d MB file: the file is not streamed", peak>>20, fi.Size()>>20)
	}
}
