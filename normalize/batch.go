package normalize

import (
	"slices"
	"time"

	"github.com/tousu/tousu/ingest"
)

// BatchEntry is a complaint remembered for batch detection: one that opened
// a case.
type BatchEntry struct {
	Complaint  string    `json:"complaint"`
	Customer   string    `json:"customer"`
	Case       string    `json:"case"`
	ReceivedAt time.Time `json:"received_at"`
	Sketch     Sketch    `json:"sketch"`
	// Batch is the batch incident the entry belongs to, if any.
	Batch string `json:"batch,omitempty"`
}

// BatchOutcome says what adding a complaint to Batches did.
type BatchOutcome struct {
	// Batch is the batch the complaint belongs to; empty when none.
	Batch string
	// Formed is true when the batch formed with this complaint: the one
	// time to alert it.
	Formed bool
	// Flag lists the entries that joined Batch now, this complaint's
	// included: their cases are to be flagged.
	Flag []BatchEntry
	// Customers is how many different customers the batch had when it
	// formed (with Formed).
	Customers int
	// Save lists the entries to persist: new ones and those whose Batch
	// changed. Persisted entries are what NewBatches starts from.
	Save []BatchEntry
}

// BatchID derives a batch incident's id from the complaint that started it:
// "PL" (批量) and ten characters, stable for the same complaint.
func BatchID(complaintID string) string {
	return "PL" + ingest.ReferenceFor("batch\x00" + complaintID)[2:]
}

// Batches finds batch complaints (批量投诉): complaints of at least
// BatchMinCustomers different customers, pairwise reachable through
// complaints at least BatchSimilarity similar, received within BatchWindow
// of each other. It remembers the complaints of the last BatchWindow (by
// received time) in memory, at most BatchMaxRemembered of them (a flood
// shortens the window: Cut), indexed by locality-sensitive hashing so that
// a complaint is compared only with the few that share a band of its
// min-hash signature, not with every recent complaint.
//
// Batches sees only the complaints given to it: the router instance's own
// customers. It is not safe for concurrent use; the router stage calls it
// from its one consumer loop.
type Batches struct {
	cfg     DedupeConfig
	byID    map[string]*batchItem
	buckets map[uint64][]*batchItem
	items   []*batchItem
	newest  time.Time
	pruned  time.Time
	visits  uint64
	// cut counts the complaints forgotten before their window ended, to
	// stay within BatchMaxRemembered.
	cut int
}

type batchItem struct {
	BatchEntry
	bands [bandCount]uint64
	visit uint64 // the Add that last looked at it
}

// NewBatches starts batch detection from persisted entries (those
// BatchOutcome.Save returned); entries older than the window are dropped.
func NewBatches(cfg DedupeConfig, entries []BatchEntry) *Batches {
	b := &Batches{cfg: cfg, byID: map[string]*batchItem{}, buckets: map[uint64][]*batchItem{}}
	slices.SortStableFunc(entries, func(x, y BatchEntry) int { return x.ReceivedAt.Compare(y.ReceivedAt) })
	for _, e := range entries {
		if len(e.Sketch) == 0 {
			continue
		}
		if e.ReceivedAt.After(b.newest) {
			b.newest = e.ReceivedAt
		}
		if it, ok := b.byID[e.Complaint]; ok {
			it.Batch = e.Batch
			continue
		}
		b.insert(e)
	}
	b.prune()
	return b
}

// Len is how many complaints are remembered.
func (b *Batches) Len() int { return len(b.items) }

// Cut is how many complaints were forgotten before their window ended, to
// keep at most BatchMaxRemembered.
func (b *Batches) Cut() int { return b.cut }

func (b *Batches) enabled() bool { return !b.cfg.Disabled && !b.cfg.BatchDisabled }

// Add remembers a complaint that opened a case and says whether it is part
// of a batch: it joins the batch of a similar remembered complaint, or forms
// a new one when similar complaints of enough different customers are
// within the window (every one of them joins it then). Adding a complaint
// already remembered changes nothing. A customer's complaint similar to
// another of theirs in the window is not remembered: it adds no customer.
func (b *Batches) Add(e BatchEntry) BatchOutcome {
	if !b.enabled() || len(e.Sketch) == 0 || Anonymous(e.Customer) {
		return BatchOutcome{}
	}
	if it, ok := b.byID[e.Complaint]; ok {
		return BatchOutcome{Batch: it.Batch}
	}
	if e.ReceivedAt.After(b.newest) {
		b.newest = e.ReceivedAt
		if b.newest.Sub(b.pruned) > b.cfg.BatchWindow/4 {
			b.prune()
		}
	}
	bands := bandsOf(e.Sketch)
	var similar []*batchItem
	sameCustomer := false
	b.visits++
	for _, key := range bands {
		bucket := b.buckets[key]
		for i := len(bucket) - 1; i >= 0; i-- { // newest first
			it := bucket[i]
			if it.visit == b.visits {
				continue
			}
			it.visit = b.visits
			if e.ReceivedAt.Sub(it.ReceivedAt).Abs() > b.cfg.BatchWindow || Similarity(e.Sketch, it.Sketch) < b.cfg.BatchSimilarity {
				continue
			}
			if it.Batch != "" {
				e.Batch = it.Batch
				b.insertBands(e, bands)
				return BatchOutcome{Batch: e.Batch, Flag: []BatchEntry{e}, Save: []BatchEntry{e}}
			}
			if it.Customer == e.Customer {
				sameCustomer = true
				continue
			}
			similar = append(similar, it)
		}
	}
	customers := map[string]bool{e.Customer: true}
	for _, it := range similar {
		customers[it.Customer] = true
	}
	if len(customers) < b.cfg.BatchMinCustomers {
		if sameCustomer {
			return BatchOutcome{}
		}
		b.insertBands(e, bands)
		return BatchOutcome{Save: []BatchEntry{e}}
	}
	seed := e
	for _, it := range similar {
		if c := it.ReceivedAt.Compare(seed.ReceivedAt); c < 0 || c == 0 && it.Complaint < seed.Complaint {
			seed = it.BatchEntry
		}
	}
	id := BatchID(seed.Complaint)
	e.Batch = id
	out := BatchOutcome{Batch: id, Formed: true, Customers: len(customers)}
	slices.SortFunc(similar, func(x, y *batchItem) int { return x.ReceivedAt.Compare(y.ReceivedAt) })
	for _, it := range similar {
		it.Batch = id
		out.Flag = append(out.Flag, it.BatchEntry)
	}
	b.insertBands(e, bands)
	out.Flag = append(out.Flag, e)
	out.Save = out.Flag
	return out
}

