package app

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/zap"

	"github.com/tousu/tousu/normalize"
	"github.com/tousu/tousu/router"
)

// correctionsBucket of the router's state: pack name + NUL + case id ->
// JSON router.Correction, the agents' category corrections, the latest per
// case.
var correctionsBucket = []byte("corrections")

// packCorrection is a correction with the pack (name@version) it trains.
type packCorrection struct {
	Pack string
	router.Correction
}

// Corrections returns the stored corrections by pack.
func (h *boltHistory) Corrections() (map[string][]router.Correction, error) {
	out := map[string][]router.Correction{}
	err := h.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(correctionsBucket).ForEach(func(k, v []byte) error {
			var c router.Correction
			if err := json.Unmarshal(v, &c); err != nil {
				return err
			}
			for i, b := range k {
				if b == 0 {
					out[string(k[:i])] = append(out[string(k[:i])], c)
					break
				}
			}
			return nil
		})
	})
	return out, err
}

func putCorrection(tx *bolt.Tx, c packCorrection) error {
	v, err := json.Marshal(c.Correction)
	if err != nil {
		return err
	}
	return tx.Bucket(correctionsBucket).Put([]byte(c.Pack+"\x00"+c.Case), v)
}

// trainedPacks is the router's policy: the configured packs with their
// classifiers retrained on the agents' corrections in the router's state.
// Retrain swaps in new packs atomically; Open and ByName always see one
// consistent set. Safe for concurrent use.
type trainedPacks struct {
	base   *router.Packs
	cur    atomic.Pointer[router.Packs]
	state  *boltHistory
	dirty  atomic.Bool
	logger *zap.Logger
}

func newTrainedPacks(base *router.Packs, state *boltHistory, logger *zap.Logger) *trainedPacks {
	t := &trainedPacks{base: base, state: state, logger: logger}
	t.cur.Store(base)
	return t
}

// Open implements router.Policy.
func (t *trainedPacks) Open(c normalize.Complaint, now time.Time) router.Case {
	return t.cur.Load().Open(c, now)
}

// ByName returns the current engine of a pack.
func (t *trainedPacks) ByName(name string) *router.Engine { return t.cur.Load().ByName(name) }

// Corrected notes that corrections were stored; the next retraining
// round picks them up.
func (t *trainedPacks) Corrected() { t.dirty.Store(true) }

// Retrain trains the packs again on the stored corrections. Corrections
// of a pack no longer loaded (another version) or no longer valid for it
// are left out and logged.
func (t *trainedPacks) Retrain() error {
	stored, err := t.state.Corrections()
	if err != nil {
		return err
	}
	use := map[string][]router.Correction{}
	for pack, cs := range stored {
		e := t.base.ByName(pack)
		if e == nil {
			t.logger.Warn("corrections of a pack that is not loaded are not used", zap.String("pack", pack), zap.Int("corrections", len(cs)))
			continue
		}
		for _, c := range cs {
			if err := e.CheckCorrection(c); err != nil {
				t.logger.Warn("a stored correction no longer fits its pack", zap.String("case", c.Case), zap.Error(err))
				continue
			}
			use[pack] = append(use[pack], c)
		}
	}
	if len(use) == 0 {
		t.cur.Store(t.base)
		return nil
	}
	p, err := t.base.WithCorrections(use)
	if err != nil {
		return err
	}
	t.cur.Store(p)
	n := 0
	for _, cs := range use {
		n += len(cs)
	}
	t.logger.Info("classifiers retrained with agents' corrections", zap.Int("corrections", n), zap.Int("packs", len(use)))
	return nil
}

// run retrains every interval while there are new corrections, until ctx
// ends.
func (t *trainedPacks) run(ctx context.Context, every time.Duration) error {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			if t.dirty.Swap(false) {
				if err := t.Retrain(); err != nil && !errors.Is(err, context.Canceled) {
					t.logger.Error("retrain classifiers", zap.Error(err))
					t.dirty.Store(true)
				}
			}
		}
	}
}
