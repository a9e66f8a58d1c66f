package webform

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"
)

// TestRateLimitAcrossReplicas: a client alternating between two replicas
// that share their rate records gets one budget, not one per replica;
// the refusal says when the oldest counted post leaves the window.
func TestRateLimitAcrossReplicas(t *testing.T) {
	cfg := Config{RateLimit: 3, RateWindow: 10 * time.Minute}
	ledger, rates := &memLedger{}, &memLedger{}
	a, b := newReplica(t, cfg, ledger, rates), newReplica(t, cfg, ledger, rates)
	var codes []int
	var retry string
	for i, e := range []*testEnv{a, b, a, b} {
		s, _ := e.open(t, "/")
		resp, _ := e.post(t, "/complaints", s, validFields(), nil)
		codes = append(codes, resp.StatusCode)
		if i == 3 {
			retry = resp.Header.Get("Retry-After")
		}
	}
	if codes[0] != 200 || codes[1] != 200 || codes[2] != 200 || codes[3] != http.StatusTooManyRequests {
		t.Fatalf("status codes %v, want [200 200 200 429]", codes)
	}
	if retry != "600" && retry != "599" {
		t.Errorf("Retry-After %q, want about the 10-minute window", retry)
	}
	if n := len(a.pub.Published()) + len(b.pub.Published()); n != 3 {
		t.Errorf("%d complaints published, want 3", n)
	}
	// Status look-ups have a budget of their own.
	s, _ := b.open(t, "/status")
	if resp, _ := b.post(t, "/status", s, map[string]string{"reference": "TS0000000000"}, nil); resp.StatusCode == http.StatusTooManyRequests {
		t.Errorf("status look-up refused by the submissions' budget")
	}
}

// TestRateLimitWithoutItsStore: while the shared records cannot be
// written, each replica counts alone rather than refusing customers.
func TestRateLimitWithoutItsStore(t *testing.T) {
	cfg := Config{RateLimit: 2, RateWindow: 10 * time.Minute}
	rates := &memLedger{}
	rates.fail(errors.New("broker unreachable"))
	e := newReplica(t, cfg, &memLedger{}, rates)
	var codes []int
	for range 3 {
		s, _ := e.open(t, "/")
		resp, _ := e.post(t, "/complaints", s, validFields(), nil)
		codes = append(codes, resp.StatusCode)
	}
	if codes[0] != 200 || codes[1] != 200 || codes[2] != http.StatusTooManyRequests {
		t.Fatalf("status codes %v, want [200 200 429] counted by the replica", codes)
	}
}

func TestRateLimitAllow(t *testing.T) {
	rates := &memLedger{}
	limit := RateLimit{Rates: rates, Max: 2, Window: time.Minute}
	ctx := context.Background()
	now := time.Now()
	for i, want := range []bool{true, true, false} {
		ok, retry, err := limit.Allow(ctx, "rate:submit:203.0.113.7", now)
		if err != nil || ok != want {
			t.Fatalf("request %d: %v, %v; want %v", i+1, ok, err, want)
		}
		if !ok && (retry <= 0 || retry > time.Minute+time.Second) {
			t.Errorf("retry %s, want within the window", retry)
		}
	}
	if ok, _, _ := limit.Allow(ctx, "rate:submit:203.0.113.8", now); !ok {
		t.Error("another client refused")
	}
	if ok, _, _ := limit.Allow(ctx, "rate:submit:203.0.113.7", now.Add(61*time.Second)); !ok {
		t.Error("refused after the window passed")
	}
	if n := len(rates.Entries("rate:submit:203.0.113.7")); n != 3 {
		t.Errorf("%d records, want 3: a refused request records nothing", n)
	}
}
