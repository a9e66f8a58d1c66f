// Package soak measures a running tousu over a long steady load (issue
// 17's soak, issue 16's memory slope): it samples the process's
// Prometheus metrics every few seconds (resident memory, Go heap in use,
// goroutines and the error counters), and summarises them as start, end
// and peak, the least-squares slope per minute over the second half of
// the run, and how much each error counter grew.
//
// It measures and reports; it asserts nothing. The soak test beside it
// (soak_test.go) runs the real binary and asserts behaviour only (nothing
// lost or duplicated, no error counter growing, goroutines back near
// their start after the load); go run ./deploy/bench puts the same
// summary in BENCHMARKS.md.
package soak

import (
	"bufio"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The metrics a sample reads: the process collector's and the Go
// collector's of tousu's registry.
const (
	metricRSS        = "process_resident_memory_bytes"
	metricHeap       = "go_memstats_heap_inuse_bytes"
	metricGoroutines = "go_goroutines"
)

// errorCounter matches the tousu counters that count failures: errors,
// dead letters, retries, quarantined or rejected messages.
var errorCounter = regexp.MustCompile(`^tousu_\w*(error|errors|dead_lettered|retries|failed|failures|quarantined|rejected)\w*_total$`)

// Sample is one reading of the process's metrics.
type Sample struct {
	// At is the time since the first sample.
	At time.Duration
	// RSS is the resident set, HeapInuse the Go heap in use, both in
	// bytes.
	RSS, HeapInuse float64
	// RSSAnon and RSSFile split the resident set into anonymous memory
	// (the Go heap, stacks) and file pages mapped in (the state stores'
	// memory-mapped files), from /proc/PID/status; 0 without a PID.
	RSSAnon, RSSFile float64
	// Goroutines is the number of goroutines.
	Goroutines float64
	// Errors is the value of every error counter series, by its name and
	// labels as /metrics writes them.
	Errors map[string]float64
}

// Reader reads samples from a /metrics endpoint.
type Reader struct {
	// URL is the /metrics address, Token the bearer token it wants (may
	// be empty).
	URL, Token string
	// Client sends the requests; nil means http.DefaultClient.
	Client *http.Client
	// PID is the process's id on this machine, for the split of its
	// resident set; 0 leaves it out.
	PID int
}

// Read fetches /metrics once and returns what it says. It blocks for one
// HTTP request, bounded by ctx.
func (r Reader) Read(ctx context.Context) (Sample, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.URL, nil)
	if err != nil {
		return Sample{}, err
	}
	if r.Token != "" {
		req.Header.Set("Authorization", "Bearer "+r.Token)
	}
	client := r.Client
	if client == nil {
		client = http.DefaultClient
	}
	res, err := client.Do(req)
	if err != nil {
		return Sample{}, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return Sample{}, fmt.Errorf("%s: status %d", r.URL, res.StatusCode)
	}
	s, err := parse(res.Body)
	if err != nil || r.PID == 0 {
		return s, err
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", r.PID))
	if err != nil {
		return s, err
	}
	s.RSSAnon, s.RSSFile = statusKB(status, "RssAnon:"), statusKB(status, "RssFile:")
	return s, nil
}

// statusKB returns the field of /proc/PID/status in bytes, 0 when
// missing.
func statusKB(status []byte, field string) float64 {
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
			return kb * 1024
		}
	}
	return 0
}

// parse reads the Prometheus text format and picks the sampled series.
func parse(body io.Reader) (Sample, error) {
	s := Sample{Errors: map[string]float64{}}
	found := 0
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		series, value := line[:i], line[i+1:]
		name, _, _ := strings.Cut(series, "{")
		var dst *float64
		switch {
		case name == metricRSS:
			dst = &s.RSS
		case name == metricHeap:
			dst = &s.HeapInuse
		case name == metricGoroutines:
			dst = &s.Goroutines
		case errorCounter.MatchString(name):
			v, err := strconv.ParseFloat(value, 64)
			if err != nil {
				return s, fmt.Errorf("metric %s: %w", series, err)
			}
			s.Errors[series] = v
			continue
		default:
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return s, fmt.Errorf("metric %s: %w", series, err)
		}
		*dst = v
		found++
	}
	if err := sc.Err(); err != nil {
		return s, err
	}
	if found < 3 {
		return s, fmt.Errorf("/metrics lacks %s, %s or %s", metricRSS, metricHeap, metricGoroutines)
	}
	return s, nil
}

