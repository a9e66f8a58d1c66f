package router

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tousu/tousu/normalize"
)

// packCorpus is a shipped pack's engine with complaints to decide: every
// golden case, and every example and held-out text of the pack.
type packCorpus struct {
	name   string
	engine *Engine
	cases  []normalize.Complaint
}

// shippedCorpora loads every pack in configs/policies with its golden
// cases and its examples as hotline orders received at a fixed instant.
func shippedCorpora(tb testing.TB) []packCorpus {
	tb.Helper()
	files, err := filepath.Glob("../configs/policies/*.golden.yaml")
	if err != nil || len(files) == 0 {
		tb.Fatalf("golden files: %v (%d)", err, len(files))
	}
	at := time.Date(2026, 3, 16, 10, 0, 0, 0, time.FixedZone("CST", 8*3600))
	var out []packCorpus
	for _, f := range files {
		g, packPath, err := LoadGolden(f)
		if err != nil {
			tb.Fatal(err)
		}
		e, err := LoadEngine(packPath)
		if err != nil {
			tb.Fatal(err)
		}
		pc := packCorpus{name: strings.TrimSuffix(filepath.Base(packPath), ".yaml"), engine: e}
		for _, c := range g.Cases {
			pc.cases = append(pc.cases, c.input().complaint())
		}
		for _, set := range e.Pack().Categories.Examples {
			for _, text := range set.Texts {
				pc.cases = append(pc.cases, hotlineOrder(text, at))
			}
		}
		out = append(out, pc)
	}
	return out
}

// BenchmarkDecidePacks decides every golden case and example of all
// seven shipped packs, each by its own pack: the router's policy work.
func BenchmarkDecidePacks(b *testing.B) {
	corpora := shippedCorpora(b)
	at := time.Date(2026, 3, 16, 10, 0, 0, 0, time.FixedZone("CST", 8*3600))
	n := 0
	for _, pc := range corpora {
		n += len(pc.cases)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for _, pc := range corpora {
			for _, c := range pc.cases {
				pc.engine.Decide(c, at)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n*b.N), "ns/complaint")
}
