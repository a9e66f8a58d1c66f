package routing

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"
	"go.uber.org/zap"

	"github.com/tousu/tousu/normalize"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/services/bus"
	"github.com/tousu/tousu/services/stages/record"
)

// correctionsBucket of the router's state: pack name + NUL + case id
// (+ NUL + field, for a grade or validity correction) -> JSON
// router.Correction, the agents' corrections, the latest per case and
// field. The corrections follower fills it from policy.corrections, so
// every router instance holds every correction, whichever instance owns
// the corrected case.
var correctionsBucket = []byte("corrections")

// correctionVersion is the payload version of policy.corrections.
const correctionVersion = 1

// packCorrection is a correction with the pack (name@version) it trains:
// the payload of policy.corrections, keyed by its key.
type packCorrection struct {
	V    int    `json:"v"`
	Pack string `json:"pack"`
	router.Correction
}

// newPackCorrection is the correction an action made to a case of pack.
func newPackCorrection(pack string, c router.Correction) packCorrection {
	return packCorrection{V: correctionVersion, Pack: pack, Correction: c}
}

// key is the message key of the correction on policy.corrections: a later
// correction of the same field of the same case of the same pack replaces
// it, on the compacted topic as in the corrections bucket. A category
// correction is keyed as before grades and validity could be corrected.
func (c packCorrection) key() string { return c.scoped("/") }

// scoped is pack, case and (unless the category) field, joined by sep.
func (c packCorrection) scoped(sep string) string {
	k := c.Pack + sep + c.Case
	if c.Field != "" {
		k += sep + c.Field
	}
	return k
}

// FollowCorrection is the handler of the router's corrections follower: it
// stores a correction from policy.corrections, replacing the case's
// earlier one of the same field, and has the engines retrained when that changed
// anything. A payload that does not decode, of another version, or naming
// no pack or case is rejected (the follower logs and skips it).
func (t *TrainedPacks) FollowCorrection(_ context.Context, m bus.Message) error {
	var c packCorrection
	if err := record.Decode(m, &c); err != nil {
		return err
	}
	if err := record.CheckVersion(m, c.V, correctionVersion); err != nil {
		return err
	}
	if c.Pack == "" || c.Case == "" {
		return bus.Reject(fmt.Errorf("%s payload names no pack or no case (key %q)", m.Topic, m.Key))
	}
	changed, err := t.state.storeCorrection(c)
	if err != nil {
		return fmt.Errorf("store correction of case %s: %w", c.Case, err)
	}
	if changed {
		t.Corrected()
	}
	return nil
}

// Corrections returns the stored corrections by pack.
func (h *History) Corrections() (map[string][]router.Correction, error) {
	out := map[string][]router.Correction{}
	err := h.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(correctionsBucket)
		if b == nil { // a file ReadCorrections opened that never held any
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
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

// ReadCorrections returns the corrections stored in a router's state file
// (DATA/router-history.db) by pack, reading it without changing it, for
// `tousu policy train`. While a router holds the file it fails after a
// second.
func ReadCorrections(path string) (map[string][]router.Correction, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("open %s (stop the router that holds it, or copy it): %w", path, err)
	}
	defer db.Close()
	return (&History{db: db}).Corrections()
}

// caseCorrections returns the stored corrections of case id of pack,
// with the pack.
func (h *History) caseCorrections(pack, id string) ([]packCorrection, error) {
	var out []packCorrection
	prefix := []byte(pack + "\x00" + id)
	err := h.db.View(func(tx *bolt.Tx) error {
		cur := tx.Bucket(correctionsBucket).Cursor()
		for k, v := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = cur.Next() {
			if len(k) > len(prefix) && k[len(prefix)] != 0 {
				continue // another case whose id starts with id
			}
			c := newPackCorrection(pack, router.Correction{})
			if err := json.Unmarshal(v, &c.Correction); err != nil {
				return err
			}
			out = append(out, c)
		}
		return nil
	})
	return out, err
}

// erasedCorrections are the corrections of case c (erased) with what
// they hold of its text replaced by the erased text: written under the
// same keys, they replace the old ones on policy.corrections and in every
// router's state.
func (h *History) erasedCorrections(c router.Case) ([]packCorrection, error) {
	stored, err := h.caseCorrections(c.Pack, c.ID)
	for i := range stored {
		stored[i].Text = router.ClassifierText(c.Subject, c.Description)
		stored[i].Reason = router.EraseText(stored[i].Reason)
	}
	return stored, err
}

// storeCorrection stores c as its case's correction for its pack,
// replacing an earlier one, and reports whether that changed the bucket:
// storing the same correction again (a follower reading the topic from
// the start) only reads.
func (h *History) storeCorrection(c packCorrection) (changed bool, err error) {
	key := []byte(c.scoped("\x00"))
	v, err := json.Marshal(c.Correction)
	if err != nil {
		return false, err
	}
	err = h.db.View(func(tx *bolt.Tx) error {
		changed = !bytes.Equal(tx.Bucket(correctionsBucket).Get(key), v)
		return nil
	})
	if err != nil || !changed {
		return false, err
	}
	err = h.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(correctionsBucket).Put(key, v) })
	return err == nil, err
}

