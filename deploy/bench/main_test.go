package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tousu/tousu/ingest"
)

// TestSmoke runs the harness as `go run ./deploy/bench -modes embedded
// -short` does, smaller still, and checks that it completes and reports a
// number in every row. It asserts no timing.
func TestSmoke(t *testing.T) {
	// A liveness bound, not a speed assertion: under the race detector on a
	// loaded 2-core machine the phases take minutes.
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	md := runReport(ctx, t, options{modes: []string{"embedded"}, short: true, complaints: 150, latencyFor: time.Second, soak: 3 * time.Second, csvRows: 1000, seed: 20261206})
	for _, want := range []string{"## embedded", "cores (", "memory", "Load average", "Smoke run"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	// cpu is the CPU note of a measured rate (measured).
	const cpu = ` \(CPU each \d+ µs, machine \d+ µs; cores \d+ % busy\)`
	rows := map[string]*regexp.Regexp{
		"HTTP intake":                 regexp.MustCompile(`\| HTTP intake[^|]*\| \d+ /s` + cpu + ` \| \d+ /s` + cpu + ` plain kafka-go producer[^|]*\| \d+\.\d\d\d?× \|`),
		"HTTP intake, gateway alone":  regexp.MustCompile(`\| HTTP intake[^|]*gateway alone[^|]*\| \d+ /s` + cpu + ` \| \d+ /s` + cpu + ` plain kafka-go producer, as above \| \d+\.\d\d\d?× \|`),
		"gateway HTTP overhead":       regexp.MustCompile(`\| gateway HTTP overhead[^|]*\| \d+ /s` + cpu + ` \| \d+ /s` + cpu + ` no-op fiber handler \| \d+\.\d\d\d?× \|`),
		"normalizer + router":         regexp.MustCompile(`\| normalizer \+ router alone[^|]*\| \d+ /s` + cpu + ` \| \d+ /s` + cpu + ` consume → produce pass-through[^|]*\| \d+\.\d\d\d?× \|`),
		"indexer":                     regexp.MustCompile(`\| indexer alone[^|]*\| \d+ /s` + cpu + ` \| \d+ /s` + cpu + ` raw Bleve batches[^|]*\| \d+\.\d\d\d?× \|`),
		"whole pipeline":              regexp.MustCompile(`\| whole pipeline sustained[^|]*\| \d+ /s \| \d+ /s the slowest baseline above \| \d+\.\d\d\d?× \|`),
		"submit → searchable trickle": regexp.MustCompile(`\| submit → searchable at a trickle[^|]*\| \d+ ms / \d+ ms / \d+ ms / \d+ ms \(\d+ samples at 5 /s`),
		"submit → searchable half":    regexp.MustCompile(`\| submit → searchable at half the sustained rate \| \d+ ms / \d+ ms / \d+ ms / \d+ ms \(\d+ samples`),
		"peak RSS":                    regexp.MustCompile(`\| peak RSS at the sustained rate \(\d+ /s offered for 3s, \d+ of [1-9]\d* submissions refused[^|]*\| [1-9]\d* MiB \(start [1-9]\d* MiB, end [1-9]\d* MiB\) \|`),
		"memory slope":                regexp.MustCompile(`\| memory slope over the 3s run[^|]*\| [-+]\d+\.\d\d MiB/min \([-+]\d+\.\d\d, [-+]\d+\.\d\d\) / [-+]\d+\.\d\d MiB/min / [-+]\d+\.\d per min \|`),
		"error counters":              regexp.MustCompile(`\| error counters that grew[^|]*\| (none|.*\+\d+) \|`),
		"CSV rows/s":                  regexp.MustCompile(`\| CSV rows/s for a 1000-row GBK hotline export[^|]*\| \d+ /s \| \d+ /s raw GB18030 decode[^|]*\| \d+\.\d\d\d?× \|`),
	}
	for name, re := range rows {
		if !re.MatchString(md) {
			t.Errorf("row %q missing or without numbers:\n%s", name, md)
		}
	}
}

// TestRouterOnly: with -router-only a run measures the plain producer,
// normalizer + router and the pass-through, and stops before the indexer.
func TestRouterOnly(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute) // liveness, as in TestSmoke
	defer cancel()
	md := runReport(ctx, t, options{modes: []string{"embedded"}, short: true, complaints: 120, routerOnly: true, seed: 20261207})
	measured := regexp.MustCompile(`\| normalizer \+ router alone[^|]*\| \d+ /s \(CPU each [^|]*\| \d+ /s \(CPU each [^|]*consume → produce pass-through[^|]*\| \d+\.\d\d\d?× \|`)
	if !measured.MatchString(md) {
		t.Errorf("normalizer + router row missing or without numbers:\n%s", md)
	}
	for _, row := range []string{`\| indexer alone[^|]*\| \d+ /s`, `\| whole pipeline sustained[^|]*\| \d+ /s`} {
		if regexp.MustCompile(row).MatchString(md) {
			t.Errorf("a -router-only run measured %s:\n%s", row, md)
		}
	}
}

