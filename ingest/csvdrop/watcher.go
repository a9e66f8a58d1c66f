package csvdrop

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/internal/backoff"
)

// Timing of the folder loops.
const (
	// eventDebounce gathers a burst of file-system events into one scan.
	eventDebounce = 50 * time.Millisecond
	// Backoff of a file whose take failed (publish error, read error).
	retryMin = time.Second
	retryMax = time.Minute
	// setupRetry is the wait before a folder that could not be set up
	// (missing permissions, state locked by another process) is tried
	// again.
	setupRetry = 10 * time.Second
	// pruneEvery is how often the ledger forgets ids older than the
	// dedupe window (and once at every setup).
	pruneEvery = 24 * time.Hour
	// pruneRetry is the wait before a pass that failed is tried again.
	pruneRetry = time.Hour
)

// Watcher watches drop folders and publishes the rows of the files
// dropped into them. Create it with New and start it with Run.
type Watcher struct {
	folders []*folder
}

// folder is the state of one watched folder. Only its own goroutine
// touches it.
type folder struct {
	cfg     FolderConfig
	intake  ingest.Config
	aliases map[Field][]string
	log     *zap.Logger
	m       *metrics
	refs    ingest.References
	publish ingest.Publish
	now     func() time.Time
	// rejected is told what each file refused (OnRejected); nil for no one.
	rejected func(Rejected)

	root   *os.Root
	st     *state
	resume map[string]workRecord  // interrupted takes found at setup
	obs    map[string]observation // stability tracking
	retry  map[string]retryState  // backoff after failed takes
	warned string                 // last setup or listing error logged, to log it once

	// Ledger pruning runs a chunk at a time between takes.
	prune      *prunePass // the pass under way, nil between passes
	pruneBegan time.Time  // when it began
	nextPrune  time.Time  // when the next pass is due
	pruneBatch int        // entries deleted per transaction at most
}

type observation struct {
	size  int64
	mtime time.Time
	since time.Time
}

type retryState struct {
	at       time.Time
	attempts int // failed takes so far
}

// New checks cfg, which must be provisioned (Config.Provision), and
// returns a Watcher that hands every row, with the
// reference refs derives from its id, to publish,
// which must block until the broker acknowledged the envelope and be safe
// for concurrent use (up to MaxInFlight calls per folder at once). Metrics
// are registered with reg unless it is nil; logger should carry a
// component field. New touches no file: Run creates the folders.
func New(cfg Config, refs ingest.References, publish ingest.Publish, logger *zap.Logger, reg prometheus.Registerer) (*Watcher, error) {
	if publish == nil {
		return nil, errors.New("csvdrop: publish function is nil")
	}
	if err := refs.Check(); err != nil {
		return nil, fmt.Errorf("csvdrop: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("csvdrop: %w", err)
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	names := make([]string, len(cfg.Folders))
	for i, f := range cfg.Folders {
		names[i] = f.Name
	}
	m, err := newMetrics(reg, names)
	if err != nil {
		return nil, err
	}
	w := &Watcher{}
	for _, fc := range cfg.Folders {
		aliases, err := resolveAliases(fc.Columns)
		if err != nil {
			return nil, fmt.Errorf("csvdrop: %s: %w", fc.Name, err)
		}
		w.folders = append(w.folders, &folder{
			cfg:     fc,
			intake:  cfg.Intake,
			aliases: aliases,
			log:     logger.With(zap.String("folder", fc.Name)),
			m:       m,
			refs:    refs,
			publish: publish,
			now:     time.Now,
			obs:     map[string]observation{},
			retry:   map[string]retryState{},

			pruneBatch: pruneBatch,
		})
	}
	return w, nil
}

// OnRejected makes the watcher call fn for each file that reached its
// outcome with rejected rows, or that was moved to failed/ as a whole,
// after its summary was written. fn is called on the folder's goroutine,
// one file at a time per folder and concurrently for different folders;
// it must not block. Call it before Run.
func (w *Watcher) OnRejected(fn func(Rejected)) {
	for _, f := range w.folders {
		f.rejected = fn
	}
}

// Run watches every folder until ctx ends, then returns nil; call it once.
// Each folder has its own loop: a folder that cannot be set up or read is
// logged and tried again later while the others keep flowing. A file
// being taken when ctx ends stays in place and is resumed by the next Run.
func (w *Watcher) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, f := range w.folders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.run(ctx)
		}()
	}
	wg.Wait()
	return nil
}

func (f *folder) run(ctx context.Context) {
	for ctx.Err() == nil {
		if err := f.setup(); err != nil {
			f.warnOnce("cannot set up the drop folder; will retry", err)
			backoff.Sleep(ctx, setupRetry)
			continue
		}
		f.log.Info("watching drop folder", zap.String("path", f.cfg.Path), zap.String("completeness", f.cfg.Completeness.Mode),
			zap.Strings("patterns", f.cfg.Patterns))
		f.watchUntilStale(ctx)
		f.close()
	}
}

