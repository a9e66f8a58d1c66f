package main

import (
	"fmt"
	"maps"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// machine describes where a run took place.
type machine struct {
	CPU     string
	Cores   int
	Memory  string
	Kernel  string
	Go      string
	Commit  string
	LoadAvg string // at the start
}

func describeMachine() machine {
	m := machine{Cores: runtime.NumCPU(), Go: runtime.Version(), LoadAvg: loadAverage()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				var kb int64
				fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), &kb)
				m.Memory = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := exec.Command("git", "describe", "--always", "--dirty").Output(); err == nil {
		m.Commit = strings.TrimSpace(string(b))
	}
	return m
}

// loadAverage is the 1, 5 and 15 minute load average.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// report is the whole run.
type report struct {
	Machine           machine
	Options           options
	Started, Finished time.Time
	LoadEnd           string
	Modes             []modeResult
}

// ratio formats a/b.
func ratio(a, b float64) string {
	switch {
	case b == 0:
		return "–"
	case a/b < 0.1:
		return fmt.Sprintf("%.3f×", a/b)
	}
	return fmt.Sprintf("%.2f×", a/b)
}

func perSec(r rate) string {
	if r.d == 0 {
		return "–"
	}
	s := fmt.Sprintf("%.0f /s", r.perSec())
	if r.errors > 0 {
		s += fmt.Sprintf(" (%d failed)", r.errors)
	}
	return s
}

// measured is perSec of r with the CPU it took, where measured.
func measured(r rate) string {
	if !r.metered || r.n <= 0 {
		return perSec(r)
	}
	return fmt.Sprintf("%s (CPU each %s, machine %s; cores %.0f %% busy)", perSec(r), micros(r.cpuPerItem()), micros(r.machinePerItem()), 100*r.busy())
}

// micros formats d in whole microseconds.
func micros(d time.Duration) string {
	return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond)) }

// latencyCell is p50 / p99 / p99.9 / max of l.
func latencyCell(l latencies) string {
	if len(l.samples) == 0 {
		return "no samples"
	}
	s := fmt.Sprintf("%s / %s / %s / %s (%d samples at %.0f /s", ms(quantile(l.samples, 0.5)), ms(quantile(l.samples, 0.99)),
		ms(quantile(l.samples, 0.999)), ms(l.samples[len(l.samples)-1]), len(l.samples), l.offered)
	if l.missed > 0 {
		s += fmt.Sprintf(", %d not found within 30 s", l.missed)
	}
	if l.failed > 0 {
		s += fmt.Sprintf(", %d submissions refused, the first: %s", l.failed, strings.ReplaceAll(truncate(l.failure, 120), "|", "/"))
	}
	return s + ")"
}

