package csvdrop

import (
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/internal/durable"
)

// outcome is what taking a file led to.
type outcome int

const (
	outcomeProcessed outcome = iota // moved to processed/
	outcomeFailed                   // moved to failed/
	outcomeRetry                    // left in place, to be taken again later
	outcomeGone                     // vanished or not a file to take
)

// Ledger flush policy: acknowledged ids are written in batches, when this
// many are waiting or at this interval.
const (
	flushRows  = 2048
	flushEvery = 500 * time.Millisecond
)

// take processes one file of the folder: check it, read it, publish its
// rows, and move it with its sidecars. Nothing moves unless every row was
// acknowledged (or the file cannot be read at all).
func (f *folder) take(ctx context.Context, name string) outcome {
	start := f.now()
	sum := &Summary{V: 1, Folder: f.cfg.Name, File: name, StartedAt: start}
	log := f.log.With(zap.String("file", name))

	info, err := f.root.Lstat(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return outcomeGone
	case err != nil:
		log.Warn("cannot stat file; will retry", zap.Error(err))
		return outcomeRetry
	case info.Mode()&fs.ModeSymlink != 0:
		return f.fail(sum, nil, "不处理符号链接：请把文件本身（而不是链接）放入目录", errors.New("symbolic link"), log)
	case !info.Mode().IsRegular():
		return outcomeGone
	}
	sum.Size = info.Size()

	file, err := f.root.Open(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return outcomeGone
	case errors.Is(err, fs.ErrPermission):
		return f.fail(sum, nil, "无法读取文件：权限不足", err, log)
	case err != nil:
		log.Warn("cannot open file; will retry", zap.Error(err))
		return outcomeRetry
	}
	defer file.Close()
	opened, err := file.Stat()
	if err != nil || !os.SameFile(opened, info) {
		return outcomeRetry // replaced between the listing and the open
	}

	// First pass: content hash (ids of rows without a work-order number,
	// identity of the take) and whether all of it is UTF-8.
	digest, size, validUTF8, err := scanFile(ctx, file)
	if err != nil {
		if ctx.Err() != nil {
			return outcomeRetry
		}
		if errors.Is(err, fs.ErrPermission) {
			return f.fail(sum, nil, "无法读取文件：权限不足", err, log)
		}
		log.Warn("cannot read file; will retry", zap.Error(err))
		return outcomeRetry
	}
	sum.SHA256, sum.Size = digest, size

	run, err := f.beginRun(name, opened, digest, start)
	if err != nil {
		log.Error("cannot write the work record; will retry", zap.Error(err))
		return outcomeRetry
	}
	if _, err := file.Seek(0, io.SeekStart); err != nil {
		log.Warn("cannot rewind file; will retry", zap.Error(err))
		return outcomeRetry
	}
	opts := ReaderOptions{Encoding: f.cfg.Encoding, Delimiter: f.cfg.Delimiter, Aliases: f.aliases, MaxRowBytes: f.cfg.MaxRowBytes, wholeUTF8: -1}
	if validUTF8 {
		opts.wholeUTF8 = 1
	}
	rd, err := NewReader(file, opts)
	var ferr *FileError
	switch {
	case errors.As(err, &ferr):
		return f.failOpened(sum, nil, ferr.Reason, ferr.Err, opened, log)
	case err != nil:
		log.Warn("cannot read file; will retry", zap.Error(err))
		return outcomeRetry
	}
	sum.Encoding, sum.Delimiter, sum.HeaderRow = rd.Encoding(), string(rd.Delimiter()), rd.HeaderRow()
	sum.Columns = rd.Header().Columns()

	rows := &RowParser{Header: rd.Header(), Source: f.cfg.Name, References: f.refs, FileName: name, FileHash: digest, ModTime: opened.ModTime(), Now: f.now, Intake: f.intake}
	rej := &rejectedWriter{root: f.root, name: name, header: rd.Header().Cells()}
	defer rej.discard()
	pub := f.newPublisher(ctx, run, name)
	hashPrefix, _ := hex.DecodeString(digest[:24])
	fatal, readErr := f.readRows(rd, rows, hashPrefix, rej, pub, sum, log)
	pubErr := pub.finish()
	switch {
	case pubErr != nil:
		if ctx.Err() == nil {
			log.Warn("publish failed; the file stays and will be retried", zap.Error(pubErr))
		}
		return outcomeRetry
	case readErr != nil:
		if ctx.Err() == nil {
			log.Warn("reading failed; will retry", zap.Error(readErr))
		}
		return outcomeRetry
	case ctx.Err() != nil:
		return outcomeRetry
	}
	if now, err := file.Stat(); err != nil || now.Size() != size || !now.ModTime().Equal(opened.ModTime()) {
		log.Warn("file changed while it was read; will retry")
		return outcomeRetry
	}
	if fatal != nil {
		return f.failOpened(sum, rej, fatal.Reason, fatal.Err, opened, log)
	}
	sum.Outcome = OutcomeProcessed
	if err := f.store(sum, rej, ProcessedDir, "", opened); err != nil {
		if errors.Is(err, errReplaced) {
			log.Warn("file replaced while it was read; will take the new one")
			return outcomeRetry
		}
		log.Error("cannot move file to processed/; will retry", zap.Error(err))
		return outcomeRetry
	}
	f.count(sum)
	f.m.seconds.WithLabelValues(f.cfg.Name).Observe(float64(sum.DurationMS) / 1000)
	log.Info("file processed", summaryFields(sum)...)
	return outcomeProcessed
}

