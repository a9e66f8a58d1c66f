// Package polltest waits in tests for a condition that holds eventually:
// a pipeline that delivers, a file that appears, a consumer that catches
// up. Its bounds are liveness bounds that stop a test which would hang;
// they never assert anything about speed.
package polltest

import (
	"testing"
	"time"
)

// Patience is how long Until waits. It bounds a pipeline that never
// delivers; a healthy one is done long before.
const Patience = 60 * time.Second

// maxInterval is the longest pause between two polls.
const maxInterval = 100 * time.Millisecond

// Until polls cond until it holds, failing tb with "timed out waiting for
// what" when it still does not after Patience.
func Until(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	if !Within(Patience, cond) {
		tb.Fatalf("timed out waiting for %s", what)
	}
}

// Within polls cond until it holds or bound has passed, and reports
// whether it held. Callers that fail with a message naming the last state
// they saw use it instead of Until. The pause between polls starts at a
// millisecond and doubles up to 100ms, so a condition that holds soon is
// seen soon and a slow one is not polled in a busy loop.
func Within(bound time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(bound)
	interval := time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(interval)
		interval = min(2*interval, maxInterval)
	}
	return true
}
