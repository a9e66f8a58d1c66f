// Package deadletterstest makes the dead-letter stores of the tests of
// the packages that show and replay dead letters (the API, the console,
// the command line).
package deadletterstest

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/tousu/tousu/services/bus"
	"github.com/tousu/tousu/services/bus/bustest"
	"github.com/tousu/tousu/services/deadletters"
	"github.com/tousu/tousu/services/ledger"
	"github.com/tousu/tousu/services/stages/stagetest"
)

// Store returns a store with the default bounds that has followed
// letters at offsets 0, 1, 2… of partition 0 of complaints.dlq (ids
// "0-0", "0-1"…), keeps its replay marks in a ledger in memory, and
// returns what it replayed so far.
func Store(tb testing.TB, letters ...bus.DeadLetter) (*deadletters.Store, func() []bus.Message) {
	tb.Helper()
	var follow bus.Handler
	marks := ledger.New(bustest.Loopback(&follow), "gateway.ledger", ledger.Retention)
	follow = marks.Follow
	marks.CaughtUp()
	var cfg deadletters.Config
	cfg.Provision()
	rec := &stagetest.RecordingWriter{}
	store := deadletters.New(cfg, rec.Write, marks)
	for i, dl := range letters {
		v, err := json.Marshal(dl)
		if err != nil {
			tb.Fatal(err)
		}
		if err := store.Follow(context.Background(), bus.Message{Topic: bus.TopicDLQ, Offset: int64(i), Value: v, Time: dl.At}); err != nil {
			tb.Fatal(err)
		}
	}
	return store, func() []bus.Message {
		rec.Mu.Lock()
		defer rec.Mu.Unlock()
		return slices.Clone(rec.Msgs)
	}
}