// testWriter logs the harness's progress through t.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// TestCorpus checks what the generated complaints look like: lengths,
// valid and distinct phone numbers, and the shares of duplicates, repeats
// and batches.
func TestCorpus(t *testing.T) {
	tests := []struct {
		seed uint64
		n    int
	}{
		{1, 2000},
		{20261206, 5000},
	}
	for _, tc := range tests {
		corpus := newGenerator(tc.seed, "t").corpus(tc.n)
		if len(corpus) != tc.n {
			t.Fatalf("seed %d: %d complaints, want %d", tc.seed, len(corpus), tc.n)
		}
		kinds := map[string]int{}
		owner := map[string]string{} // E.164 → first name seen
		texts := map[string]bool{}
		for i, c := range corpus {
			kinds[c.kind]++
			if n := utf8.RuneCountInString(c.Description); n < 50 || n > 620 {
				t.Errorf("seed %d complaint %d: %d characters, want 50–600 (a repeat adds its prefix): %s", tc.seed, i, n, c.Description)
			}
			phone, err := ingest.PhoneE164(c.Phone)
			if err != nil {
				t.Fatalf("seed %d complaint %d: phone %q: %v", tc.seed, i, c.Phone, err)
			}
			switch c.kind {
			case kindNew, kindBatch:
				if _, seen := owner[phone]; seen {
					t.Errorf("seed %d complaint %d: a new customer with the number %s of an earlier one", tc.seed, i, phone)
				}
				owner[phone] = c.Name
			case kindDuplicate, kindRepeat:
				if owner[phone] != c.Name {
					t.Errorf("seed %d complaint %d (%s): customer %s %q unknown", tc.seed, i, c.kind, phone, c.Name)
				}
			}
			if c.kind == kindDuplicate && !texts[c.Description] {
				t.Errorf("seed %d complaint %d: a duplicate of no earlier text", tc.seed, i)
			}
			texts[c.Description] = true
		}
		for kind, share := range map[string]int{kindDuplicate: shareDuplicate, kindRepeat: shareRepeat} {
			if got := kinds[kind] * 100 / tc.n; got < share/2 || got > share*2 {
				t.Errorf("seed %d: %d%% %s, want about %d%%", tc.seed, got, kind, share)
			}
		}
		if kinds[kindBatch] == 0 || kinds[kindNew] < tc.n/2 {
			t.Errorf("seed %d: kinds %v", tc.seed, kinds)
		}
	}
}

func TestQuantile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var d []time.Duration
		for _, x := range v {
			d = append(d, time.Duration(x)*time.Millisecond)
		}
		return d
	}
	tests := []struct {
		d    []time.Duration
		q    float64
		want time.Duration
	}{
		{nil, 0.5, 0},
		{ms(7), 0.99, 7 * time.Millisecond},
		{ms(1, 2, 3, 4), 0.5, 2 * time.Millisecond},
		{ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 0.99, 10 * time.Millisecond},
		{ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 0.5, 5 * time.Millisecond},
	}
	for _, tc := range tests {
		if got := quantile(tc.d, tc.q); got != tc.want {
			t.Errorf("quantile(%v, %v) = %v, want %v", tc.d, tc.q, got, tc.want)
		}
	}
}

func TestKeptNotes(t *testing.T) {
	notes := notesMarker + "\n\n## What limits it\n\n索引器：去掉 refresh=wait_for 后……\n"
	tests := []struct {
		name, previous, want string
	}{
		{"no previous report", "", ""},
		{"a report without notes", "# Benchmarks\n\n| measure |\n", ""},
		{"notes after the tables", "# Benchmarks\n\n| old table |\n\n" + notes, "\n" + notes},
	}
	for _, tc := range tests {
		if got := keptNotes(tc.previous); got != tc.want {
			t.Errorf("%s: keptNotes = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// runReport runs the harness with o, writing into a file of the test, and
// returns the markdown it wrote.
func runReport(ctx context.Context, t testing.TB, o options) string {
	t.Helper()
	o.out = filepath.Join(t.TempDir(), "BENCHMARKS.md")
	if err := run(ctx, o.sizes(), testWriter{t}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(o.out)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestMachineCPU: the machine's CPU time counts this process's work, and
// a rate's CPU notes divide it by the items and the cores.
func TestMachineCPU(t *testing.T) {
	start, processStart := machineCPU(), processCPU()
	if start <= 0 {
		t.Fatalf("machineCPU() = %s, want the CPU time /proc/stat counts", start)
	}
	for processCPU()-processStart < 200*time.Millisecond {
	}
	if spent := machineCPU() - start; spent < 150*time.Millisecond {
		t.Errorf("machine CPU grew %s while this process spun for 200 ms", spent)
	}

	r := rate{n: 4, d: time.Second, cpu: 400 * time.Millisecond, machine: time.Duration(runtime.NumCPU()) * 500 * time.Millisecond, metered: true}
	if got := r.cpuPerItem(); got != 100*time.Millisecond {
		t.Errorf("cpuPerItem = %s, want 100ms", got)
	}
	if got := r.busy(); got != 0.5 {
		t.Errorf("busy = %v, want 0.5", got)
	}
	if got := measured(r); !strings.HasPrefix(got, "4 /s (CPU each 100000 µs, machine ") || !strings.HasSuffix(got, "; cores 50 % busy)") {
		t.Errorf("measured = %q", got)
	}
	if got := measured(rate{n: 4, d: time.Second}); got != "4 /s" {
		t.Errorf("measured without CPU = %q, want the rate alone", got)
	}
}