// readRows reads the records of rd, rejects invalid rows, skips
// duplicates and submits the rest to pub, counting everything in sum. It
// returns the error that made a whole file unreadable from some row on
// (fatal), or an error that should make the take be retried.
func (f *folder) readRows(rd *Reader, rows *RowParser, hashPrefix []byte, rej *rejectedWriter, pub *publisher, sum *Summary, log *zap.Logger) (fatal *FileError, _ error) {
	for {
		rec, err := rd.Next()
		var rerr *RowError
		switch {
		case errors.Is(err, io.EOF):
			return nil, nil
		case errors.As(err, &rerr):
			sum.RowsRead++
			sum.reject(RowClassFormat)
			if err := rej.add(rerr.Row, "CSV 格式错误："+rerr.Err.Error(), nil); err != nil {
				return nil, err
			}
			continue
		case errors.As(err, &fatal):
			return fatal, nil
		case err != nil:
			return nil, err
		}
		res := rows.Parse(rec.Row, rec.Cells)
		if res.Empty {
			sum.EmptyRows++
			continue
		}
		sum.RowsRead++
		if res.ReceivedFallback {
			sum.ReceivedFallbacks++
		}
		if res.SourceIDIgnored {
			sum.SourceIDsIgnored++
		}
		if len(res.Problems) > 0 {
			sum.reject(FieldClass(res.Problems[0].Field))
			// The reason may quote the phone cell; logs get the fields only.
			log.Debug("row rejected", zap.Int("row", rec.Row), zap.String("phone", ingest.MaskPhone(res.Envelope.Phone)), zap.Strings("fields", problemFields(res.Problems)))
			if err := rej.add(rec.Row, res.Reason(), rec.Cells); err != nil {
				return nil, err
			}
			continue
		}
		env := res.Envelope
		key := ledgerKey(env.SourceID, hashPrefix, rec.Row)
		st, first, err := pub.classify(env.ID, key, rec.Row)
		if err != nil {
			return nil, err
		}
		switch st {
		case rowOurs:
			sum.Published++
			sum.Resumed++
		case rowDuplicate:
			sum.Duplicates++
			if len(sum.DuplicateRows) < maxDuplicateExamples {
				sum.DuplicateRows = append(sum.DuplicateRows, DuplicateRow{Row: rec.Row, ID: env.ID, FirstFile: first.File, FirstRow: first.Row})
			}
			log.Debug("duplicate row", zap.Int("row", rec.Row), zap.String("id", env.ID), zap.String("first_file", first.File), zap.Int("first_row", first.Row))
		default:
			if err := pub.submit(env, key, rec.Row); err != nil {
				return nil, nil // the publisher's error is reported by finish
			}
			sum.Published++
		}
	}
}

