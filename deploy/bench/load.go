package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/segmentio/kafka-go"

	"github.com/tousu/tousu/services/bus"
)

// httpClient is shared by the load generators: keep-alive connections,
// one per client at least.
func httpClient(clients int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns, t.MaxIdleConnsPerHost = 2*clients, 2*clients
	return &http.Client{Transport: t, Timeout: 30 * time.Second}
}

// post sends one complaint to base's API and returns the reference of a
// 202 answer.
func post(ctx context.Context, hc *http.Client, base string, body []byte) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/v1/complaints", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+benchToken)
	res, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusAccepted {
		return "", fmt.Errorf("status %d: %s", res.StatusCode, b)
	}
	var ok struct {
		Reference string `json:"reference"`
	}
	_ = json.Unmarshal(b, &ok)
	return ok.Reference, nil
}

// rate is a throughput: n things in d.
type rate struct {
	n      int64
	d      time.Duration
	errors int64
	// cpu is the CPU time this process spent over the phase, and machine
	// the CPU time every process of the machine spent (the JVMs of Kafka
	// and Elasticsearch included), over the phase's clock (meter). On a
	// machine shared with other work they compare phases better than
	// their rates; busy says whether the phase was short of CPU.
	cpu, machine time.Duration
	// metered says cpu and machine were read (a meter's rate): a phase
	// shorter than the kernel's 10 ms tick can read no machine CPU.
	metered bool
}

// cpuPerItem is the CPU time of the phase per item, zero where not
// measured.
func (r rate) cpuPerItem() time.Duration { return r.per(r.cpu) }

// machinePerItem is the machine's CPU time of the phase per item, zero
// where not measured.
func (r rate) machinePerItem() time.Duration { return r.per(r.machine) }

func (r rate) per(d time.Duration) time.Duration {
	if r.n <= 0 {
		return 0
	}
	return d / time.Duration(r.n)
}

// busy is the share of the machine's cores the phase kept busy, 0 to 1
// (0 where not measured).
func (r rate) busy() float64 {
	if r.d <= 0 {
		return 0
	}
	return r.machine.Seconds() / (r.d.Seconds() * float64(runtime.NumCPU()))
}

// processCPU returns the user and system CPU time of this process so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// machineCPU returns the CPU time every process of the machine spent so
// far, from the first line of /proc/stat (idle and I/O wait left out;
// USER_HZ is 100 on Linux), or 0 where it cannot be read.
func machineCPU() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0
	}
	var busy int64
	for i, v := range f[1:8] { // user nice system idle iowait irq softirq
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0
		}
		if i != 3 && i != 4 {
			busy += n
		}
	}
	return time.Duration(busy) * 10 * time.Millisecond
}

// meter is the clock of a phase: wall time and the CPU time of this
// process and of the machine since it started.
type meter struct {
	start        time.Time
	cpu, machine time.Duration
}

func startMeter() meter {
	return meter{start: time.Now(), cpu: processCPU(), machine: machineCPU()}
}

// rate is n items, errors failed, since the meter started.
func (m meter) rate(n, errors int64) rate {
	return rate{n: n, errors: errors, d: time.Since(m.start), cpu: processCPU() - m.cpu, machine: machineCPU() - m.machine, metered: true}
}

// labelled runs phase with the profile label phase=name on the goroutines
// it starts (go tool pprof -tagfocus phase=name; the broker's are not
// among them).
func labelled(ctx context.Context, name string, phase func(context.Context) (rate, error)) (r rate, err error) {
	pprof.Do(ctx, pprof.Labels("phase", name), func(ctx context.Context) { r, err = phase(ctx) })
	return r, err
}

func (r rate) perSec() float64 {
	if r.d <= 0 {
		return 0
	}
	return float64(r.n) / r.d.Seconds()
}

// hammer runs do over items from clients goroutines, as fast as they go,
// and counts the successes.
func hammer[T any](ctx context.Context, clients int, items []T, do func(context.Context, T) error) (rate, error) {
	var next, ok, failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	clock := startMeter()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(len(items)) || ctx.Err() != nil {
					return
				}
				if err := do(ctx, items[i]); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	r := clock.rate(ok.Load(), failed.Load())
	if err := ctx.Err(); err != nil {
		return r, err
	}
	if r.n == 0 && r.errors > 0 {
		return r, fmt.Errorf("every request failed, the first: %v", firstErr.Load())
	}
	return r, nil
}

// plainProducer writes the payloads to topic with a plain kafka-go writer
// with the settings of tousu's (acks=all, the same batch timeout and
// balancer), one synchronous single-record write per caller at a time.
func plainProducer(ctx context.Context, cfg bus.Config, topic string, clients int, msgs []kafka.Message) (rate, error) {
	// A transport of its own: kafka-go's default one may hold metadata
	// from before the topic was created.
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	w := &kafka.Writer{Addr: kafka.TCP(cfg.Brokers...), Topic: topic, Balancer: &kafka.Murmur2Balancer{}, RequiredAcks: kafka.RequireAll,
		BatchTimeout: cfg.BatchTimeout, BatchSize: 1000, BatchBytes: bus.MaxRecordBytes, Transport: tr}
	defer w.Close()
	return hammer(ctx, clients, msgs, func(ctx context.Context, m kafka.Message) error { return w.WriteMessages(ctx, m) })
}

