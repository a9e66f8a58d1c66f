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
	"slices"
	"sync"
	"sync/atomic"
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
	start := time.Now()
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
	r := rate{n: ok.Load(), d: time.Since(start), errors: failed.Load()}
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
	w := &kafka.Writer{Addr: kafka.TCP(cfg.Brokers...), Topic: topic, Balancer: &kafka.Murmur2Balancer{}, RequiredAcks: kafka.RequireAll,
		BatchTimeout: cfg.BatchTimeout, BatchSize: 1000, BatchBytes: bus.MaxRecordBytes}
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

// searchable submits complaints at perSec for d and measures, for one in
// every so many (about 10 a second), the time from the start of the submit
// to the first search by its reference that finds it. Searches poll every
// 20 ms.
func searchable(ctx context.Context, hc *http.Client, base string, bodies [][]byte, perSec float64, d time.Duration) (latencies, error) {
	out := latencies{offered: perSec}
	every := max(1, int(perSec/10))
	interval := time.Duration(float64(time.Second) / perSec)
	var mu sync.Mutex
	var wg sync.WaitGroup
	tick := time.NewTicker(interval)
	defer tick.Stop()
	end := time.Now().Add(d)
	for i := 0; time.Now().Before(end); i++ {
		select {
		case <-ctx.Done():
			return out, ctx.Err()
		case <-tick.C:
		}
		body := bodies[i%len(bodies)]
		sampled := i%every == 0
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			ref, err := post(ctx, hc, base, body)
			if err != nil {
				mu.Lock()
				defer mu.Unlock()
				if out.failed++; out.failure == "" {
					out.failure = err.Error()
				}
				return
			}
			if !sampled {
				return
			}
			found, err := pollFound(ctx, hc, base, ref, start.Add(30*time.Second))
			mu.Lock()
			defer mu.Unlock()
			if err != nil || !found {
				out.missed++
				return
			}
			out.samples = append(out.samples, time.Since(start))
		}()
	}
	wg.Wait()
	slices.Sort(out.samples)
	if len(out.samples) == 0 {
		return out, fmt.Errorf("no sample found searchable (%d submissions failed, the first: %s)", out.failed, out.failure)
	}
	return out, nil
}

// pollFound searches for the reference every 20 ms until a case holds it
// or deadline passes.
func pollFound(ctx context.Context, hc *http.Client, base, ref string, deadline time.Time) (bool, error) {
	u := base + "/api/v1/cases?" + url.Values{"reference": {ref}, "limit": {"1"}}.Encode()
	for time.Now().Before(deadline) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return false, err
		}
		req.Header.Set("Authorization", "Bearer "+benchToken)
		res, err := hc.Do(req)
		if err != nil {
			return false, err
		}
		var r struct {
			Total int `json:"total"`
		}
		err = json.NewDecoder(res.Body).Decode(&r)
		res.Body.Close()
		if err == nil && r.Total > 0 {
			return true, nil
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return false, nil
}