// beginRun returns the run of this take: the run of an interrupted take
// of the same content, else a new one, recorded before any row is
// published.
func (f *folder) beginRun(name string, info fs.FileInfo, digest string, start time.Time) (runID, error) {
	w, err := f.st.loadWork(name)
	if err != nil {
		return runID{}, err
	}
	if w != nil && w.SHA256 == digest {
		if r, ok := parseRunID(w.Run); ok {
			f.log.Info("resuming an interrupted file", zap.String("file", name), zap.String("run", w.Run), zap.Time("started", w.Started))
			return r, nil
		}
	}
	r := newRunID()
	if err := f.st.beginRun(r, name, start); err != nil {
		return r, err
	}
	return r, f.st.saveWork(&workRecord{Name: name, Size: info.Size(), ModTime: info.ModTime(), SHA256: digest, Run: r.String(), Started: start})
}

// fail moves the file to failed/ with a reason file. Rows acknowledged
// before the failure stay published; the summary counts them.
func (f *folder) fail(sum *Summary, rej *rejectedWriter, reason string, cause error, log *zap.Logger) outcome {
	return f.failOpened(sum, rej, reason, cause, nil, log)
}

// failOpened is fail for a file that was opened as opened.
func (f *folder) failOpened(sum *Summary, rej *rejectedWriter, reason string, cause error, opened fs.FileInfo, log *zap.Logger) outcome {
	sum.Outcome, sum.Reason = OutcomeFailed, reason
	if cause != nil {
		sum.Error = cause.Error()
	}
	if err := f.store(sum, rej, FailedDir, reason, opened); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return outcomeGone
		}
		if !errors.Is(err, errReplaced) {
			log.Error("cannot move file to failed/; will retry", zap.String("reason", reason), zap.Error(err))
		}
		return outcomeRetry
	}
	f.count(sum)
	log.Warn("file failed", append(summaryFields(sum), zap.String("reason", reason), zap.String("error", sum.Error))...)
	return outcomeFailed
}

// count records a file that reached its outcome (processed or failed) in
// the metrics and, when it refused rows or was refused itself, tells
// f.rejected.
func (f *folder) count(sum *Summary) {
	f.m.files.WithLabelValues(f.cfg.Name, sum.Outcome).Inc()
	f.m.rows.WithLabelValues(f.cfg.Name, "duplicate").Add(float64(sum.Duplicates))
	f.m.rows.WithLabelValues(f.cfg.Name, "rejected").Add(float64(sum.Rejected))
	if f.rejected == nil || sum.Rejected == 0 && sum.Outcome != OutcomeFailed {
		return
	}
	r := Rejected{Folder: f.cfg.Name, File: sum.File, ByClass: maps.Clone(sum.RejectedBy)}
	if r.ByClass == nil {
		r.ByClass = map[string]int{}
	}
	if sum.Outcome == OutcomeFailed {
		r.ByClass[FileClassFailed]++
		r.Detail = fmt.Sprintf("文件 %s 已退回 %s：%s", sum.File, sum.StoredAs, sum.Reason)
	} else {
		r.Detail = fmt.Sprintf("文件 %s 有 %d 行被拒，见 %s", sum.File, sum.Rejected, sum.RejectedFile)
	}
	f.rejected(r)
}

// errReplaced means the name now refers to another file than the one read.
var errReplaced = errors.New("file replaced while it was read")