// watchUntilStale scans the folder on events and timers until ctx ends or
// the folder's path no longer names the directory being watched (it was
// deleted or replaced), which calls for a new setup.
func (f *folder) watchUntilStale(ctx context.Context) {
	wake, stop := f.watch()
	defer stop()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-wake:
			select { // gather the rest of the burst
			case <-ctx.Done():
				return
			case <-time.After(eventDebounce):
			}
		case <-timer.C:
		}
		if f.stale() {
			f.log.Warn("the drop folder was removed or replaced; setting it up again", zap.String("path", f.cfg.Path))
			return
		}
		timer.Reset(f.scan(ctx))
	}
}

// stale reports whether the configured path no longer names the directory
// the folder's root was opened on.
func (f *folder) stale() bool {
	now, err := os.Stat(f.cfg.Path)
	if err != nil {
		return true
	}
	d, err := f.root.Open(".")
	if err != nil {
		return true
	}
	defer d.Close()
	was, err := d.Stat()
	return err != nil || !os.SameFile(now, was)
}

// setup creates the folder and its subdirectories, opens the state, and
// clears what an interrupted run may have left.
func (f *folder) setup() error {
	if err := os.MkdirAll(f.cfg.Path, 0o750); err != nil {
		return err
	}
	st, err := openState(f.cfg.StateDir)
	if err != nil {
		return err
	}
	root, err := os.OpenRoot(f.cfg.Path)
	if err != nil {
		st.close()
		return err
	}
	for _, d := range []string{ProcessedDir, FailedDir} {
		if err := root.MkdirAll(d, 0o750); err != nil {
			root.Close()
			st.close()
			return err
		}
	}
	f.root, f.st = root, st
	f.resume = map[string]workRecord{}
	for _, w := range st.listWork() {
		if _, err := root.Lstat(w.Name); err == nil {
			f.resume[w.Name] = w
		} else if errors.Is(err, fs.ErrNotExist) {
			_ = st.removeWork(w.Name)
		}
	}
	for _, d := range []string{ProcessedDir, FailedDir} {
		f.removeTemporaries(d)
	}
	f.prune, f.nextPrune = nil, time.Time{} // a pass is due at once
	f.warned = ""
	return nil
}

// removeTemporaries deletes our hidden temporary files in dir, left by a
// crash while writing a sidecar.
func (f *folder) removeTemporaries(dir string) {
	d, err := f.root.Open(dir)
	if err != nil {
		return
	}
	defer d.Close()
	entries, _ := d.ReadDir(-1)
	for _, e := range entries {
		if n := e.Name(); strings.HasPrefix(n, ".") && strings.HasSuffix(n, ".tmp") && e.Type().IsRegular() {
			_ = f.root.Remove(path.Join(dir, n))
		}
	}
}

// pruneStep does one chunk of ledger pruning: the next chunk of the pass
// under way, or the first of a new pass when one is due. A pass forgets
// the ids acknowledged more than the dedupe window ago.
func (f *folder) pruneStep(now time.Time) {
	if f.prune == nil {
		if now.Before(f.nextPrune) {
			return
		}
		f.prune = newPrunePass(now.Add(-f.cfg.DedupeWindow), f.pruneBatch)
		f.pruneBegan, f.nextPrune = now, now.Add(pruneEvery)
	}
	n, err := f.st.pruneStep(f.prune)
	f.m.pruned.WithLabelValues(f.cfg.Name).Add(float64(n))
	if err != nil {
		f.log.Warn("cannot prune the ledger; will try again later", zap.Int("ids", f.prune.ids), zap.Error(err))
		f.prune, f.nextPrune = nil, now.Add(pruneRetry)
		return
	}
	if !f.prune.done() {
		return
	}
	if p := f.prune; p.ids > 0 || p.runs > 0 {
		f.log.Info("ledger pruned", zap.Int("ids", p.ids), zap.Int("runs", p.runs),
			zap.Duration("dedupe_window", f.cfg.DedupeWindow), zap.Duration("took", f.now().Sub(f.pruneBegan)))
	}
	f.prune = nil
}

func (f *folder) close() {
	if f.root != nil {
		f.root.Close()
		f.root = nil
	}
	if f.st != nil {
		if err := f.st.close(); err != nil {
			f.log.Warn("cannot close the ledger", zap.Error(err))
		}
		f.st = nil
	}
}

func (f *folder) warnOnce(msg string, err error) {
	if err.Error() != f.warned {
		f.log.Error(msg, zap.String("path", f.cfg.Path), zap.Error(err))
		f.warned = err.Error()
	}
}

// watch subscribes to file-system events of the folder; each relevant one
// wakes the loop. Without events (unsupported file system, inotify limit)
// the periodic scan still finds every file.
func (f *folder) watch() (<-chan struct{}, func()) {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		f.log.Warn("no file-system events; relying on the periodic scan", zap.Error(err))
		return nil, func() {}
	}
	if err := fw.Add(f.cfg.Path); err != nil {
		fw.Close()
		f.log.Warn("no file-system events; relying on the periodic scan", zap.Error(err))
		return nil, func() {}
	}
	wake := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case ev, ok := <-fw.Events:
				if !ok {
					return
				}
				if ev.Has(fsnotify.Create) || ev.Has(fsnotify.Write) || ev.Has(fsnotify.Rename) {
					select {
					case wake <- struct{}{}:
					default:
					}
				}
			case err, ok := <-fw.Errors:
				if !ok {
					return
				}
				f.log.Debug("file-system event error", zap.Error(err))
			}
		}
	}()
	return wake, func() {
		fw.Close()
		<-done
	}
}

