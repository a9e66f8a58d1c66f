// Package escalator is the escalation clock. It consumes the cases topic
// (group Group), keeps the next alert of every case in its schedule file,
// and when an alert falls due produces an escalate action on case.actions
// for the router to raise. A cases message is acknowledged once its next
// alert is in the schedule file; a due alert leaves the schedule once the
// broker acknowledged its action.
package escalator

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"
	"go.uber.org/zap"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/normalize"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/services/boltfile"
	"github.com/tousu/tousu/services/bus"
	"github.com/tousu/tousu/services/stages/record"
)

// Group is the escalator's consumer group.
const Group = "tousu-escalator"

// The buckets of the escalator's schedule file.
var (
	// due: 8-byte alert time + case id -> JSON scheduledAlert.
	dueBucket = []byte("due")
	// scheduled: case id -> JSON scheduledAlert (its due key and revision).
	scheduledBucket = []byte("scheduled")
	// escalatorMeta: "rewound" -> nothing, once the escalator group was
	// rewound to the start of cases for this file.
	escalatorMeta = []byte("meta")
	keyRewound    = []byte("rewound")
)

// scheduledAlert is the next alert of one case.
type scheduledAlert struct {
	Case     string       `json:"case"`
	Customer string       `json:"customer"`
	Revision int64        `json:"revision"`
	Alert    router.Alert `json:"alert"`
}

// Stage is the escalation clock. It follows the cases topic, keeps
// the next alert of every case that has one in a bbolt file, and when an
// alert falls due asks the router to raise it with an escalate action on
// case.actions; the router marks it raised on the case, raises the
// escalation level and emits the alert on the alerts topic, and the new
// revision of the case brings the case's next alert back here. Raising is
// idempotent (the action's id names the alert), so an action sent twice
// after a crash is harmless.
//
// The schedule is per process: run one escalator (it reads every partition
// of cases); a second one would start from the committed offsets without
// the first one's schedule. A new schedule file (a first start, or a lost
// volume) is filled from the whole of cases, which is compacted to the
// latest revision of every case: see Rewind.
type Stage struct {
	db       *bolt.DB
	out      record.Writer
	interval time.Duration
	now      func() time.Time
	logger   *zap.Logger
	sent     prometheus.Counter
}

// Topics are the topics the escalator consumes.
var Topics = []string{bus.TopicCases}

// Deps is what the escalator is made of.
type Deps struct {
	// Writer writes the escalate actions.
	Writer record.Writer
	// Path is the schedule file.
	Path string
	// Interval is how often run looks for due alerts.
	Interval time.Duration
	Logger   *zap.Logger
	Registry prometheus.Registerer // nil: no metrics registered
}

// New opens the schedule file and registers the escalator's
// metric with d.Registry.
func New(d Deps) (*Stage, error) {
	db, err := boltfile.Open(d.Path, dueBucket, scheduledBucket, escalatorMeta)
	if err != nil {
		return nil, err
	}
	sent := prometheus.NewCounter(prometheus.CounterOpts{Name: "tousu_escalator_alerts_due_total", Help: "Escalation alerts the escalator found due and asked the router to raise."})
	if d.Registry != nil {
		d.Registry.MustRegister(sent)
	}
	return &Stage{db: db, out: d.Writer, interval: d.Interval, now: time.Now, logger: d.Logger, sent: sent}, nil
}

// Rewind makes the escalator's consumer group read cases from the start
// when the schedule file has not been filled from it yet, so that a new
// file learns the next alert of every open case, not only of the cases
// that change from now on. The group must have no members: a crashed
// escalator's membership lasts until its session times out, so rewind
// retries until ctx ends.
func (e *Stage) Rewind(ctx context.Context, cfg bus.Config) error {
	done := false
	if err := e.db.View(func(tx *bolt.Tx) error {
		done = tx.Bucket(escalatorMeta).Get(keyRewound) != nil
		return nil
	}); err != nil || done {
		return err
	}
	for {
		err := bus.RewindGroup(ctx, cfg, Group, bus.TopicCases)
		if err == nil {
			break
		}
		e.logger.Info("waiting to read cases from the start for the new schedule file", zap.Error(err))
		select {
		case <-ctx.Done():
			return fmt.Errorf("rewind %s to the start of %s (is another escalator running?): %w", Group, bus.TopicCases, err)
		case <-time.After(time.Second):
		}
	}
	return e.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(escalatorMeta).Put(keyRewound, nil) })
}

