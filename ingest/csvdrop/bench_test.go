package csvdrop

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/tousu/tousu/ingest/ingesttest"
)

// BenchmarkTakeFile measures taking a 50,000-row GBK export end to end
// (hash pass, decoding, parsing, ledger, publishing, moving), with a
// Publish that acknowledges at once and one that takes 1 ms like a
// broker round trip. It reports rows/s and the peak heap.
func BenchmarkTakeFile(b *testing.B) {
	const rows = 50000
	src := filepath.Join(b.TempDir(), "export.csv")
	writeLargeExport(b, src, rows)
	data, err := os.ReadFile(src)
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name     string
		delay    time.Duration
		inFlight int
	}{
		{"instant", 0, DefaultMaxInFlight},
		{"latency-1ms", time.Millisecond, DefaultMaxInFlight},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var peak uint64
			var elapsed time.Duration
			for b.Loop() {
				b.StopTimer()
				pub := &counter{delay: bc.delay}
				f, _ := testFolder(b, FolderConfig{Completeness: Completeness{Mode: CompleteRename}, MaxInFlight: bc.inFlight}, pub.publish)
				writeFile(b, filepath.Join(f.cfg.Path, "export.csv"), data)
				runtime.GC()
				stop := peakHeap()
				start := time.Now()
				b.StartTimer()
				f.scan(context.Background())
				b.StopTimer()
				elapsed += time.Since(start)
				peak = max(peak, stop())
				if pub.n.Load() != rows-1 {
					b.Fatalf("published %d", pub.n.Load())
				}
				f.close()
				b.StartTimer()
			}
			b.ReportMetric(float64(rows*b.N)/elapsed.Seconds(), "rows/s")
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
			b.ReportMetric(float64(len(data))/(1<<20), "file-MB")
		})
	}
}

// BenchmarkReadRows measures decoding and parsing alone (no ledger, no
// publishing) of a GBK export held in memory.
func BenchmarkReadRows(b *testing.B) {
	const rows = 50000
	src := filepath.Join(b.TempDir(), "export.csv")
	writeLargeExport(b, src, rows)
	data, err := os.ReadFile(src)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		rd, err := NewReader(bytes.NewReader(data), ReaderOptions{})
		if err != nil {
			b.Fatal(err)
		}
		p := &RowParser{Header: rd.Header(), Source: "bench", References: ingesttest.References(), FileName: "export.csv", FileHash: "00", ModTime: time.Now()}
		n := 0
		for {
			rec, err := rd.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			if res := p.Parse(rec.Row, rec.Cells); len(res.Problems) == 0 {
				n++
			}
		}
		if n != rows {
			b.Fatalf("parsed %d rows", n)
		}
	}
	b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
}
