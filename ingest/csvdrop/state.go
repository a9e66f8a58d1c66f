package csvdrop

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tousu/tousu/internal/durable"
)

// state is a folder's durable memory, in its state directory:
//
//	ledger.db          acknowledged ids (bbolt): bucket ids maps a row's
//	                   ledgerKey to run, row and time; bucket runs maps a
//	                   run to its file name and start
//	work/<hash>.json   one in-progress record per file being taken
//
// The ledger is written only after Publish acknowledged the rows, so what
// it says was published was published; losing its last writes in a crash
// only means those rows are published again, under the same ids. Losing
// the whole ledger loses only duplicate detection and counts: ids are
// deterministic, so later stages still see a republished row as the same
// complaint. Entries older than the dedupe window are pruned (prunePass).
type state struct {
	dir    string
	ledger *bolt.DB
}

var (
	idsBucket  = []byte("ids")
	runsBucket = []byte("runs")
)

// ledgerEntry says where and when a row's id was acknowledged.
type ledgerEntry struct {
	Run  runID
	Row  int
	At   time.Time
	File string
}

// runID identifies one take of one file, kept across restarts by the work
// record so that a resumed take recognises its own rows.
type runID [8]byte

func newRunID() runID {
	var r runID
	_, _ = rand.Read(r[:])
	return r
}

func (r runID) String() string { return hex.EncodeToString(r[:]) }

func parseRunID(s string) (runID, bool) {
	var r runID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(r) {
		return r, false
	}
	copy(r[:], b)
	return r, true
}

// openState opens (creating) the state directory and the ledger. The
// ledger is locked while open: a second process watching the same folder
// fails here instead of taking files twice.
func openState(dir string) (*state, error) {
	if err := os.MkdirAll(filepath.Join(dir, "work"), 0o750); err != nil {
		return nil, err
	}
	db, err := bolt.Open(filepath.Join(dir, "ledger.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("%s is in use by another process watching the same folder", filepath.Join(dir, "ledger.db"))
		}
		return nil, err
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{idsBucket, runsBucket} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		db.Close()
		return nil, err
	}
	return &state{dir: dir, ledger: db}, nil
}

func (s *state) close() error { return s.ledger.Close() }

// maxKeySourceID is the longest work-order number used as a ledger key
// as it is; longer ones are hashed.
const maxKeySourceID = 64

// ledgerKey is the ledger key of a row's id, made of what the id is
// derived from (the folder is implied): "s" and the work-order number
// (hashed when long), or "c", 12 bytes of the file's hash and the row
// number. Call-centre work-order numbers, like row numbers, usually grow
// row by row, so a batch of inserts lands at the end of the B-tree
// instead of rewriting pages all over it, as random keys would.
func ledgerKey(sourceID string, fileHash []byte, row int) []byte {
	if sourceID != "" {
		if len(sourceID) > maxKeySourceID {
			sum := sha256.Sum256([]byte(sourceID))
			return append([]byte("h"), sum[:16]...)
		}
		return append([]byte("s"), sourceID...)
	}
	k := append([]byte("c"), fileHash[:min(12, len(fileHash))]...)
	return binary.BigEndian.AppendUint32(k, uint32(row))
}

// An ids value is run (8 bytes), row (4) and Unix seconds (4).
func encodeEntry(run runID, row int, at time.Time) []byte {
	b := make([]byte, 16)
	copy(b, run[:])
	binary.BigEndian.PutUint32(b[8:], uint32(row))
	binary.BigEndian.PutUint32(b[12:], uint32(at.Unix()))
	return b
}

func decodeEntry(b []byte) (ledgerEntry, bool) {
	if len(b) != 16 {
		return ledgerEntry{}, false
	}
	var e ledgerEntry
	copy(e.Run[:], b)
	e.Row = int(binary.BigEndian.Uint32(b[8:]))
	e.At = time.Unix(int64(binary.BigEndian.Uint32(b[12:])), 0)
	return e, true
}

// beginRun records the file name of a run.
func (s *state) beginRun(run runID, file string, at time.Time) error {
	return s.ledger.Update(func(tx *bolt.Tx) error {
		v := binary.BigEndian.AppendUint32(nil, uint32(at.Unix()))
		return tx.Bucket(runsBucket).Put(run[:], append(v, file...))
	})
}

// lookup returns the ledger entry of a key, with the file name of its run.
func (s *state) lookup(key []byte) (ledgerEntry, bool, error) {
	var e ledgerEntry
	var ok bool
	err := s.ledger.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(idsBucket).Get(key)
		if v == nil {
			return nil
		}
		if e, ok = decodeEntry(v); ok {
			if r := tx.Bucket(runsBucket).Get(e.Run[:]); len(r) >= 4 {
				e.File = string(r[4:])
			}
		}
		return nil
	})
	return e, ok, err
}

// acked is a row Publish acknowledged.
type acked struct {
	id  string
	key []byte
	row int
}

// record writes acknowledged rows to the ledger in one transaction.
func (s *state) record(run runID, at time.Time, rows []acked) error {
	if len(rows) == 0 {
		return nil
	}
	v := encodeEntry(run, 0, at)
	return s.ledger.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(idsBucket)
		for _, r := range rows {
			binary.BigEndian.PutUint32(v[8:], uint32(r.row))
			if err := b.Put(r.key, slices.Clone(v)); err != nil {
				return err
			}
		}
		return nil
	})
}

