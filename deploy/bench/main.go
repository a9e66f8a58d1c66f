// Command bench measures tousu beside raw baselines in one run and writes
// the results to BENCHMARKS.md (issue 16):
//
//	go run ./deploy/bench                          both modes, full run
//	go run ./deploy/bench -modes embedded -short   the smoke run the tests make
//
// It is a separate program, not a `tousu` subcommand, because it carries
// what the product must not: a load generator, a plain kafka-go producer, a
// direct esutil.BulkIndexer and a raw Bleve loader as baselines.
//
// Each mode starts what it needs. Embedded: the embedded broker (as `tousu
// serve` runs it, in this process) and Bleve. Distributed: Apache Kafka and
// Elasticsearch through deploy/dev/services.sh (its TOUSU_DEV_* variables
// choose the run directory and ports). tousu runs in this process through
// services/app, the code path of the binary, once per target set:
// normalizer+router alone, the indexer alone, then every target.
//
// The corpus is generated (corpus.go): Chinese complaints of 50 to 600
// characters from the policy packs' sectors, distinct customers, with
// duplicates, repeats and batch outages among them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strings"
	"time"
)

// options are the command-line settings of a run.
type options struct {
	modes      []string
	short      bool
	out        string
	complaints int           // corpus size of each throughput phase
	clients    int           // concurrent HTTP clients and producer callers
	latencyFor time.Duration // how long each latency phase submits
	soak       time.Duration // how long the soak at the sustained rate runs
	csvRows    int           // rows of the hotline export
	seed       uint64
	verbose    bool
	// indexerOnly ends each mode after the indexer and its direct loader
	// (for comparing indexer builds; the report leaves the rest empty).
	indexerOnly bool
	// routerOnly ends each mode after normalizer + router and their
	// pass-through (for comparing normalizer and router builds).
	routerOnly bool
	// intakeOnly measures only the plain producer (to a topic of its
	// own, so no stage has a backlog) and the phases of `all` up to the
	// latency at half the sustained rate, then the gateway alone: no
	// stage alone, no soak, no hotline export (for comparing intake
	// builds).
	intakeOnly bool
	cpuProfile string // file for a CPU profile of the whole run
	// blockProfile, mutexProfile and trace are files for the blocking
	// and mutex contention profiles and the execution trace of the run.
	blockProfile, mutexProfile, trace string
	// heapProfile names the heap profiles written at the start and the
	// end of each mode's soak (heapProfile-<mode>-start.pprof, -end.pprof).
	heapProfile string
}

// sizes returns the options with the sizes of a short or a full run
// filled where they are zero.
func (o options) sizes() options {
	if o.complaints == 0 {
		o.complaints = 20000
		if o.short {
			o.complaints = 300
		}
	}
	if o.latencyFor == 0 {
		o.latencyFor = time.Minute
		if o.short {
			o.latencyFor = 2 * time.Second
		}
	}
	if o.soak == 0 {
		o.soak = 10 * time.Minute
		if o.short {
			o.soak = 6 * time.Second
		}
	}
	if o.csvRows == 0 {
		o.csvRows = 200000
		if o.short {
			o.csvRows = 2000
		}
	}
	if o.clients == 0 {
		o.clients = 32
	}
	if o.seed == 0 {
		o.seed = uint64(time.Now().UnixNano())
	}
	return o
}

