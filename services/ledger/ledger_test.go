package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tousu/tousu/services/bus"
)

// wire records the messages a Ledger writes; it fails while err is set.
type wire struct {
	mu   sync.Mutex
	msgs []bus.Message
	err  error
}

func (w *wire) write(_ context.Context, msgs ...bus.Message) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	w.msgs = append(w.msgs, msgs...)
	return nil
}

func values(l *Ledger, key string) []string {
	var out []string
	for _, e := range l.Entries(key) {
		out = append(out, string(e.Value))
	}
	return out
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestLedgerAppendAndFollow(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	record := func(id, key string, at time.Time, value string) bus.Message {
		b, _ := json.Marshal(struct {
			V     int       `json:"v"`
			ID    string    `json:"id"`
			Key   string    `json:"key"`
			At    time.Time `json:"at"`
			Value []byte    `json:"value"`
		}{Version, id, key, at, []byte(value)})
		return bus.Message{Topic: "t", Key: []byte(key), Value: b}
	}
	tests := []struct {
		name     string
		appends  []string      // values appended under "k" at now
		follow   []bus.Message // then followed
		want     []string      // Entries("k")
		rejected int           // follows rejected
	}{
		{"own appends", []string{"a", "b"}, nil, []string{"a", "b"}, 0},
		{"own appends followed back once", []string{"a"}, nil, []string{"a"}, 0},
		{"another replica's, in time order", []string{"b"}, []bus.Message{record("x", "k", now.Add(-time.Minute), "a"), record("y", "k", now.Add(time.Minute), "c")}, []string{"a", "b", "c"}, 0},
		{"read again", nil, []bus.Message{record("x", "k", now, "a"), record("x", "k", now, "a")}, []string{"a"}, 0},
		{"other keys apart", nil, []bus.Message{record("x", "other", now, "a")}, nil, 0},
		{"past the retention", nil, []bus.Message{record("x", "k", now.Add(-Retention-time.Second), "a")}, nil, 0},
		{"garbage rejected", nil, []bus.Message{{Topic: "t", Value: []byte("{")}, record("", "k", now, "a"), record("x", "", now, "a")}, nil, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &wire{}
			l := New(w.write, "t", Retention)
			l.CaughtUp()
			l.now = func() time.Time { return now }
			for _, v := range tt.appends {
				if err := l.Append(context.Background(), "k", []byte(v)); err != nil {
					t.Fatal(err)
				}
			}
			// What this replica wrote comes back through its follower.
			follow := append(append([]bus.Message(nil), w.msgs...), tt.follow...)
			rejected := 0
			for _, m := range follow {
				if err := l.Follow(context.Background(), m); bus.IsRejected(err) {
					rejected++
				} else if err != nil {
					t.Fatalf("Follow: %v", err)
				}
			}
			if got := values(l, "k"); !equal(got, tt.want) || rejected != tt.rejected {
				t.Fatalf("entries %q, %d rejected; want %q, %d", got, rejected, tt.want, tt.rejected)
			}
			for _, m := range w.msgs {
				if m.Topic != "t" || string(m.Key) != "k" {
					t.Fatalf("wrote to %s with key %s, want topic t, key k", m.Topic, m.Key)
				}
			}
		})
	}
}

func TestLedgerAppendFails(t *testing.T) {
	w := &wire{err: errors.New("not enough replicas")}
	l := New(w.write, "t", Retention)
	l.CaughtUp()
	if err := l.Append(context.Background(), "k", []byte("a")); err == nil {
		t.Fatal("Append succeeded without the broker's acknowledgement")
	}
	if got := l.Entries("k"); len(got) != 0 {
		t.Fatalf("an unacknowledged record is in the view: %v", got)
	}
}

func TestLedgerPrune(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	w := &wire{}
	l := New(w.write, "t", Retention)
	l.CaughtUp()
	for i, key := range []string{"old", "old", "new"} {
		l.now = func() time.Time { return now.Add(time.Duration(i) * Retention / 2) }
		if err := l.Append(context.Background(), key, []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	// At now + 1.5 retention the first "old" is gone; the second (at now +
	// retention/2) just made it.
	if n := l.Prune(now.Add(Retention * 3 / 2)); n != 0 || len(l.Entries("old")) != 1 {
		t.Fatalf("pruned %d keys, %d old entries left; want 0, 1", n, len(l.Entries("old")))
	}
	if n := l.Prune(now.Add(2 * Retention)); n != 1 || len(l.Entries("old")) != 0 || len(l.Entries("new")) != 1 {
		t.Fatalf("pruned %d keys; want 1, with the new one kept", n)
	}
}

// FuzzFollow checks that any message is either rejected or becomes one
// entry of the key it names.
func FuzzFollow(f *testing.F) {
	f.Add([]byte(`{"v":1,"id":"x","key":"status:TS3K9QW2M7PX","at":"2026-12-06T12:00:00Z","value":"dHJpZWQ="}`))
	f.Add([]byte(`{"v":2}`))
	f.Add([]byte(`[]`))
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, value []byte) {
		l := New((&wire{}).write, "t", Retention)
		l.CaughtUp()
		l.now = func() time.Time { return now }
		err := l.Follow(context.Background(), bus.Message{Topic: "t", Value: value})
		if err != nil && !bus.IsRejected(err) {
			t.Fatalf("Follow: %v, want nil or a rejection", err)
		}
		var r record
		if err == nil && json.Unmarshal(value, &r) == nil && now.Sub(r.At) <= Retention && len(l.Entries(r.Key)) != 1 {
			t.Fatalf("accepted record of %q is not an entry", r.Key)
		}
	})
}

// TestLedgerWaitsUntilCaughtUp checks that a Ledger takes no Append and is
// not ready before its follower has read what the topic held: until then
// it would count other replicas' failed look-ups low.
func TestLedgerWaitsUntilCaughtUp(t *testing.T) {
	w := &wire{}
	l := New(w.write, "t", Retention)
	if err := l.Ready(context.Background()); err == nil {
		t.Error("ready before catching up")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := l.Append(ctx, "k", []byte("a")); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Append before catching up: %v, want it to wait for ctx", err)
	}
	if got := l.Entries("k"); len(got) != 0 {
		t.Errorf("a record appended before catching up is in the view: %v", got)
	}
	l.CaughtUp()
	l.CaughtUp() // again: nothing happens
	if err := l.Ready(context.Background()); err != nil {
		t.Errorf("not ready after catching up: %v", err)
	}
	if err := l.Append(context.Background(), "k", []byte("a")); err != nil {
		t.Errorf("Append after catching up: %v", err)
	}
}