// Pruning. The ids bucket is ordered by key, not by time, so a pass reads
// the whole ledger, a chunk at a time: a read transaction visits at most
// pruneVisitFactor × batch keys (stopping early once batch of them have
// expired) and one write transaction deletes those, after checking each
// again. Between chunks the ledger is free for the rows being recorded.
//
// An index by time would let a pass skip the entries it keeps, but it
// would add a write to every row recorded to save a pass that runs once a
// day and reads about four million ids a second (BenchmarkPrunePass).
const (
	// pruneBatch is the most entries one write transaction deletes.
	pruneBatch = 4096
	// pruneVisitFactor × the batch is the most keys one read transaction
	// visits.
	pruneVisitFactor = 4
)

// prunePass is one pass over the ledger that forgets the ids acknowledged
// before cutoff, then the runs begun before cutoff that no remembered id
// and no work record refers to (a run's file name is kept as long as a
// duplicate may need to name it). It is done in steps by state.pruneStep.
type prunePass struct {
	cutoff time.Time
	batch  int
	bucket []byte         // idsBucket, then runsBucket; nil when the pass is done
	next   []byte         // first key of bucket not visited yet; nil: the first key
	used   map[runID]bool // runs of the ids kept and of the work records
	ids    int            // ids forgotten so far
	runs   int            // runs forgotten so far
}

func newPrunePass(cutoff time.Time, batch int) *prunePass {
	if batch <= 0 {
		batch = pruneBatch
	}
	return &prunePass{cutoff: cutoff, batch: batch, bucket: idsBucket, used: map[runID]bool{}}
}

func (p *prunePass) done() bool { return p.bucket == nil }

// idExpired reports whether an ids value was acknowledged before the
// cutoff (an unreadable value is expired too), and notes the run of one
// that is kept.
func (p *prunePass) idExpired(v []byte) bool {
	e, ok := decodeEntry(v)
	if !ok || e.At.Before(p.cutoff) {
		return true
	}
	p.used[e.Run] = true
	return false
}

// runExpired reports whether a runs entry began before the cutoff and is
// no longer referred to.
func (p *prunePass) runExpired(k, v []byte) bool {
	if len(v) < 4 {
		return true
	}
	var r runID
	copy(r[:], k)
	return time.Unix(int64(binary.BigEndian.Uint32(v)), 0).Before(p.cutoff) && !p.used[r]
}

// pruneStep does the next chunk of p and returns how many ids it deleted
// (p counts ids and runs). Call it until p.done().
func (s *state) pruneStep(p *prunePass) (int, error) {
	if p.done() {
		return 0, nil
	}
	ids := bytes.Equal(p.bucket, idsBucket)
	expired := func(k, v []byte) bool {
		if ids {
			return p.idExpired(v)
		}
		return p.runExpired(k, v)
	}
	var old [][]byte
	var next []byte
	err := s.ledger.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(p.bucket).Cursor()
		k, v := c.First()
		if p.next != nil {
			k, v = c.Seek(p.next)
		}
		for visited := 0; k != nil; k, v = c.Next() {
			if visited == pruneVisitFactor*p.batch || len(old) == p.batch {
				next = slices.Clone(k)
				break
			}
			visited++
			if expired(k, v) {
				old = append(old, slices.Clone(k))
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	deleted := 0
	if len(old) > 0 {
		err = s.ledger.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket(p.bucket)
			for _, k := range old {
				// Check again: the row may have been recorded anew since.
				if v := b.Get(k); v == nil || !expired(k, v) {
					continue
				}
				if err := b.Delete(k); err != nil {
					return err
				}
				deleted++
			}
			return nil
		})
		if err != nil {
			return 0, err
		}
	}
	p.next = next
	if !ids {
		p.runs += deleted
		if next == nil {
			p.bucket = nil
		}
		return 0, nil
	}
	p.ids += deleted
	if next == nil {
		// The runs of interrupted takes stay: their rows may yet come.
		for _, w := range s.listWork() {
			if r, ok := parseRunID(w.Run); ok {
				p.used[r] = true
			}
		}
		p.bucket = runsBucket
	}
	return deleted, nil
}

// workRecord marks a file being taken. It outlives a crash: on restart the
// file is taken again under the same run (if its content is unchanged),
// without waiting for completeness again, and rows the ledger has for the
// run are not published twice.
type workRecord struct {
	Name    string    `json:"name"`
	Size    int64     `json:"size"`
	ModTime time.Time `json:"mod_time"`
	SHA256  string    `json:"sha256"`
	Run     string    `json:"run"`
	Started time.Time `json:"started"`
}

func (s *state) workPath(name string) string {
	sum := sha256.Sum256([]byte(name))
	return filepath.Join(s.dir, "work", hex.EncodeToString(sum[:8])+".json")
}

// loadWork returns the work record of name, nil if there is none.
func (s *state) loadWork(name string) (*workRecord, error) {
	b, err := os.ReadFile(s.workPath(name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var w workRecord
	if err := json.Unmarshal(b, &w); err != nil || w.Name != name {
		return nil, nil // unreadable or a hash collision: start afresh
	}
	return &w, nil
}

// saveWork writes the work record durably (temporary file, sync, rename).
func (s *state) saveWork(w *workRecord) error {
	b, err := json.Marshal(w)
	if err != nil {
		return err
	}
	return durable.WritePath(s.workPath(w.Name), b, 0o640)
}

func (s *state) removeWork(name string) error {
	err := os.Remove(s.workPath(name))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// listWork returns every work record.
func (s *state) listWork() []workRecord {
	entries, _ := os.ReadDir(filepath.Join(s.dir, "work"))
	var out []workRecord
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(s.dir, "work", e.Name()))
		if err != nil {
			continue
		}
		var w workRecord
		if json.Unmarshal(b, &w) == nil && w.Name != "" {
			out = append(out, w)
		}
	}
	return out
}