func main() {
	var o options
	var modes string
	flag.StringVar(&modes, "modes", "embedded,distributed", "modes to measure, comma-separated: embedded, distributed")
	flag.BoolVar(&o.short, "short", false, "smoke run: small corpus, short latency phases")
	flag.StringVar(&o.out, "out", "BENCHMARKS.md", "markdown file to write")
	flag.IntVar(&o.complaints, "complaints", 0, "complaints per throughput phase (default 20000, 300 with -short)")
	flag.IntVar(&o.clients, "clients", 0, "concurrent clients (default 32)")
	flag.DurationVar(&o.latencyFor, "latency-for", 0, "duration of each latency phase (default 1m, 2s with -short)")
	flag.DurationVar(&o.soak, "soak", 0, "duration of the soak at the sustained rate, for peak RSS and the memory slope (default 10m, 6s with -short)")
	flag.IntVar(&o.csvRows, "csv-rows", 0, "rows of the GBK hotline export (default 200000, 2000 with -short)")
	flag.Uint64Var(&o.seed, "seed", 0, "corpus seed (default: the time)")
	flag.BoolVar(&o.verbose, "v", false, "log tousu's warnings to stderr")
	flag.BoolVar(&o.indexerOnly, "indexer-only", false, "measure only up to the indexer and its direct loader (to compare indexer builds)")
	flag.BoolVar(&o.routerOnly, "router-only", false, "measure only the plain producer, normalizer + router and their pass-through (to compare normalizer and router builds)")
	flag.BoolVar(&o.intakeOnly, "intake-only", false, "measure only the plain producer, `all` (HTTP intake, whole pipeline, latencies) and the gateway alone (to compare intake builds)")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the run (tousu and the baselines) to this file")
	flag.StringVar(&o.blockProfile, "blockprofile", "", "write a profile of where goroutines blocked (every event) to this file")
	flag.StringVar(&o.mutexProfile, "mutexprofile", "", "write a profile of mutex contention (every event) to this file")
	flag.StringVar(&o.trace, "trace", "", "write an execution trace of the run to this file (go tool trace)")
	flag.StringVar(&o.heapProfile, "heapprofile", "", "write heap profiles (after a GC) at the start and the end of each soak to `prefix`-<mode>-start.pprof and -end.pprof (go tool pprof -base start end: what the soak kept)")
	flag.Parse()
	o.modes = strings.Split(modes, ",")

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, o.sizes(), os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// run measures every mode of o, logging progress to log, and writes the
// report to o.out.
func run(ctx context.Context, o options, log io.Writer) error {
	rep := report{Machine: describeMachine(), Options: o, Started: time.Now()}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	stopProfiles, err := startWaitProfiles(o)
	if err != nil {
		return err
	}
	defer stopProfiles()
	for _, mode := range o.modes {
		fmt.Fprintf(log, "bench: mode %s\n", mode)
		res, err := measureMode(ctx, o, mode, log)
		if err != nil {
			return fmt.Errorf("%s: %w", mode, err)
		}
		rep.Modes = append(rep.Modes, res)
	}
	rep.Finished = time.Now()
	rep.LoadEnd = loadAverage()
	old, err := os.ReadFile(o.out)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.WriteFile(o.out, []byte(rep.markdown()+keptNotes(string(old))), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(log, "bench: wrote %s\n", o.out)
	return nil
}

// notesMarker starts the part of BENCHMARKS.md written by hand (what
// limits a figure, what was tried), which a run keeps when it rewrites
// the tables above it.
const notesMarker = "<!-- notes: written by hand; deploy/bench keeps everything from this line on -->"

// keptNotes returns the hand-written notes of a previous report, from
// notesMarker on, or "".
func keptNotes(previous string) string {
	i := strings.Index(previous, notesMarker)
	if i < 0 {
		return ""
	}
	return "\n" + previous[i:]
}

// startWaitProfiles starts what o asks for of the blocking and mutex
// profiles and the execution trace, which show where the run waits; the
// function it returns stops them and writes the profiles.
func startWaitProfiles(o options) (func(), error) {
	var stops []func()
	stop := func() {
		for _, f := range slices.Backward(stops) {
			f()
		}
	}
	writeAtEnd := func(file, profile string, off func()) {
		stops = append(stops, func() {
			off()
			f, err := os.Create(file)
			if err != nil {
				fmt.Fprintln(os.Stderr, "bench:", err)
				return
			}
			defer f.Close()
			if err := pprof.Lookup(profile).WriteTo(f, 0); err != nil {
				fmt.Fprintln(os.Stderr, "bench:", err)
			}
		})
	}
	if o.blockProfile != "" {
		runtime.SetBlockProfileRate(1)
		writeAtEnd(o.blockProfile, "block", func() { runtime.SetBlockProfileRate(0) })
	}
	if o.mutexProfile != "" {
		runtime.SetMutexProfileFraction(1)
		writeAtEnd(o.mutexProfile, "mutex", func() { runtime.SetMutexProfileFraction(0) })
	}
	if o.trace != "" {
		f, err := os.Create(o.trace)
		if err != nil {
			stop()
			return nil, err
		}
		if err := trace.Start(f); err != nil {
			f.Close()
			stop()
			return nil, err
		}
		stops = append(stops, func() { trace.Stop(); f.Close() })
	}
	return stop, nil
}