// store moves a file into dir (processed or failed) under a free name:
// first the sidecars (rejected rows, reason, summary), then the file
// itself, which commits the move, then the marker and work record go. A
// crash before the file moved leaves it in place to be taken again. When
// opened is not nil the name must still refer to that file (errReplaced
// otherwise: a new file dropped under the same name is taken afresh).
func (f *folder) store(sum *Summary, rej *rejectedWriter, dir, reason string, opened fs.FileInfo) error {
	if err := f.same(sum.File, opened); err != nil {
		return err
	}
	target := f.freeName(dir, sum.File)
	base := path.Join(dir, target)
	if rej != nil && rej.rows > 0 {
		if err := rej.commit(base + ".rejected.csv"); err != nil {
			return err
		}
		sum.RejectedFile = base + ".rejected.csv"
	}
	if reason != "" {
		text := fmt.Sprintf("文件：%s\n原因：%s\n", sum.File, reason)
		if sum.Error != "" {
			text += "技术细节：" + sum.Error + "\n"
		}
		text += "时间：" + f.now().In(Shanghai).Format("2006-01-02 15:04:05") + "\n"
		if err := durable.WriteFile(f.root, base+".reason.txt", []byte(text), 0o640); err != nil {
			return err
		}
	}
	sum.StoredAs = base
	sum.FinishedAt = f.now()
	sum.DurationMS = sum.FinishedAt.Sub(sum.StartedAt).Milliseconds()
	b, err := json.MarshalIndent(sum, "", "  ")
	if err != nil {
		return err
	}
	if err := durable.WriteFile(f.root, base+".summary.json", append(b, '\n'), 0o640); err != nil {
		return err
	}
	for _, m := range markers(sum.File) {
		if err := f.root.Remove(m); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if err := f.same(sum.File, opened); err != nil {
		return err
	}
	if err := f.root.Rename(sum.File, base); err != nil {
		return err
	}
	if err := f.st.removeWork(sum.File); err != nil {
		f.log.Warn("cannot remove work record", zap.String("file", sum.File), zap.Error(err))
	}
	return nil
}

// same checks that name still refers to the file opened (nil: any).
func (f *folder) same(name string, opened fs.FileInfo) error {
	if opened == nil {
		return nil
	}
	now, err := f.root.Lstat(name)
	if err != nil {
		return err
	}
	if !os.SameFile(now, opened) {
		return errReplaced
	}
	return nil
}

// freeName returns name, or name with a timestamp (and a counter) when
// dir already holds a file or summary of that name.
func (f *folder) freeName(dir, name string) string {
	ext := filepath.Ext(name)
	stem := strings.TrimSuffix(name, ext)
	stamp := f.now().In(Shanghai).Format("20060102-150405")
	cand := name
	for i := range 1000 {
		if !f.exists(path.Join(dir, cand)) && !f.exists(path.Join(dir, cand+".summary.json")) {
			return cand
		}
		cand = stem + "." + stamp + ext
		if i > 0 {
			cand = fmt.Sprintf("%s.%s-%d%s", stem, stamp, i, ext)
		}
	}
	return fmt.Sprintf("%s.%d%s", stem, f.now().UnixNano(), ext)
}

func (f *folder) exists(name string) bool {
	_, err := f.root.Lstat(name)
	return !errors.Is(err, fs.ErrNotExist)
}

// markers are the completion markers a file may have.
func markers(name string) []string {
	out := []string{name + ".done"}
	if ext := filepath.Ext(name); ext != "" {
		out = append(out, strings.TrimSuffix(name, ext)+".done")
	}
	return out
}

func problemFields(ps []ingest.FieldError) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Field
	}
	return out
}

func summaryFields(s *Summary) []zap.Field {
	return []zap.Field{
		zap.String("stored_as", s.StoredAs), zap.Int("rows_read", s.RowsRead), zap.Int("published", s.Published),
		zap.Int("resumed", s.Resumed), zap.Int("duplicates", s.Duplicates), zap.Int("rejected", s.Rejected),
		zap.Int("empty_rows", s.EmptyRows), zap.String("encoding", s.Encoding), zap.String("delimiter", s.Delimiter),
		zap.Int64("duration_ms", s.DurationMS),
	}
}

// scanFile reads r to its end and returns the hex SHA-256 of its bytes,
// its size and whether it is entirely valid UTF-8.
func scanFile(ctx context.Context, r io.Reader) (string, int64, bool, error) {
	h := sha256.New()
	var u utf8Checker
	buf := make([]byte, 256<<10)
	var size int64
	for {
		if err := ctx.Err(); err != nil {
			return "", 0, false, err
		}
		n, err := r.Read(buf)
		if n > 0 {
			h.Write(buf[:n])
			u.write(buf[:n])
			size += int64(n)
		}
		if errors.Is(err, io.EOF) {
			return hex.EncodeToString(h.Sum(nil)), size, u.valid(), nil
		}
		if err != nil {
			return "", 0, false, err
		}
	}
}

