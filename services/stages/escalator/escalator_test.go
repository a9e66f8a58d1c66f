package escalator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/zap"

	"github.com/tousu/tousu/internal/polltest"
	"github.com/tousu/tousu/normalize"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/services/bus"
	"github.com/tousu/tousu/services/stages/stagetest"
)

// caseMessage is a case as the cases topic carries it.
func caseMessage(tb testing.TB, c router.Case) bus.Message {
	tb.Helper()
	return bus.Message{Topic: bus.TopicCases, Key: []byte(c.ID), Value: stagetest.MustJSON(tb, c)}
}

// escalateActions decodes the escalate actions written.
func escalateActions(tb testing.TB, w *stagetest.RecordingWriter) []router.Action {
	tb.Helper()
	w.Mu.Lock()
	defer w.Mu.Unlock()
	var out []router.Action
	for _, m := range w.Msgs {
		var a router.Action
		if err := json.Unmarshal(m.Value, &a); err != nil {
			tb.Fatal(err)
		}
		if m.Topic != bus.TopicActions || string(m.Key) != a.Customer {
			tb.Fatalf("action on %s keyed %q, want case.actions keyed by the customer %q", m.Topic, m.Key, a.Customer)
		}
		out = append(out, a)
	}
	return out
}

// TestEscalatorRaisesAlertsWhenDue: the escalator schedules each case's
// next alert, asks for it only once it is due, ignores an older revision,
// forgets a case whose clocks stopped, and takes the next alert from the
// case's next revision.
func TestEscalatorRaisesAlertsWhenDue(t *testing.T) {
	w := &stagetest.RecordingWriter{}
	esc, err := New(Deps{Writer: w, Path: filepath.Join(t.TempDir(), "escalator.db"), Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer esc.Close()
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	now := t0
	esc.now = func() time.Time { return now }
	ctx := context.Background()

	deadline := router.Deadline{Name: "reply", Due: t0.Add(10 * time.Hour), StartedAt: t0, Start: "received", Stop: "resolved"}
	c := router.Case{ID: "TS1", Revision: 2, Customer: normalize.Customer{Key: "phone:+8613912345678"}, Status: router.StatusOpen,
		Deadlines: []router.Deadline{deadline},
		Escalation: router.Escalation{Alerts: []router.Alert{
			{At: t0.Add(5 * time.Hour), Level: 1, Clock: "reply", Step: "50%", Notify: []string{"组长"}},
			{At: t0.Add(10 * time.Hour), Level: 2, Clock: "reply", Step: "breach", Notify: []string{"主任"}},
		}}}
	stale := c
	stale.Revision = 1
	stale.Escalation.Alerts = []router.Alert{{At: t0, Level: 3, Clock: "reply", Step: "stale", Notify: []string{"x"}}}
	if err := esc.Batch(ctx, []bus.Message{caseMessage(t, c), caseMessage(t, stale)}); err != nil {
		t.Fatal(err)
	}
	raise := func(want int) []router.Action {
		t.Helper()
		before := len(escalateActions(t, w))
		n, err := esc.raiseDue(ctx)
		if err != nil || n != want {
			t.Fatalf("raiseDue at %s = %d, %v; want %d", now.Sub(t0), n, err, want)
		}
		return escalateActions(t, w)[before:]
	}
	raise(0) // nothing due yet, and the stale revision's alert is ignored
	now = t0.Add(5 * time.Hour)
	if got := raise(1); got[0].Step != "50%" || got[0].Case != "TS1" || got[0].Kind != router.ActionEscalate || got[0].Level != 1 {
		t.Errorf("action = %+v", got[0])
	}
	raise(0) // asked once; the case's next revision brings the next alert

	// The router raised the 50% alert: the next revision schedules the breach.
	c.Revision = 3
	c.Escalation.Alerts[0].RaisedAt = now
	if err := esc.Handle(ctx, caseMessage(t, c)); err != nil {
		t.Fatal(err)
	}
	now = t0.Add(11 * time.Hour)
	if got := raise(1); got[0].Step != "breach" {
		t.Errorf("second action = %+v", got[0])
	}

	// A resolved case's stopped clock raises nothing more.
	c.Revision, c.Status = 4, router.StatusResolved
	c.Deadlines[0].StoppedAt = now
	if err := esc.Handle(ctx, caseMessage(t, c)); err != nil {
		t.Fatal(err)
	}
	now = t0.Add(48 * time.Hour)
	raise(0)

	// A failed write leaves the alert scheduled.
	c.Revision, c.Status = 5, router.StatusOpen
	c.Deadlines[0].StoppedAt = time.Time{}
	c.Escalation.Alerts[1].RaisedAt = time.Time{}
	if err := esc.Handle(ctx, caseMessage(t, c)); err != nil {
		t.Fatal(err)
	}
	w.Mu.Lock()
	w.Fail = errors.New("broker down")
	w.Mu.Unlock()
	if _, err := esc.raiseDue(ctx); err == nil {
		t.Fatal("raiseDue with the broker down: no error")
	}
	w.Mu.Lock()
	w.Fail = nil
	w.Mu.Unlock()
	raise(1)
}

// TestEscalatorNewScheduleReadsAllCases: an escalator whose schedule file
// is new (a first start, or a lost volume) reads cases from the start,
// although its group had read them before, and so knows the next alert of
// every open case; an escalator with its file does not rewind.
func TestEscalatorNewScheduleReadsAllCases(t *testing.T) {
	ctx := context.Background()
	cfg, producer := stagetest.StartBroker(t)
	t0 := time.Now().UTC()
	var msgs []bus.Message
	for i := range 3 {
		deadline := router.Deadline{Name: "reply", Due: t0.Add(48 * time.Hour), StartedAt: t0, Start: "received", Stop: "resolved"}
		c := router.Case{ID: fmt.Sprint("TS", i), Revision: 1, Customer: normalize.Customer{Key: fmt.Sprint("phone:+861390000000", i)}, Status: router.StatusOpen,
			Deadlines: []router.Deadline{deadline}, Escalation: router.Escalation{Alerts: []router.Alert{{At: t0.Add(24 * time.Hour), Level: 1, Clock: "reply", Step: "50%"}}}}
		msgs = append(msgs, caseMessage(t, c))
	}
	if err := producer.Write(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	// An earlier escalator read them, and its file is gone.
	run := func(esc *Stage) func() {
		c, err := bus.NewConsumer(cfg, bus.ConsumerConfig{Group: Group, Topic: bus.TopicCases, Batch: esc.Batch}, producer, esc.Handle, zap.NewNop(), nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { c.Run(ctx); close(done) }()
		return func() { cancel(); <-done; c.Close() }
	}
	scheduled := func(esc *Stage) int {
		n := 0
		esc.db.View(func(tx *bolt.Tx) error { n = tx.Bucket(scheduledBucket).Stats().KeyN; return nil })
		return n
	}
	waitScheduled := func(esc *Stage, want int) {
		t.Helper()
		if !polltest.Within(polltest.Patience, func() bool { return scheduled(esc) == want }) {
			t.Fatalf("%d cases scheduled, want %d", scheduled(esc), want)
		}
	}
	first, err := New(Deps{Writer: producer, Path: filepath.Join(t.TempDir(), "escalator.db"), Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	stop := run(first)
	waitScheduled(first, 3)
	stop()
	if lag, err := bus.Lag(ctx, cfg, Group, bus.TopicCases); err != nil || sum(lag) != 0 {
		t.Fatalf("lag after the first escalator: %v %v", lag, err)
	}

	fresh, err := New(Deps{Writer: producer, Path: filepath.Join(t.TempDir(), "escalator.db"), Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	rewindCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := fresh.Rewind(rewindCtx, cfg); err != nil {
		t.Fatal(err)
	}
	stop = run(fresh)
	defer stop()
	waitScheduled(fresh, 3)
	// Its file now says it was filled from the start: no second rewind,
	// even with the group running.
	if err := fresh.Rewind(rewindCtx, cfg); err != nil {
		t.Errorf("second rewind: %v", err)
	}
}

func sum(m map[int]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}