// markdown renders the report.
func (r report) markdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# Benchmarks\n\n")
	w("Written by `go run ./deploy/bench%s` (see README.md, Benchmarks). Every ratio divides a tousu figure by its baseline measured in the same run, on the same broker and index.\n\n",
		map[bool]string{true: " -short", false: ""}[r.Options.short])
	if r.Options.short {
		w("**Smoke run (`-short`)**: %d complaints per phase and %s latency phases; the figures show that the harness works, not what tousu can do.\n\n", r.Options.complaints, r.Options.latencyFor)
	}
	m := r.Machine
	w("- Machine: %d cores (%s), %s memory, Linux %s\n", m.Cores, m.CPU, m.Memory, m.Kernel)
	w("- Load average (1, 5, 15 min) at the start: %s; at the end: %s. The machine was shared with other work while this ran, so the figures are noisy; rerun on a quiet machine for reference numbers.\n", m.LoadAvg, r.LoadEnd)
	w("- %s, tousu %s; %s to %s UTC\n", m.Go, m.Commit, r.Started.UTC().Format("2006-01-02 15:04"), r.Finished.UTC().Format("15:04"))
	w("- Corpus: %d generated complaints per throughput phase (50–600 Chinese characters, distinct customers, %d%% duplicates, %d%% repeats, %d%% in batch outages), %d concurrent clients; the tousu targets run in the harness's process through services/app, the code path of `tousu serve -target`.\n",
		r.Options.complaints, shareDuplicate, shareRepeat, shareBatch, r.Options.clients)
	w("- \"CPU each\": the CPU time of the harness's process (tousu or the baseline, and the load generator) per item over the phase, and in brackets the whole machine's (Kafka's and Elasticsearch's JVMs included); \"busy\": the share of the cores in use over the phase. Near 100 %% the phase was short of CPU and its rate follows its CPU each.\n\n")
	for _, res := range r.Modes {
		w("## %s\n\n", res.Mode)
		w("Servers: %s.\n\n", strings.Join(res.Versions, "; "))
		w("| measure | tousu | baseline | ratio | target |\n| --- | --- | --- | --- | --- |\n")
		w("| HTTP intake → broker acknowledged, 202s (`all`) | %s | %s plain kafka-go producer, same payloads, acks=all, %d synchronous callers | %s | ≥ 0.5× |\n",
			measured(res.Intake), measured(res.Producer), r.Options.clients, ratio(res.Intake.perSec(), res.Producer.perSec()))
		w("| HTTP intake → broker acknowledged, 202s, gateway alone (`-target gateway`) | %s | %s plain kafka-go producer, as above | %s | ≥ 0.5× |\n",
			measured(res.IntakeAlone), measured(res.Producer), ratio(res.IntakeAlone.perSec(), res.Producer.perSec()))
		w("| gateway HTTP overhead (`all`) | %s | %s no-op fiber handler | %s | – |\n", measured(res.Intake), measured(res.Noop), ratio(res.Intake.perSec(), res.Noop.perSec()))
		w("| normalizer + router alone (`-target normalizer,router`), complaints | %s | %s consume → produce pass-through, two hops, same bus consumer and producer | %s | ≥ 0.35× |\n",
			measured(res.NormRouter), measured(res.PassThrough), ratio(res.NormRouter.perSec(), res.PassThrough.perSec()))
		w("| indexer alone (`-target indexer`; with Bleve `indexer,console`, the console idle), case records | %s | %s %s | %s | ≥ 0.8× |\n", measured(res.Indexer), measured(res.Direct), res.DirectName, ratio(res.Indexer.perSec(), res.Direct.perSec()))
		slowest := min(res.Producer.perSec(), res.PassThrough.perSec(), res.Direct.perSec())
		w("| whole pipeline sustained (`all`), submitted → every stage caught up | %s | %.0f /s the slowest baseline above | %s | – |\n", perSec(res.Sustained), slowest, ratio(res.Sustained.perSec(), slowest))
		refresh := "none (Bleve: searchable once written)"
		if res.RefreshInterval > 0 {
			refresh = "refresh interval " + res.RefreshInterval.String()
		}
		w("| submit → searchable at a trickle, p50 / p99 / p99.9 / max | %s | %s | – | ES: p50 ≤ 1.2 s |\n", latencyCell(res.Trickle), refresh)
		w("| submit → searchable at half the sustained rate | %s | %s | – | p99 ≤ 1 s embedded, ≤ 2 s ES |\n", latencyCell(res.Half), refresh)
		sk, mib := res.Soak.Summary, func(b float64) float64 { return b / (1 << 20) }
		where := map[bool]string{true: "Kafka and Elasticsearch are separate JVMs", false: "broker and index included"}[res.Mode == "distributed"]
		w("| peak RSS at the sustained rate (%.0f /s offered for %s, %d of %d submissions refused; the harness process: tousu `all` and the load generator, %s) | %.0f MiB (start %.0f MiB, end %.0f MiB) | – | – | – |\n",
			res.Soak.Rate, res.Soak.For, res.Soak.Failed, res.Soak.Sent, where, mib(sk.RSS.Peak), mib(sk.RSS.Start), mib(sk.RSS.End))
		w("| memory slope over the %s run, least squares over its second half: RSS (anonymous, file-backed) / Go heap in use / goroutines | %+.2f MiB/min (%+.2f, %+.2f) / %+.2f MiB/min / %+.1f per min | – | – | flat |\n",
			res.Soak.For, mib(sk.RSS.SlopePerMinute), mib(sk.RSSAnon.SlopePerMinute), mib(sk.RSSFile.SlopePerMinute), mib(sk.Heap.SlopePerMinute), sk.Routines.SlopePerMinute)
		w("| error counters that grew over the second half of that run | %s | – | – | none |\n", errorGrowth(sk.ErrorGrowth))
		w("| CSV rows/s for a %d-row GBK hotline export (%.0f MiB, GB18030): drop → every row acknowledged by the broker → processed/ (`-target poller`) | %s | %s raw GB18030 decode + encoding/csv of the same file | %s | – |\n",
			res.CSV.Rows, mib(float64(res.CSV.Bytes)), perSec(res.CSV.Reader), perSec(res.CSV.Decode), ratio(res.CSV.Reader.perSec(), res.CSV.Decode.perSec()))
		w("\n")
	}
	return b.String()
}

// errorGrowth lists the error counter series that grew, or "none".
func errorGrowth(g map[string]float64) string {
	if len(g) == 0 {
		return "none"
	}
	var out []string
	for _, k := range slices.Sorted(maps.Keys(g)) {
		out = append(out, fmt.Sprintf("`%s` +%.0f", strings.ReplaceAll(k, "|", "/"), g[k]))
	}
	return strings.Join(out, ", ")
}

// truncate shortens s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	for len(s) > n {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}