// utf8Checker validates UTF-8 across chunk boundaries.
type utf8Checker struct {
	carry [utf8.UTFMax]byte
	n     int
	bad   bool
}

func (c *utf8Checker) write(p []byte) {
	if c.bad {
		return
	}
	data := p
	if c.n > 0 {
		data = make([]byte, 0, c.n+len(p))
		data = append(append(data, c.carry[:c.n]...), p...)
	}
	cut := len(data)
	for i := 1; i < utf8.UTFMax && i <= len(data); i++ {
		if utf8.RuneStart(data[len(data)-i]) {
			if !utf8.FullRune(data[len(data)-i:]) {
				cut = len(data) - i
			}
			break
		}
	}
	if !utf8.Valid(data[:cut]) {
		c.bad = true
		return
	}
	c.n = copy(c.carry[:], data[cut:])
}

func (c *utf8Checker) valid() bool { return !c.bad && c.n == 0 }

// rejectedWriter collects rejected rows in a hidden temporary file in
// processed/ (UTF-8 with a BOM so that Excel opens it): the row number,
// the reason, then the row's original cells under the original header.
type rejectedWriter struct {
	root   *os.Root
	name   string
	header []string
	tmp    string
	file   *os.File
	w      *csv.Writer
	rows   int
}

func (r *rejectedWriter) add(row int, reason string, cells []string) error {
	if r.file == nil {
		r.tmp = path.Join(ProcessedDir, "."+r.name+".rejected.csv.tmp")
		f, err := r.root.OpenFile(r.tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
		if err != nil {
			return err
		}
		r.file = f
		if _, err := f.WriteString("\ufeff"); err != nil {
			return err
		}
		r.w = csv.NewWriter(f)
		r.w.UseCRLF = true
		if err := r.w.Write(append([]string{"行号", "拒收原因"}, r.header...)); err != nil {
			return err
		}
	}
	r.rows++
	return r.w.Write(append([]string{strconv.Itoa(row), reason}, cells...))
}

// commit closes the file durably and renames it to dst.
func (r *rejectedWriter) commit(dst string) error {
	r.w.Flush()
	if err := r.w.Error(); err != nil {
		return err
	}
	if err := r.file.Sync(); err != nil {
		return err
	}
	if err := r.file.Close(); err != nil {
		return err
	}
	r.file = nil
	return r.root.Rename(r.tmp, dst)
}

// discard removes an uncommitted temporary file.
func (r *rejectedWriter) discard() {
	if r.file != nil {
		r.file.Close()
		_ = r.root.Remove(r.tmp)
		r.file = nil
	}
}

// rowStatus is what the ledger knows of a row's id.
type rowStatus int

const (
	rowNew       rowStatus = iota // publish it
	rowOurs                       // acknowledged in an interrupted take of this run
	rowDuplicate                  // an earlier row had the id
)

// publisher hands rows to Publish with at most MaxInFlight waiting for an
// acknowledgement. A flusher goroutine writes acknowledged ids to the
// ledger in batches and only then forgets them from pending, so an id
// being published or acknowledged is always found in pending or in the
// ledger. classify, submit and finish are called by one goroutine.
type publisher struct {
	f       *folder
	run     runID
	file    string
	ctx     context.Context
	cancel  context.CancelFunc
	jobs    chan job
	workers sync.WaitGroup
	kick    chan struct{} // asks the flusher to flush now
	stop    chan struct{} // ends the flusher after a last flush
	flusher chan struct{} // closed when the flusher ended
	flushed chan struct{} // signalled after each flush
	// maxPending bounds the rows submitted and not yet in the ledger:
	// those in flight plus two batches of acknowledged ones.
	maxPending int
	mu         sync.Mutex
	pending    map[string]int // id -> row: submitted, not yet in the ledger
	acks       []acked
	err        error
}

type job struct {
	env ingest.Envelope
	key []byte
	row int
}

func (f *folder) newPublisher(ctx context.Context, run runID, file string) *publisher {
	ctx, cancel := context.WithCancel(ctx)
	p := &publisher{
		f: f, run: run, file: file, ctx: ctx, cancel: cancel,
		jobs: make(chan job), kick: make(chan struct{}, 1), stop: make(chan struct{}), flusher: make(chan struct{}),
		flushed: make(chan struct{}, 1), pending: map[string]int{}, maxPending: f.cfg.MaxInFlight + 2*flushRows,
	}
	for range f.cfg.MaxInFlight {
		p.workers.Add(1)
		go p.work()
	}
	go p.flushLoop()
	return p
}

func (p *publisher) work() {
	defer p.workers.Done()
	for j := range p.jobs {
		if p.ctx.Err() != nil {
			continue
		}
		ctx, cancel := context.WithTimeout(p.ctx, p.f.cfg.PublishTimeout)
		err := p.f.publish(ctx, j.env)
		cancel()
		if err != nil {
			p.setErr(fmt.Errorf("publish row %d (%s): %w", j.row, j.env.ID, err))
			p.f.m.publishErrors.WithLabelValues(p.f.cfg.Name).Inc()
			continue
		}
		p.mu.Lock()
		p.acks = append(p.acks, acked{id: j.env.ID, key: j.key, row: j.row})
		full := len(p.acks) >= flushRows
		p.mu.Unlock()
		if full {
			select {
			case p.kick <- struct{}{}:
			default:
			}
		}
		p.f.m.rows.WithLabelValues(p.f.cfg.Name, "published").Inc()
	}
}

// setErr records the first error and stops the take.
func (p *publisher) setErr(err error) {
	p.mu.Lock()
	if p.err == nil {
		p.err = err
	}
	p.mu.Unlock()
	p.cancel()
}

func (p *publisher) flushLoop() {
	defer close(p.flusher)
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			p.flush()
			return
		case <-p.kick:
		case <-t.C:
		}
		p.flush()
	}
}

