// Package batcher is batch detection (批量投诉). It consumes
// complaints.batch (group Group), where every router sends the complaints
// that open a case, keeps the batch window in its own file, and produces
// flag_batch actions on case.actions and, once per batch, the batch notice
// on the alerts topic. A call acknowledges its messages once the broker
// acknowledged what it wrote and the window is saved.
package batcher

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"
	"go.uber.org/zap"

	"github.com/tousu/tousu/normalize"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/services/boltfile"
	"github.com/tousu/tousu/services/bus"
	"github.com/tousu/tousu/services/prune"
	"github.com/tousu/tousu/services/stages/record"
)

// Group is the consumer group of batch detection.
const Group = "tousu-batcher"

// batchBucket of the batcher's state file: 8-byte received time +
// complaint id -> JSON normalize.BatchEntry, the complaints of the batch
// window.
var batchBucket = []byte("batch")

// batchStore keeps the complaints of the batch window in a bbolt file, so
// that a restarted batcher goes on with the same window. It is bounded:
// entries older than twice the window are pruned at open and by Prune. It
// is safe for concurrent use.
type batchStore struct {
	db     *bolt.DB
	window time.Duration
}

// openBatchStore opens (creating) the state file at path and prunes it as
// of now.
func openBatchStore(path string, window time.Duration, now time.Time) (*batchStore, error) {
	db, err := boltfile.Open(path, batchBucket)
	if err != nil {
		return nil, err
	}
	s := &batchStore{db: db, window: window}
	if _, err := s.Prune(now); err != nil {
		db.Close()
		return nil, fmt.Errorf("prune %s: %w", path, err)
	}
	return s, nil
}

// Close closes the file.
func (s *batchStore) Close() error { return s.db.Close() }

// Entries returns the remembered complaints of the batch window.
func (s *batchStore) Entries() ([]normalize.BatchEntry, error) {
	var out []normalize.BatchEntry
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(batchBucket).ForEach(func(_, v []byte) error {
			var e normalize.BatchEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return err
			}
			out = append(out, e)
			return nil
		})
	})
	return out, err
}

// Save stores entries (new ones, and those whose batch changed) in one
// transaction.
func (s *batchStore) Save(entries []normalize.BatchEntry) error {
	if len(entries) == 0 {
		return nil
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(batchBucket)
		for _, e := range entries {
			v, err := json.Marshal(e)
			if err != nil {
				return err
			}
			if err := b.Put(boltfile.TimeKey(e.ReceivedAt, e.Complaint), v); err != nil {
				return err
			}
		}
		return nil
	})
}

// Prune forgets the entries received more than twice the batch window
// before now (a window of slack for late arrivals) and returns how many.
func (s *batchStore) Prune(now time.Time) (int, error) {
	n := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		old := boltfile.KeysBefore(tx.Bucket(batchBucket), boltfile.TimeKey(now.Add(-2*s.window), ""))
		for _, k := range old {
			if err := tx.Bucket(batchBucket).Delete(k); err != nil {
				return err
			}
		}
		n = len(old)
		return nil
	})
	return n, err
}

// Stage detects batch incidents (批量投诉) among the complaints of
// every customer. Routers own customers by partition, so no router sees
// the complaints of all; each sends the complaints that open a case to
// complaints.batch as a router.BatchCandidate keyed by pack, and the
// batcher, reading every partition, keeps the batch window. When a
// complaint forms or joins a batch, it sends flag_batch actions for the
// cases to flag (keyed by their customers, so that the router owning each
// applies it) and, once per batch, the batch notice on the alerts topic.
//
// A call decides its candidates in order, writes the actions and notices
// in one broker call and only then saves the window; a failure leaves the
// window as it was (it is reloaded), so redelivered candidates are decided
// again the same way. Action and notice ids are deterministic, so a
// message written twice changes nothing. A candidate already in the window
// sends its flag again: the router may have lost the first one.
//
// The window is per process: run one batcher (the escalator target, which
// runs one instance).
type Stage struct {
	out    record.Writer
	store  *batchStore
	cfg    normalize.DedupeConfig
	formed prometheus.Counter
	// cut counts the complaints the window forgot early (Batches.Cut).
	cut    prometheus.Counter
	logger *zap.Logger
	// maxRecordBytes bounds the actions and notices it writes.
	maxRecordBytes int

	mu     sync.Mutex
	window *normalize.Batches // nil until loaded, and after a failed call
}