// scan does a chunk of ledger pruning when a pass is due or under way,
// lists the folder, takes every complete file (oldest first) and returns
// when to scan again (at once while a pass is under way).
func (f *folder) scan(ctx context.Context) time.Duration {
	now := f.now()
	f.pruneStep(now)
	entries, err := f.list()
	if err != nil {
		f.warnOnce("cannot list the drop folder", err)
		return f.cfg.ScanInterval
	}
	f.warned = ""
	present := make(map[string]bool, len(entries))
	for _, e := range entries {
		present[e.Name()] = true
	}
	type candidate struct {
		name  string
		mtime time.Time
	}
	var ready []candidate
	next, waiting := f.cfg.ScanInterval, 0
	for _, e := range entries {
		name := e.Name()
		if !f.wanted(name) {
			continue
		}
		if e.Type()&fs.ModeSymlink != 0 {
			ready = append(ready, candidate{name: name})
			continue
		}
		if !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		if r, ok := f.retry[name]; ok && now.Before(r.at) {
			waiting++
			next = min(next, r.at.Sub(now))
			continue
		}
		ok, wait := f.complete(name, info, present, now)
		if !ok {
			waiting++
			next = min(next, wait)
			continue
		}
		ready = append(ready, candidate{name: name, mtime: info.ModTime()})
	}
	for name := range f.obs {
		if !present[name] {
			delete(f.obs, name)
		}
	}
	for name := range f.retry {
		if !present[name] {
			delete(f.retry, name)
		}
	}
	f.m.waiting.WithLabelValues(f.cfg.Name).Set(float64(waiting))

	sort.Slice(ready, func(i, j int) bool {
		if !ready[i].mtime.Equal(ready[j].mtime) {
			return ready[i].mtime.Before(ready[j].mtime)
		}
		return ready[i].name < ready[j].name
	})
	for _, c := range ready {
		if ctx.Err() != nil {
			break
		}
		switch f.take(ctx, c.name) {
		case outcomeRetry:
			if ctx.Err() != nil {
				break
			}
			r := f.retry[c.name]
			r.attempts++
			delay := backoff.Capped(retryMin, retryMax, r.attempts)
			r.at = f.now().Add(delay)
			f.retry[c.name] = r
			next = min(next, delay)
		default:
			delete(f.retry, c.name)
			delete(f.obs, c.name)
			delete(f.resume, c.name)
		}
	}
	if len(ready) > 0 {
		next = min(next, eventDebounce) // look again for files that arrived meanwhile
	}
	if f.prune != nil {
		next = 0 // the next chunk of pruning
	}
	return max(next, 10*time.Millisecond)
}

func (f *folder) list() ([]fs.DirEntry, error) {
	d, err := f.root.Open(".")
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return d.ReadDir(-1)
}

// tempSuffixes mark files still being written under a temporary name.
var tempSuffixes = []string{".tmp", ".temp", ".part", ".partial", ".crdownload", ".download", ".filepart", ".swp", ".done", "~"}

// wanted reports whether name is a file to take: it matches a pattern,
// and is not hidden, an Office lock file (~$…), a temporary name or a
// marker.
func (f *folder) wanted(name string) bool {
	lower := strings.ToLower(name)
	if strings.HasPrefix(name, ".") || strings.HasPrefix(name, "~") {
		return false
	}
	for _, s := range tempSuffixes {
		if strings.HasSuffix(lower, s) {
			return false
		}
	}
	for _, p := range f.cfg.Patterns {
		if ok, _ := filepath.Match(strings.ToLower(p), lower); ok {
			return true
		}
	}
	return false
}

// complete applies the folder's completeness convention to a file and
// says how long to wait before asking again when it is not complete.
func (f *folder) complete(name string, info fs.FileInfo, present map[string]bool, now time.Time) (bool, time.Duration) {
	if w, ok := f.resume[name]; ok && w.Size == info.Size() && w.ModTime.Equal(info.ModTime()) {
		return true, 0 // an interrupted take: it was complete then
	}
	mode := f.cfg.Completeness.Mode
	if mode == CompleteRename {
		return true, 0
	}
	if mode == CompleteDone || mode == CompleteAuto {
		for _, m := range markers(name) {
			if present[m] {
				return true, 0
			}
		}
		if mode == CompleteDone {
			return false, f.cfg.ScanInterval
		}
	}
	o, ok := f.obs[name]
	if !ok || o.size != info.Size() || !o.mtime.Equal(info.ModTime()) {
		f.obs[name] = observation{size: info.Size(), mtime: info.ModTime(), since: now}
		return false, f.cfg.Completeness.StableFor
	}
	if held := now.Sub(o.since); held < f.cfg.Completeness.StableFor {
		return false, f.cfg.Completeness.StableFor - held
	}
	return true, 0
}