// TrainedPacks is the router's policy: the configured packs with their
// classifiers retrained on the agents' corrections in the router's state.
// Retrain swaps in new packs atomically; Open and ByName always see one
// consistent set. Safe for concurrent use.
type TrainedPacks struct {
	base   *router.Packs
	cur    atomic.Pointer[router.Packs]
	state  *History
	dirty  atomic.Bool
	every  time.Duration
	logger *zap.Logger
	// trained is how many corrections each pack's classifier is trained
	// on.
	trained *prometheus.GaugeVec
}

// NewTrainedPacks returns the packs of base, retrained every interval by
// Run while there are new corrections in state. It registers its metric
// with reg (nil: none).
func NewTrainedPacks(base *router.Packs, state *History, every time.Duration, logger *zap.Logger, reg prometheus.Registerer) *TrainedPacks {
	t := &TrainedPacks{base: base, state: state, every: every, logger: logger,
		trained: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tousu_router_trained_corrections",
			Help: "Agents' category corrections each policy pack's classifier is trained on, by pack."}, []string{"pack"})}
	if reg != nil {
		reg.MustRegister(t.trained)
	}
	t.use(base)
	return t
}

// use makes p the current packs.
func (t *TrainedPacks) use(p *router.Packs) {
	t.cur.Store(p)
	for _, e := range p.Engines() {
		t.trained.WithLabelValues(e.Name()).Set(float64(e.ModelReport().Corrections))
	}
}

// Open implements router.Policy.
func (t *TrainedPacks) Open(c normalize.Complaint, now time.Time) router.Case {
	return t.cur.Load().Open(c, now)
}

// ByName returns the current engine of a pack.
func (t *TrainedPacks) ByName(name string) *router.Engine { return t.cur.Load().ByName(name) }

// Corrected notes that corrections were stored; the next retraining
// round picks them up.
func (t *TrainedPacks) Corrected() { t.dirty.Store(true) }

// Retrain trains the packs again on the stored corrections. Corrections
// of a pack no longer loaded (another version) or no longer valid for it
// are left out and logged.
func (t *TrainedPacks) Retrain() error {
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
		t.use(t.base)
		return nil
	}
	p, err := t.base.WithCorrections(use)
	if err != nil {
		return err
	}
	t.use(p)
	n := 0
	for _, cs := range use {
		n += len(cs)
	}
	t.logger.Info("classifiers retrained with agents' corrections", zap.Int("corrections", n), zap.Int("packs", len(use)))
	return nil
}

// Run retrains every interval while there are new corrections, until ctx
// ends.
func (t *TrainedPacks) Run(ctx context.Context) error {
	tick := time.NewTicker(t.every)
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
