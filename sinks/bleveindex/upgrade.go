package bleveindex

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/blevesearch/bleve/v2"
	"go.uber.org/zap"

	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/sinks/caseindex"
)

// Upgrading. Open rebuilds an index written with an earlier mapping version
// from the complete cases the index itself stores (fieldCase, kept by every
// version), so an upgrade of tousu needs no replay of the cases topic: the
// embedded broker offers no way to rewind the indexer's consumer group, and
// an index directory that is merely removed comes back empty.
//
// The rebuild goes through steps that are each safe to interrupt:
//
//  1. build the new index in path.upgrade-new from the old one's cases and
//     close both (the old index is untouched);
//  2. rename path to path.upgrade-old, then path.upgrade-new to path;
//  3. remove path.upgrade-old.
//
// finishUpgrade, at the start of every Open, completes step 2 when it was
// interrupted (path.upgrade-new is complete once path.upgrade-old exists)
// and removes what an interrupted step 1 or 3 left.

// upgradable are the earlier mapping versions Open rebuilds.
var upgradable = []string{"tousu-cases-1", "tousu-cases-2", "tousu-cases-3", "tousu-cases-4", "tousu-cases-5", "tousu-cases-6", "tousu-cases-7"}

// Suffixes of the directories an upgrade uses next to the index.
const (
	upgradeNewSuffix = ".upgrade-new"
	upgradeOldSuffix = ".upgrade-old"
)

// upgradePage is how many cases one read and one batch of the rebuild
// hold; a variable so that tests can make pages small.
var upgradePage = 1000

// upgrade rebuilds the index at path, of mapping version from, with the
// current mapping and returns it open. It closes old. On failure the index
// at path is left as it was.
func upgrade(old bleve.Index, path, from string, cals caseindex.Calendars, logger *zap.Logger) (bleve.Index, error) {
	start := time.Now()
	logger.Info("upgrading the case index to a new mapping; it is rebuilt from the cases it stores",
		zap.String("path", path), zap.String("from", from), zap.String("to", mappingVersion))
	fail := func(err error) (bleve.Index, error) {
		return nil, fmt.Errorf("bleveindex: upgrade index at %s from mapping %s to %s: %w", path, from, mappingVersion, err)
	}

	newDir, oldDir := path+upgradeNewSuffix, path+upgradeOldSuffix
	if err := os.RemoveAll(newDir); err != nil {
		_ = old.Close()
		return fail(err)
	}
	fresh, err := create(newDir)
	if err != nil {
		_ = old.Close()
		return fail(err)
	}
	n, err := copyCases(old, fresh, cals)
	if cerr := errors.Join(fresh.Close(), old.Close()); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.RemoveAll(newDir)
		return fail(fmt.Errorf("%w (the index is left as it was)", err))
	}

	if err := os.Rename(path, oldDir); err != nil {
		return fail(err)
	}
	if err := os.Rename(newDir, path); err != nil {
		return fail(fmt.Errorf("%w (the next start finishes the upgrade)", err))
	}
	syncDir(filepath.Dir(path))
	if err := os.RemoveAll(oldDir); err != nil {
		logger.Warn("could not remove the index of the earlier mapping", zap.String("path", oldDir), zap.Error(err))
	}
	idx, err := bleve.OpenUsing(path, map[string]any{"unsafe_batch": false})
	if err != nil {
		return nil, fmt.Errorf("bleveindex: open upgraded index at %s: %w", path, err)
	}
	logger.Info("case index upgraded", zap.String("path", path), zap.Int("cases", n), zap.Duration("took", time.Since(start)))
	return idx, nil
}

// copyCases indexes every case stored in old into fresh, in pages, and
// returns how many it copied. The stored JSON is kept as it is.
func copyCases(old, fresh bleve.Index, cals caseindex.Calendars) (int, error) {
	want, err := old.DocCount()
	if err != nil {
		return 0, err
	}
	req := bleve.NewSearchRequestOptions(bleve.NewMatchAllQuery(), upgradePage, 0, false)
	req.SortBy([]string{"_id"})
	req.Fields = []string{fieldCase}
	n := 0
	now := time.Now()
	for {
		res, err := old.Search(req)
		if err != nil {
			return n, fmt.Errorf("read cases: %w", err)
		}
		batch := fresh.NewBatch()
		for _, h := range res.Hits {
			raw, ok := h.Fields[fieldCase].(string)
			if !ok {
				return n, fmt.Errorf("case %s has no stored source", h.ID)
			}
			var c router.Case
			if err := json.Unmarshal([]byte(raw), &c); err != nil {
				return n, fmt.Errorf("decode case %s: %w", h.ID, err)
			}
			if err := batch.Index(h.ID, document(c, []byte(raw), cals, now)); err != nil {
				return n, fmt.Errorf("index case %s: %w", h.ID, err)
			}
		}
		if batch.Size() > 0 {
			if err := fresh.Batch(batch); err != nil {
				return n, fmt.Errorf("write cases: %w", err)
			}
		}
		n += len(res.Hits)
		if len(res.Hits) < upgradePage {
			break
		}
		req.SetSearchAfter([]string{res.Hits[len(res.Hits)-1].ID})
	}
	if uint64(n) != want {
		return n, fmt.Errorf("copied %d cases of %d", n, want)
	}
	return n, nil
}

// finishUpgrade completes or cleans up an upgrade that was interrupted
// (see the steps above).
func finishUpgrade(path string) error {
	newDir, oldDir := path+upgradeNewSuffix, path+upgradeOldSuffix
	hasPath, err := exists(path)
	if err != nil {
		return err
	}
	hasOld, err := exists(oldDir)
	if err != nil {
		return err
	}
	if !hasPath && hasOld {
		// Stopped between the two renames of step 2: the new index is
		// complete. Without it (removed by hand) the old one goes back.
		from := newDir
		if ok, err := exists(newDir); err != nil {
			return err
		} else if !ok {
			from = oldDir
		}
		if err := os.Rename(from, path); err != nil {
			return fmt.Errorf("bleveindex: finish the interrupted upgrade of %s: %w", path, err)
		}
		syncDir(filepath.Dir(path))
	}
	for _, dir := range []string{oldDir, newDir} {
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("bleveindex: remove %s left by an interrupted upgrade: %w", dir, err)
		}
	}
	return nil
}

// exists reports whether path exists.
func exists(path string) (bool, error) {
	_, err := os.Stat(path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, os.ErrNotExist):
		return false, nil
	}
	return false, fmt.Errorf("bleveindex: %w", err)
}

// syncDir makes renames in dir durable, as far as the system allows.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}