// Topics are the topics the batcher consumes.
var Topics = []string{bus.TopicBatch}

// Deps is what the batcher is made of.
type Deps struct {
	// Writer writes the flag_batch actions and the batch notices.
	Writer record.Writer
	// Path is the file of the batch window.
	Path   string
	Dedupe normalize.DedupeConfig
	// MaxRecordBytes bounds the actions and notices it writes.
	MaxRecordBytes int
	Logger         *zap.Logger
	Registry       prometheus.Registerer // nil: no metrics registered
}

// New opens the window's file, pruned as of now, and registers
// the batcher's metric with d.Registry.
func New(d Deps) (*Stage, error) {
	store, err := openBatchStore(d.Path, d.Dedupe.BatchWindow, time.Now())
	if err != nil {
		return nil, err
	}
	formed := prometheus.NewCounter(prometheus.CounterOpts{Name: "tousu_batcher_batches_total", Help: "Batch incidents (批量投诉) formed."})
	cut := prometheus.NewCounter(prometheus.CounterOpts{Name: "tousu_batcher_forgotten_early_total",
		Help: "Complaints the batch window forgot before its batch_window ended, to remember at most batch_max_remembered."})
	if d.Registry != nil {
		d.Registry.MustRegister(formed, cut)
	}
	return &Stage{out: d.Writer, store: store, cfg: d.Dedupe, maxRecordBytes: d.MaxRecordBytes, formed: formed, cut: cut, logger: d.Logger}, nil
}

// Close closes the window's file.
func (s *Stage) Close() error { return s.store.Close() }

// Run prunes the window's file until ctx ends.
func (s *Stage) Run(ctx context.Context) error {
	prune.Every(ctx, s.cfg.BatchWindow/4+time.Minute, s.logger, func(now time.Time) error {
		n, err := s.store.Prune(now)
		s.logger.Debug("pruned batch window", zap.Int("entries", n))
		return err
	})
	return nil
}

// Handle decides the candidate of one message.
func (s *Stage) Handle(ctx context.Context, m bus.Message) error {
	return s.Batch(ctx, []bus.Message{m})
}

// Batch decides several candidates, writes the actions and notices in one
// broker call and then saves the window.
func (s *Stage) Batch(ctx context.Context, msgs []bus.Message) (err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.window == nil {
		entries, err := s.store.Entries()
		if err != nil {
			return fmt.Errorf("load batch window: %w", err)
		}
		s.window = normalize.NewBatches(s.cfg, entries)
	}
	defer func() {
		if err != nil {
			s.window = nil // it may hold this call's candidates: reload
		}
	}()
	var out []bus.Message
	var save []normalize.BatchEntry
	formed, cutBefore := 0, s.window.Cut()
	for _, m := range msgs {
		var cand router.BatchCandidate
		if err := record.Decode(m, &cand); err != nil {
			return err
		}
		if err := record.CheckVersion(m, cand.V, router.BatchCandidateVersion); err != nil {
			return err
		}
		bo := s.window.Add(cand.Entry)
		save = append(save, bo.Save...)
		flags := router.BatchFlagsOf(s.cfg, cand, bo)
		for _, a := range flags.Actions {
			if err := record.AppendJSON(&out, s.maxRecordBytes, bus.TopicActions, a.Customer, a); err != nil {
				return err
			}
		}
		if n := flags.Notice; n != nil {
			if err := record.AppendJSON(&out, s.maxRecordBytes, bus.TopicAlerts, n.Batch, n); err != nil {
				return err
			}
			formed++
		}
	}
	if len(out) > 0 {
		if err := s.out.Write(ctx, out...); err != nil {
			return err
		}
	}
	if err := s.store.Save(save); err != nil {
		return fmt.Errorf("save batch window: %w", err)
	}
	s.formed.Add(float64(formed))
	if cut := s.window.Cut() - cutBefore; cut > 0 {
		s.cut.Add(float64(cut))
		s.logger.Warn("batch window full: the earliest complaints were forgotten before batch_window ended",
			zap.Int("forgotten", cut), zap.Int("batch_max_remembered", s.cfg.BatchMaxRemembered))
	}
	return nil
}