// flush writes the acknowledged ids to the ledger, then forgets them.
func (p *publisher) flush() {
	p.mu.Lock()
	batch := p.acks
	p.acks = nil
	p.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	if err := p.f.st.record(p.run, p.f.now(), batch); err != nil {
		p.setErr(fmt.Errorf("ledger: %w", err))
		return
	}
	p.mu.Lock()
	for _, a := range batch {
		delete(p.pending, a.id)
	}
	p.mu.Unlock()
	select {
	case p.flushed <- struct{}{}:
	default:
	}
}

// classify says whether the row with id (and ledger key) is new, was acknowledged before
// in this run, or duplicates an earlier row (first locates it).
func (p *publisher) classify(id string, key []byte, row int) (rowStatus, ledgerEntry, error) {
	p.mu.Lock()
	firstRow, pending := p.pending[id]
	p.mu.Unlock()
	if pending {
		return rowDuplicate, ledgerEntry{File: p.file, Row: firstRow}, nil
	}
	e, ok, err := p.f.st.lookup(key)
	switch {
	case err != nil:
		return rowNew, e, fmt.Errorf("ledger: %w", err)
	case !ok:
		return rowNew, e, nil
	case e.Run == p.run && e.Row == row:
		return rowOurs, e, nil
	}
	return rowDuplicate, e, nil
}

// submit hands a row to a worker, blocking while MaxInFlight rows wait for
// their acknowledgement. It fails once any publish failed or ctx ended.
func (p *publisher) submit(env ingest.Envelope, key []byte, row int) error {
	for {
		p.mu.Lock()
		n := len(p.pending)
		if n < p.maxPending {
			p.pending[env.ID] = row
			p.mu.Unlock()
			break
		}
		p.mu.Unlock()
		select { // the ledger is behind: wait for a flush
		case p.kick <- struct{}{}:
		default:
		}
		select {
		case <-p.flushed:
		case <-p.ctx.Done():
			return p.ctx.Err()
		}
	}
	select {
	case p.jobs <- job{env: env, key: key, row: row}:
		return nil
	case <-p.ctx.Done():
		return p.ctx.Err()
	}
}

// finish waits for the rows in flight, records their acknowledgements and
// returns the first error (nil when every row was acknowledged).
func (p *publisher) finish() error {
	close(p.jobs)
	p.workers.Wait()
	close(p.stop)
	<-p.flusher
	p.cancel()
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}