// Sampler reads samples every Every until stopped. Start it with Start;
// Stop returns what it read. Its methods are safe for concurrent use.
type Sampler struct {
	reader Reader
	every  time.Duration
	start  time.Time

	mu      sync.Mutex
	samples []Sample
	failed  int
	lastErr error

	cancel context.CancelFunc
	done   chan struct{}
}

// Start reads one sample at once and then every every, in a goroutine of
// its own, until Stop or ctx ends.
func Start(ctx context.Context, r Reader, every time.Duration) *Sampler {
	ctx, cancel := context.WithCancel(ctx)
	s := &Sampler{reader: r, every: every, start: time.Now(), cancel: cancel, done: make(chan struct{})}
	go s.loop(ctx)
	return s
}

func (s *Sampler) loop(ctx context.Context) {
	defer close(s.done)
	tick := time.NewTicker(s.every)
	defer tick.Stop()
	for {
		s.Once(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Once reads one sample now and keeps it; a failed read is counted.
func (s *Sampler) Once(ctx context.Context) {
	at := time.Since(s.start)
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	sample, err := s.reader.Read(rctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		if ctx.Err() == nil {
			s.failed++
			s.lastErr = err
		}
		return
	}
	sample.At = at
	s.samples = append(s.samples, sample)
}

// Stop ends the sampling and returns the samples, the number of failed
// reads and the last failure.
func (s *Sampler) Stop() (Series, int, error) {
	s.cancel()
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.samples), s.failed, s.lastErr
}

// Series is the samples of a run, in time order.
type Series []Sample

// Gauge is a summary of one gauge over a run.
type Gauge struct {
	Start, End, Peak float64
	// SlopePerMinute is the least-squares slope over the second half of
	// the run (after the warm-up), in the gauge's unit per minute.
	SlopePerMinute float64
}

// Summary is what a run's samples say.
type Summary struct {
	Samples             int
	Duration            time.Duration
	RSS, Heap, Routines Gauge
	// RSSAnon and RSSFile are the parts of RSS (zero without a PID).
	RSSAnon, RSSFile Gauge
	// ErrorGrowth is how much each error counter series grew over the
	// second half of the run; only series that grew are in it.
	ErrorGrowth map[string]float64
	// ErrorsTotal is each error counter series at the end, when not zero.
	ErrorsTotal map[string]float64
}

// Summary summarises s. Fewer than two samples give zero slopes.
func (s Series) Summary() Summary {
	sum := Summary{Samples: len(s), ErrorGrowth: map[string]float64{}, ErrorsTotal: map[string]float64{}}
	if len(s) == 0 {
		return sum
	}
	sum.Duration = s[len(s)-1].At
	half := s[len(s)/2:]
	sum.RSS = s.gauge(half, func(x Sample) float64 { return x.RSS })
	sum.Heap = s.gauge(half, func(x Sample) float64 { return x.HeapInuse })
	sum.Routines = s.gauge(half, func(x Sample) float64 { return x.Goroutines })
	sum.RSSAnon = s.gauge(half, func(x Sample) float64 { return x.RSSAnon })
	sum.RSSFile = s.gauge(half, func(x Sample) float64 { return x.RSSFile })
	first, last := half[0], s[len(s)-1]
	for k, v := range last.Errors {
		if v != 0 {
			sum.ErrorsTotal[k] = v
		}
		if d := v - first.Errors[k]; d > 0 {
			sum.ErrorGrowth[k] = d
		}
	}
	return sum
}

func (s Series) gauge(half Series, v func(Sample) float64) Gauge {
	g := Gauge{Start: v(s[0]), End: v(s[len(s)-1])}
	var xs, ys []float64
	for _, x := range s {
		g.Peak = max(g.Peak, v(x))
	}
	for _, x := range half {
		xs, ys = append(xs, x.At.Minutes()), append(ys, v(x))
	}
	g.SlopePerMinute = Slope(xs, ys)
	return g
}

// Slope is the least-squares slope of y over x; 0 when x does not vary.
func Slope(x, y []float64) float64 {
	n := float64(len(x))
	if len(x) < 2 || len(x) != len(y) {
		return 0
	}
	var sx, sy float64
	for i := range x {
		sx, sy = sx+x[i], sy+y[i]
	}
	mx, my := sx/n, sy/n
	var sxy, sxx float64
	for i := range x {
		sxy += (x[i] - mx) * (y[i] - my)
		sxx += (x[i] - mx) * (x[i] - mx)
	}
	if sxx == 0 {
		return 0
	}
	return sxy / sxx
}

// String is the summary as the test log and the harness show it.
func (sum Summary) String() string {
	mib := func(b float64) string { return fmt.Sprintf("%.1f MiB", b/(1<<20)) }
	var b strings.Builder
	fmt.Fprintf(&b, "%d samples over %s; slopes over the second half\n", sum.Samples, sum.Duration.Round(time.Second))
	fmt.Fprintf(&b, "  RSS        start %s, end %s, peak %s, slope %+.2f MiB/min\n", mib(sum.RSS.Start), mib(sum.RSS.End), mib(sum.RSS.Peak), sum.RSS.SlopePerMinute/(1<<20))
	if sum.RSSAnon.Peak > 0 {
		fmt.Fprintf(&b, "   anonymous start %s, end %s, peak %s, slope %+.2f MiB/min\n", mib(sum.RSSAnon.Start), mib(sum.RSSAnon.End), mib(sum.RSSAnon.Peak), sum.RSSAnon.SlopePerMinute/(1<<20))
		fmt.Fprintf(&b, "   file      start %s, end %s, peak %s, slope %+.2f MiB/min\n", mib(sum.RSSFile.Start), mib(sum.RSSFile.End), mib(sum.RSSFile.Peak), sum.RSSFile.SlopePerMinute/(1<<20))
	}
	fmt.Fprintf(&b, "  heap       start %s, end %s, peak %s, slope %+.2f MiB/min\n", mib(sum.Heap.Start), mib(sum.Heap.End), mib(sum.Heap.Peak), sum.Heap.SlopePerMinute/(1<<20))
	fmt.Fprintf(&b, "  goroutines start %.0f, end %.0f, peak %.0f, slope %+.2f /min\n", sum.Routines.Start, sum.Routines.End, sum.Routines.Peak, sum.Routines.SlopePerMinute)
	if len(sum.ErrorsTotal) == 0 {
		b.WriteString("  errors     none")
	}
	for _, k := range slices.Sorted(maps.Keys(sum.ErrorsTotal)) {
		fmt.Fprintf(&b, "  errors     %s = %.0f (+%.0f over the second half)\n", k, sum.ErrorsTotal[k], sum.ErrorGrowth[k])
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// WriteCSV writes the samples as CSV: seconds, RSS and heap in bytes,
// goroutines, and the sum of the error counters.
func (s Series) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"seconds", "rss_bytes", "rss_anon_bytes", "rss_file_bytes", "heap_inuse_bytes", "goroutines", "errors"})
	for _, x := range s {
		var errs float64
		for _, v := range x.Errors {
			errs += v
		}
		cw.Write([]string{strconv.FormatFloat(x.At.Seconds(), 'f', 1, 64), strconv.FormatFloat(x.RSS, 'f', 0, 64),
			strconv.FormatFloat(x.RSSAnon, 'f', 0, 64), strconv.FormatFloat(x.RSSFile, 'f', 0, 64), strconv.FormatFloat(x.HeapInuse, 'f', 0, 64), strconv.FormatFloat(x.Goroutines, 'f', 0, 64), strconv.FormatFloat(errs, 'f', 0, 64)})
	}
	cw.Flush()
	return cw.Error()
}

// Steady calls submit(i) at perSec per second, each call in a goroutine
// of its own, for d or until ctx ends, and returns when every call has
// returned. A slow submit does not slow the rate down.
func Steady(ctx context.Context, perSec float64, d time.Duration, submit func(i int)) {
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Duration(float64(time.Second) / perSec))
	defer tick.Stop()
	end := time.Now().Add(d)
	for i := 0; time.Now().Before(end); i++ {
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case <-tick.C:
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			submit(i)
		}()
	}
	wg.Wait()
}
