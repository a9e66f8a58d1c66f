package routing

import (
	"context"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/normalize"
	"github.com/tousu/tousu/services/bus"
	"github.com/tousu/tousu/services/stages/stagetest"
)

// logWriter is a broker of one partition: it appends the router.state
// records of every write to a changelog the stage catches up with, and
// fails the writes while fail is set, after taking them, as a broker that
// acknowledged none.
type logWriter struct {
	log  []bus.Message
	fail bool
}

func (w *logWriter) Write(_ context.Context, msgs ...bus.Message) error {
	for _, m := range stateRecords(msgs) {
		m.Offset = int64(len(w.log))
		w.log = append(w.log, m)
	}
	if w.fail {
		return context.DeadlineExceeded
	}
	return nil
}

// CatchUp hands fn the changelog from offset from (partition 0 only).
func (w *logWriter) CatchUp(_ context.Context, partition int, from int64, fn func(bus.Message) error) (int64, error) {
	for _, m := range w.log[from:] {
		if err := fn(m); err != nil {
			return m.Offset, err
		}
	}
	return int64(len(w.log)), nil
}

// writeTransactions returns how many write transactions the state file
// has committed (bbolt's transaction id).
func writeTransactions(tb testing.TB, h *History) int {
	tb.Helper()
	var id int
	if err := h.db.View(func(tx *bolt.Tx) error { id = tx.ID(); return nil }); err != nil {
		tb.Fatal(err)
	}
	return id
}

// hotlineComplaint is a complaint a hotline agent typed in for a
// customer of the given phone number.
func hotlineComplaint(n int, phone, text string, at time.Time) normalize.Complaint {
	id := "hotline:400:2026030" + string(rune('0'+n))
	return normalize.Complaint{V: normalize.SchemaVersion, ID: id, Reference: ingest.ReferenceFor(id), Channel: ingest.ChannelHotline, Source: "400",
		ReceivedAt: at, Customer: normalize.Customer{Name: "陈先生", Phone: phone, Key: "phone:" + phone}, Description: text}
}

// TestCatchUpOwnRecordsInStateCommit: when router.state gained only the
// router's own records since it last read it, the call commits its state
// and the partition's next offset in one transaction (two before: one to
// move the offset, one for the state); another writer's records are
// restored before the call decides. A failed call leaves the offset where
// it was.
func TestCatchUpOwnRecordsInStateCommit(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2026, 3, 4, 2, 10, 0, 0, time.UTC)
	tests := []struct {
		name string
		// foreign adds records of another router to the changelog
		// before the second call.
		foreign          bool
		wantTransactions int
	}{
		{name: "only its own records", wantTransactions: 1},                        // the commit
		{name: "another router's records too", foreign: true, wantTransactions: 2}, // the restore, the commit
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &logWriter{}
			s, _, state := telecomStage(t, w, at)
			s.changelog = w
			first := hotlineComplaint(1, "+8613812345678", "客户反映3月1日起手机无信号，营业厅说基站检修，至今未恢复，要求减免当月月租", at)
			if err := s.Batch(ctx, []bus.Message{stagetest.MessageOf(t, first)}); err != nil {
				t.Fatal(err)
			}
			if tt.foreign {
				other, _, _ := telecomStage(t, w, at)
				theirs := hotlineComplaint(2, "+8613900001111", "宽带2号晚上又断了，师傅上门说光猫坏了，换了还是掉线！！", at)
				if err := other.Batch(ctx, []bus.Message{stagetest.MessageOf(t, theirs)}); err != nil {
					t.Fatal(err)
				}
			}
			// The broker fails the first try of the next complaint.
			second := hotlineComplaint(3, "+8613812345678", "又打来催：信号问题还没解决，上次说三天内回复，今天3/4了没人联系", at.Add(time.Hour))
			before := writeTransactions(t, state)
			w.fail = true
			if err := s.Batch(ctx, []bus.Message{stagetest.MessageOf(t, second)}); err == nil {
				t.Fatal("no error with the broker down")
			}
			if next, err := state.Applied(0); !tt.foreign && (next != 0 || err != nil) {
				t.Fatalf("after a failed call the next offset is %d (%v), want 0", next, err)
			}
			w.fail = false
			end := int64(len(w.log)) // the good call reads up to here
			if err := s.Batch(ctx, []bus.Message{stagetest.MessageOf(t, second)}); err != nil {
				t.Fatal(err)
			}
			if got := writeTransactions(t, state) - before; got != tt.wantTransactions {
				t.Errorf("the failed and the good call committed %d transactions, want %d", got, tt.wantTransactions)
			}
			if next, err := state.Applied(0); next != end || err != nil {
				t.Errorf("next offset %d (%v), want %d", next, err, end)
			}
			if h, err := state.Load(ctx, "phone:+8613900001111"); tt.foreign && (err != nil || len(h.Cases) != 1) {
				t.Errorf("another router's customer: %d cases (%v), want theirs restored", len(h.Cases), err)
			}
		})
	}
}