func (b *Batches) insert(e BatchEntry) { b.insertBands(e, bandsOf(e.Sketch)) }

func (b *Batches) insertBands(e BatchEntry, bands [bandCount]uint64) {
	it := &batchItem{BatchEntry: e, bands: bands}
	b.byID[e.Complaint] = it
	b.items = append(b.items, it)
	for _, key := range bands {
		b.buckets[key] = append(b.buckets[key], it)
	}
	if limit := b.cfg.BatchMaxRemembered; limit > 0 && len(b.items) > limit+limit/4 {
		b.forgetEarliest(len(b.items) - limit)
	}
}

// forgetEarliest forgets the n complaints remembered first (the items are
// in the order they were remembered, received order but for stragglers)
// and rebuilds the index; insertBands lets a quarter of the limit gather
// before, so that the rebuilds cost little per complaint.
func (b *Batches) forgetEarliest(n int) {
	for _, it := range b.items[:n] {
		delete(b.byID, it.Complaint)
	}
	b.items = slices.Delete(b.items, 0, n)
	b.cut += n
	b.reindex()
}

// prune forgets the complaints received more than a window before the
// newest one; it rebuilds the index, so Add calls it once per quarter
// window.
func (b *Batches) prune() {
	b.pruned = b.newest
	cutoff := b.newest.Add(-b.cfg.BatchWindow)
	keep := b.items[:0]
	for _, it := range b.items {
		if it.ReceivedAt.Before(cutoff) {
			delete(b.byID, it.Complaint)
			continue
		}
		keep = append(keep, it)
	}
	if len(keep) == len(b.items) {
		return
	}
	clear(b.items[len(keep):])
	b.items = keep
	b.reindex()
}

// reindex builds the band index of the remembered complaints afresh.
func (b *Batches) reindex() {
	b.buckets = make(map[uint64][]*batchItem, len(b.buckets))
	for _, it := range b.items {
		for _, key := range it.bands {
			b.buckets[key] = append(b.buckets[key], it)
		}
	}
}

// The min-hash bands of locality-sensitive hashing: two texts of
// similarity s share at least one band with probability
// 1-(1-s^bandRows)^bandCount: 1 at s=0.9, 0.998 at 0.8, 0.96 at 0.6, 0.79
// at 0.5, 0.18 at 0.3, 0.04 at 0.2. Candidates are then checked with
// Similarity, so a shared band never makes a batch by itself; a pair just
// at a BatchSimilarity of 0.6 is missed 4 times in 100, near-identical
// texts never.
const (
	bandCount = 24
	bandRows  = 4
)

// minHashSeeds are the multipliers and offsets of the min-hash functions
// h(x) = (a*x + b) >> 32 over the sketch's hashes.
var minHashSeeds = func() (s [bandCount * bandRows][2]uint64) {
	x := uint64(0x5eed)
	for i := range s {
		x = mix64(x)
		s[i][0] = x | 1
		x = mix64(x)
		s[i][1] = x
	}
	return s
}()

// bandsOf returns the band keys of a sketch's min-hash signature.
func bandsOf(s Sketch) [bandCount]uint64 {
	var mins [bandCount * bandRows]uint32
	for i := range mins {
		mins[i] = ^uint32(0)
	}
	if len(s) == 0 {
		return [bandCount]uint64{}
	}
	for i, seed := range minHashSeeds {
		a, c, m := seed[0], seed[1], mins[i]
		for _, h := range s {
			if v := uint32((uint64(h)*a + c) >> 32); v < m {
				m = v
			}
		}
		mins[i] = m
	}
	var keys [bandCount]uint64
	for band := range keys {
		k := uint64(band)
		for r := range bandRows {
			k = mix64(k ^ uint64(mins[band*bandRows+r])<<8)
		}
		keys[band] = k
	}
	return keys
}