// Close closes the schedule file.
func (e *Stage) Close() error { return e.db.Close() }

// Handle schedules the next alert of the case of one message.
func (e *Stage) Handle(ctx context.Context, m bus.Message) error {
	return e.Batch(ctx, []bus.Message{m})
}

// Batch schedules the next alert of every case in msgs, in one
// transaction; an older revision than the one scheduled changes nothing.
func (e *Stage) Batch(_ context.Context, msgs []bus.Message) error {
	cases := make([]router.Case, len(msgs))
	for i, m := range msgs {
		if err := record.Decode(m, &cases[i]); err != nil {
			return err
		}
	}
	return e.db.Update(func(tx *bolt.Tx) error {
		for _, c := range cases {
			if err := schedule(tx, c); err != nil {
				return err
			}
		}
		return nil
	})
}

func schedule(tx *bolt.Tx, c router.Case) error {
	byCase, due := tx.Bucket(scheduledBucket), tx.Bucket(dueBucket)
	if v := byCase.Get([]byte(c.ID)); v != nil {
		var old scheduledAlert
		if err := json.Unmarshal(v, &old); err == nil {
			if old.Revision > c.Revision {
				return nil
			}
			if err := due.Delete(boltfile.TimeKey(old.Alert.At, c.ID)); err != nil {
				return err
			}
		}
		if err := byCase.Delete([]byte(c.ID)); err != nil {
			return err
		}
	}
	next, ok := c.NextAlert()
	if !ok {
		return nil
	}
	v, err := json.Marshal(scheduledAlert{Case: c.ID, Customer: c.Customer.Key, Revision: c.Revision, Alert: next})
	if err != nil {
		return err
	}
	if err := byCase.Put([]byte(c.ID), v); err != nil {
		return err
	}
	return due.Put(boltfile.TimeKey(next.At, c.ID), v)
}

// raiseDue sends an escalate action for every alert due by now and then
// takes them off the schedule; the case's next revision schedules its
// next alert. It returns how many it sent.
func (e *Stage) raiseDue(ctx context.Context) (int, error) {
	now := e.now()
	cutoff := boltfile.TimeKey(now, "\xff")
	var keys [][]byte
	var msgs []bus.Message
	err := e.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(dueBucket).Cursor()
		for k, v := c.First(); k != nil && bytes.Compare(k, cutoff) <= 0 && len(msgs) < 500; k, v = c.Next() {
			var s scheduledAlert
			if err := json.Unmarshal(v, &s); err != nil {
				return fmt.Errorf("schedule entry %x: %w", k, err)
			}
			a := router.EscalateAction(router.Case{ID: s.Case, Customer: normalize.Customer{Key: s.Customer}}, s.Alert, now)
			b, err := ingest.EncodeJSON(a)
			if err != nil {
				return err
			}
			keys = append(keys, bytes.Clone(k))
			msgs = append(msgs, bus.Message{Topic: bus.TopicActions, Key: []byte(a.Customer), Value: b})
		}
		return nil
	})
	if err != nil || len(msgs) == 0 {
		return 0, err
	}
	if err := e.out.Write(ctx, msgs...); err != nil {
		return 0, err
	}
	e.sent.Add(float64(len(msgs)))
	return len(msgs), e.db.Update(func(tx *bolt.Tx) error {
		for _, k := range keys {
			if err := tx.Bucket(dueBucket).Delete(k); err != nil {
				return err
			}
			if err := tx.Bucket(scheduledBucket).Delete(k[8:]); err != nil {
				return err
			}
		}
		return nil
	})
}

// Run raises due alerts every interval until ctx ends.
func (e *Stage) Run(ctx context.Context) error {
	t := time.NewTicker(e.interval)
	defer t.Stop()
	for {
		if _, err := e.raiseDue(ctx); err != nil && ctx.Err() == nil {
			e.logger.Warn("raising due alerts failed; trying again", zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