// noopServer is a fiber app that answers POST /api/v1/complaints with 202
// and does nothing: the HTTP floor of the gateway.
func noopServer() (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	a := fiber.New(fiber.Config{DisableStartupMessage: true})
	a.Post("/api/v1/complaints", func(c *fiber.Ctx) error {
		return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"reference": "TS0000000000"})
	})
	go a.Listener(ln)
	return "http://" + ln.Addr().String(), func() { _ = a.Shutdown() }, nil
}

// latencies are submit → searchable durations.
type latencies struct {
	offered float64 // complaints/s submitted
	samples []time.Duration
	missed  int // sampled complaints never found within the wait
	failed  int // submissions the gateway did not accept
	failure string
}

// quantile returns the q-quantile (nearest rank) of sorted d.
func quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	i := int(q*float64(len(d)) + 0.5)
	return d[min(max(i-1, 0), len(d)-1)]
}

// sampler holds the latency samples of a phase and the submissions still
// waiting to be found.
type sampler struct {
	mu      sync.Mutex
	out     latencies
	pending []sample
}

// sample is a submission whose latency is measured.
type sample struct {
	ref   string
	start time.Time
}

// searchable submits complaints at perSec for d and measures, for one in
// every so many (about 10 a second), the time from the start of the submit
// to the first search by its reference that finds it. One poller asks
// for the pending samples in turn, one search at a time, so that the
// measurement adds a bounded load however slow the pipeline is: the
// resolution is a round of searches, 20 ms at least.
func searchable(ctx context.Context, hc *http.Client, base string, bodies [][]byte, perSec float64, d time.Duration) (latencies, error) {
	sm := &sampler{out: latencies{offered: perSec}}
	every := max(1, int(perSec/10))
	submitted := make(chan struct{})
	polled := make(chan error, 1)
	go func() { polled <- sm.poll(ctx, hc, base, submitted) }()

	var wg sync.WaitGroup
	tick := time.NewTicker(time.Duration(float64(time.Second) / perSec))
	defer tick.Stop()
	end := time.Now().Add(d)
	for i := 0; time.Now().Before(end) && ctx.Err() == nil; i++ {
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
		body, sampled := bodies[i%len(bodies)], i%every == 0
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			ref, err := post(ctx, hc, base, body)
			sm.mu.Lock()
			defer sm.mu.Unlock()
			switch {
			case err != nil:
				if sm.out.failed++; sm.out.failure == "" {
					sm.out.failure = err.Error()
				}
			case sampled:
				sm.pending = append(sm.pending, sample{ref, start})
			}
		}()
	}
	wg.Wait()
	close(submitted)
	if err := <-polled; err != nil {
		return sm.out, err
	}
	out := sm.out
	slices.Sort(out.samples)
	if len(out.samples) == 0 {
		return out, fmt.Errorf("no sample found searchable (%d submissions failed, the first: %s)", out.failed, out.failure)
	}
	return out, nil
}

// poll searches for each pending sample in turn, round after round,
// records the latency of those found and gives up on those not found
// within 30 s, until submitted is closed and nothing is pending.
func (sm *sampler) poll(ctx context.Context, hc *http.Client, base string, submitted <-chan struct{}) error {
	for {
		var done bool
		select {
		case <-submitted:
			done = true
		default:
		}
		sm.mu.Lock()
		round := slices.Clone(sm.pending)
		sm.mu.Unlock()
		if done && len(round) == 0 {
			return nil
		}
		settled := map[string]bool{}
		for _, p := range round {
			found, err := searchOnce(ctx, hc, base, p.ref)
			if err != nil {
				return err
			}
			sm.mu.Lock()
			switch {
			case found:
				sm.out.samples = append(sm.out.samples, time.Since(p.start))
				settled[p.ref] = true
			case time.Since(p.start) > 30*time.Second:
				sm.out.missed++
				settled[p.ref] = true
			}
			sm.mu.Unlock()
		}
		sm.mu.Lock()
		sm.pending = slices.DeleteFunc(sm.pending, func(p sample) bool { return settled[p.ref] })
		sm.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// searchOnce reports whether a search by the reference finds a case.
func searchOnce(ctx context.Context, hc *http.Client, base, ref string) (bool, error) {
	u := base + "/api/v1/cases?" + url.Values{"reference": {ref}, "limit": {"1"}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Authorization", "Bearer "+benchToken)
	res, err := hc.Do(req)
	if err != nil {
		return false, err
	}
	defer res.Body.Close()
	var r struct {
		Total int `json:"total"`
	}
	if err := json.NewDecoder(res.Body).Decode(&r); err != nil {
		return false, fmt.Errorf("search %s: status %d: %w", ref, res.StatusCode, err)
	}
	return r.Total > 0, nil
}

// pollFound searches for the reference every 20 ms until a case holds it
// or deadline passes.
func pollFound(ctx context.Context, hc *http.Client, base, ref string, deadline time.Time) (bool, error) {
	for time.Now().Before(deadline) {
		if found, err := searchOnce(ctx, hc, base, ref); err != nil || found {
			return found, err
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return false, nil
}
