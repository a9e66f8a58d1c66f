// Package imap is the e-mail channel: it reads complaints from any number
// of IMAP mailboxes and hands each one to an ingest.Publish function.
//
// Guarantees, per mailbox:
//
//   - Nothing is lost. Progress is the last acknowledged UID under the
//     folder's UIDVALIDITY, kept durably in a small state file. Every poll
//     fetches every message above it by UID range, however old, so mail
//     that arrived during downtime is read. A changed UIDVALIDITY (the
//     folder was recreated or migrated) resets the progress and rescans
//     the whole folder; nothing is skipped.
//   - Nothing is duplicated downstream. A message is marked \Seen or moved
//     (configurable) only after Publish returned nil (or, for mail that is
//     not a complaint, after it was quarantined or recorded). If that update
//     fails, the message is offered again on the next poll with the same
//     deterministic envelope id, which downstream stages treat as the same
//     complaint. The Message-ID travels in Extra["message_id"] so the same
//     mail delivered to two mailboxes, or read again after a UIDVALIDITY
//     change, can be recognised as well.
//   - One bad message does not stall the mailbox: a message that cannot be
//     parsed or cannot become a valid envelope goes to the Quarantine
//     function with the reason and its raw bytes and is moved to the
//     quarantine folder. So does a message larger than MaxMessageBytes,
//     whose raw bytes are streamed to the evidence store instead of being
//     held in memory. Auto-replies, bounces and our own mail are
//     recorded (metric, log, optional Ignored callback) and acknowledged.
//   - Mailboxes are independent: each runs in its own goroutine with its
//     own connection, and a failing one retries with capped exponential
//     backoff, visible in Health and the metrics, without blocking others.
//
// MIME decoding (ParseMessage) handles RFC 2047 headers in mixed charsets,
// bodies in every charset golang.org/x/text knows (GB2312 and GBK labels
// decoded as GB18030, since senders mislabel; "UTF-8" and "ISO-8859-1"
// labels on GBK text seen through), quoted-printable and base64 including
// broken ones, HTML-only mail (rendered to text, the HTML kept sanitised
// for display), nested multiparts and attachments, whose content goes to
// the attachment store up to a configured size. It is lenient as real
// mailers need: a malformed header line is skipped, a missing or wrong
// boundary guessed; every such repair is a warning on the complaint
// (ingest.ExtraWarnings), and only mail without one readable header field
// is unparseable.
package imap

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/ingest/attachment"
	"github.com/tousu/tousu/internal/backoff"
)

// Quarantined is a message that cannot become a complaint: the mail could
// not be parsed, or it has no usable sender address or text.
type Quarantined struct {
	Mailbox     string
	UIDValidity uint32
	UID         uint32
	// SourceID is "<uidvalidity>/<uid>"; ID is the envelope id the message
	// would have had, so a replay after repair keeps it.
	SourceID   string
	ID         string
	MessageID  string
	Reason     string
	ReceivedAt time.Time
	// Raw is the message exactly as the server returned it; nil when it
	// was larger than MaxMessageBytes.
	Raw []byte
	// RawSHA256 and RawSize describe a message larger than
	// MaxMessageBytes: its raw bytes were streamed to the evidence store
	// (SetEvidence) and are kept there under this hex SHA-256. Both are
	// empty when Raw holds the message.
	RawSHA256 string
	RawSize   int64
}

// Quarantine records a quarantined message durably (tousu maps it to the
// complaints.dlq topic). It blocks until the record is safe and returns an
// error otherwise; the message is then not acknowledged and offered again.
// It is called from one goroutine per mailbox, so it must be safe for
// concurrent use when several mailboxes are configured.
type Quarantine func(ctx context.Context, q Quarantined) error

// Ignored is an automatic message that opens no case: an auto-reply, a
// bounce, bulk mail, or mail from one of our own addresses.
type Ignored struct {
	Mailbox    string
	SourceID   string
	ID         string
	MessageID  string
	Subject    string
	Reason     string
	ReceivedAt time.Time
}

// IgnoredFunc optionally records ignored messages somewhere durable. Like
// Quarantine it blocks until done; an error leaves the message
// unacknowledged. It must be safe for concurrent use.
type IgnoredFunc func(ctx context.Context, ig Ignored) error

// MailboxHealth is the state of one mailbox for readiness details.
type MailboxHealth struct {
	// LastSuccess is when the last poll completed; zero before the first.
	LastSuccess time.Time `json:"last_success"`
	// ConsecutiveErrors counts failed attempts since the last success.
	ConsecutiveErrors int `json:"consecutive_errors"`
	// LastError is the text of the latest failure (never a secret); empty
	// after a success.
	LastError   string `json:"last_error,omitempty"`
	UIDValidity uint32 `json:"uidvalidity,omitempty"`
	LastUID     uint32 `json:"last_uid,omitempty"`
}

// Reader reads the configured mailboxes. Create it with New, start it
// with Run once; Health is safe to call at any time from any goroutine.
type Reader struct {
	mailboxes  []*mailbox
	stateDir   string
	refs       ingest.References
	publish    ingest.Publish
	quarantine Quarantine
	ignored    IgnoredFunc
	store      *attachment.Store
	// evidence keeps the raw bytes of oversized messages; opened in
	// stateDir on first use when SetEvidence was not called.
	evidenceMu sync.Mutex
	evidence   *attachment.Store
	logger     *zap.Logger
	metrics    *metrics
	running    atomic.Bool

	// Backoff after a failed attempt, doubled per failure up to max.
	minBackoff, maxBackoff time.Duration
	// saveEvery bounds how many acknowledged messages may be re-published
	// after a crash: the state file is written at least this often.
	saveEvery int
}

// New checks cfg, which must be provisioned (Config.Provision), and
// prepares a Reader. stateDir holds one small state
// file per mailbox and is created if needed. refs derives reference
// numbers. publish hands envelopes to the broker, quarantine records
// messages that cannot become complaints; both are required. store keeps attachment content; with a nil store,
// attachments are recorded without content. logger should carry a
// component field; reg receives the metrics (nil: not registered).
func New(cfg Config, stateDir string, refs ingest.References, publish ingest.Publish, quarantine Quarantine, store *attachment.Store, logger *zap.Logger, reg prometheus.Registerer) (*Reader, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("imap: %w", err)
	}
	if err := refs.Check(); err != nil {
		return nil, fmt.Errorf("imap: %w", err)
	}
	if publish == nil || quarantine == nil {
		return nil, errors.New("imap: publish and quarantine functions are required")
	}
	if stateDir == "" {
		return nil, errors.New("imap: a state directory is required")
	}
	if err := os.MkdirAll(stateDir, 0o750); err != nil {
		return nil, fmt.Errorf("imap: state directory: %w", err)
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	var names []string
	for _, m := range cfg.Mailboxes {
		names = append(names, m.Name)
	}
	met, err := newMetrics(reg, names)
	if err != nil {
		return nil, err
	}
	r := &Reader{
		stateDir:   stateDir,
		refs:       refs,
		publish:    publish,
		quarantine: quarantine,
		store:      store,
		logger:     logger,
		metrics:    met,
		minBackoff: time.Second,
		maxBackoff: 5 * time.Minute,
		saveEvery:  20,
	}
	for _, mc := range cfg.Mailboxes {
		r.mailboxes = append(r.mailboxes, &mailbox{
			cfg:     mc,
			r:       r,
			log:     logger.With(zap.String("mailbox", mc.Name)),
			newMail: make(chan struct{}, 1),
		})
	}
	return r, nil
}

// SetIgnored sets the function that records ignored messages (auto-replies,
// bounces, our own mail). Without it they are counted and logged only.
// Call it before Run.
func (r *Reader) SetIgnored(fn IgnoredFunc) { r.ignored = fn }

// OversizedDir is the directory under the state directory where the raw
// bytes of oversized messages are kept when SetEvidence was not called.
const OversizedDir = "oversized"

// SetEvidence sets the store that keeps the raw bytes of messages larger
// than their mailbox's MaxMessageBytes, streamed there as they are read
// (open it with attachment.OpenEvidence: it must accept every type; it is
// the store that also keeps large quarantined mail). Without it they go to
// an evidence store in OversizedDir under the state directory. Call it
// before Run.
func (r *Reader) SetEvidence(store *attachment.Store) { r.evidence = store }

// evidenceStore returns the evidence store, opening the default one on
// first use.
func (r *Reader) evidenceStore() (*attachment.Store, error) {
	r.evidenceMu.Lock()
	defer r.evidenceMu.Unlock()
	if r.evidence == nil {
		s, err := attachment.OpenEvidence(filepath.Join(r.stateDir, OversizedDir))
		if err != nil {
			return nil, fmt.Errorf("evidence store: %w", err)
		}
		r.evidence = s
	}
	return r.evidence, nil
}

// Run reads every mailbox concurrently until ctx ends, then returns nil.
// Failures of a mailbox are logged, counted and retried with backoff; they
// never end Run. Run may be called once.
func (r *Reader) Run(ctx context.Context) error {
	if !r.running.CompareAndSwap(false, true) {
		return errors.New("imap: Run called twice")
	}
	var wg sync.WaitGroup
	for _, m := range r.mailboxes {
		wg.Go(func() { m.run(ctx) })
	}
	wg.Wait()
	return nil
}

// Health returns the state of every mailbox by name.
func (r *Reader) Health() map[string]MailboxHealth {
	out := make(map[string]MailboxHealth, len(r.mailboxes))
	for _, m := range r.mailboxes {
		m.mu.Lock()
		out[m.cfg.Name] = m.health
		m.mu.Unlock()
	}
	return out
}

// mailbox is one configured mailbox and its loop.
type mailbox struct {
	cfg     MailboxConfig
	r       *Reader
	log     *zap.Logger
	newMail chan struct{}

	state State // owned by the run goroutine
	acked int   // messages acknowledged, owned by the run goroutine

	mu     sync.Mutex
	health MailboxHealth
}

// run connects, polls and waits until ctx ends, reconnecting with capped
// exponential backoff (with jitter) after any failure.
func (m *mailbox) run(ctx context.Context) {
	for attempt := 1; ctx.Err() == nil; attempt++ {
		ok, err := m.session(ctx)
		if ctx.Err() != nil {
			return
		}
		if ok {
			attempt = 1 // it made progress: retry soon
		}
		m.failed(err)
		d := backoff.Capped(m.r.minBackoff, m.r.maxBackoff, attempt)
		delay := backoff.Between(d, d+d/4)
		m.log.Warn("imap mailbox failed; retrying", zap.Error(err), zap.Duration("retry_in", delay),
			zap.Int("consecutive_errors", m.Health().ConsecutiveErrors))
		if !backoff.Sleep(ctx, delay) {
			return
		}
	}
}

// Health returns this mailbox's health.
func (m *mailbox) Health() MailboxHealth {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.health
}

func (m *mailbox) failed(err error) {
	m.r.metrics.errors.WithLabelValues(m.cfg.Name).Inc()
	m.mu.Lock()
	m.health.ConsecutiveErrors++
	m.health.LastError = err.Error()
	m.mu.Unlock()
}

func (m *mailbox) succeeded() {
	now := time.Now()
	m.r.metrics.lastSuccess.WithLabelValues(m.cfg.Name).Set(float64(now.UnixNano()) / 1e9)
	m.mu.Lock()
	m.health.LastSuccess = now
	m.health.ConsecutiveErrors = 0
	m.health.LastError = ""
	m.health.UIDValidity = m.state.UIDValidity
	m.health.LastUID = m.state.LastUID
	m.mu.Unlock()
}

// session runs one connection: connect, log in, then poll and wait until
// something fails. ok reports whether it made progress: a poll completed or
// a message was acknowledged.
func (m *mailbox) session(ctx context.Context) (ok bool, err error) {
	ackedBefore := m.acked
	defer func() { ok = ok || m.acked > ackedBefore }()
	st, err := loadState(m.r.stateDir, m.cfg.Name, m.cfg.Folder)
	if err != nil {
		return false, err
	}
	m.state = st
	c, err := dial(ctx, m.cfg, m.newMail)
	if err != nil {
		return false, err
	}
	defer c.Close()
	// Commands do not take a context: closing the connection ends them.
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()

	if err := m.ensureFolders(c); err != nil {
		return false, err
	}
	m.log.Info("imap mailbox connected", zap.String("host", m.cfg.Host), zap.String("folder", m.cfg.Folder),
		zap.String("user", m.cfg.Auth.Username), zap.Uint32("uidvalidity", m.state.UIDValidity), zap.Uint32("last_uid", m.state.LastUID))
	for {
		if err := m.poll(ctx, c); err != nil {
			return ok, err
		}
		ok = true
		if ctx.Err() != nil {
			return ok, ctx.Err()
		}
		m.succeeded()
		if err := m.wait(ctx, c); err != nil {
			return ok, err
		}
	}
}

// ensureFolders creates the folders messages are moved to, if missing.
func (m *mailbox) ensureFolders(c *imapclient.Client) error {
	var folders []string
	if m.cfg.After == AfterMove {
		folders = append(folders, m.cfg.MoveTo)
	}
	if m.cfg.QuarantineFolder != "" {
		folders = append(folders, m.cfg.QuarantineFolder)
	}
	for _, f := range folders {
		err := c.Create(f, nil).Wait()
		var ierr *imap.Error
		if err == nil || errors.As(err, &ierr) && ierr.Code == imap.ResponseCodeAlreadyExists {
			continue
		}
		// Not every server says ALREADYEXISTS; see whether it is there.
		if _, serr := c.Status(f, &imap.StatusOptions{NumMessages: true}).Wait(); serr != nil {
			return fmt.Errorf("create folder %q: %w", f, err)
		}
	}
	return nil
}

// wait returns when it is time for the next poll: the server announced new
// mail (IDLE), or PollInterval passed (the safety-net full check).
func (m *mailbox) wait(ctx context.Context, c *imapclient.Client) error {
	timer := time.NewTimer(m.cfg.PollInterval)
	defer timer.Stop()
	caps := c.Caps()
	if *m.cfg.Idle && (caps.Has(imap.CapIdle) || caps.Has(imap.CapIMAP4rev2)) {
		// Mail that arrived since the search is announced in the answer to
		// a NOOP; not every server repeats it when IDLE starts.
		if err := c.Noop().Wait(); err != nil {
			return fmt.Errorf("noop: %w", err)
		}
		select {
		case <-m.newMail:
			return nil
		default:
		}
		idle, err := c.Idle()
		if err != nil {
			return fmt.Errorf("idle: %w", err)
		}
		select {
		case <-m.newMail:
		case <-timer.C:
		case <-ctx.Done():
		case <-c.Closed():
		}
		closeErr := idle.Close()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := errors.Join(closeErr, idle.Wait()); err != nil {
			return fmt.Errorf("idle: %w", err)
		}
		return nil
	}
	select {
	case <-timer.C:
		return nil
	case <-m.newMail:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-c.Closed():
		return errors.New("connection closed by the server")
	}
}

// poll selects the folder and handles every message above the last
// acknowledged UID, in UID order. It stops at the first message that
// cannot be handled (the broker or the server failed), so that message
// and those after it are offered again on the next poll.
func (m *mailbox) poll(ctx context.Context, c *imapclient.Client) error {
	sel, err := c.Select(m.cfg.Folder, nil).Wait()
	if err != nil {
		return fmt.Errorf("select %q: %w", m.cfg.Folder, err)
	}
	if m.state.UIDValidity != sel.UIDValidity || m.state.Folder != m.cfg.Folder {
		if m.state.UIDValidity != 0 {
			m.log.Warn("UIDVALIDITY changed: rescanning the whole folder (duplicates are recognised by message_id downstream)",
				zap.Uint32("old_uidvalidity", m.state.UIDValidity), zap.Uint32("uidvalidity", sel.UIDValidity))
		}
		m.state = State{Folder: m.cfg.Folder, UIDValidity: sel.UIDValidity, Updated: time.Now().UTC()}
		if err := saveState(m.r.stateDir, m.cfg.Name, m.state); err != nil {
			return err
		}
	}
	if sel.NumMessages == 0 || (sel.UIDNext != 0 && uint32(sel.UIDNext) <= m.state.LastUID+1) {
		return nil
	}
	// The UIDs to handle and their RFC822.SIZE, so that an oversized
	// message is known before its body is fetched.
	list, err := c.Fetch(imap.UIDSet{imap.UIDRange{Start: imap.UID(m.state.LastUID + 1), Stop: 0}},
		&imap.FetchOptions{UID: true, RFC822Size: true}).Collect()
	if err != nil {
		return fmt.Errorf("list new messages: %w", err)
	}
	var uids []uint32
	sizes := make(map[uint32]int64, len(list))
	for _, b := range list {
		// "n:*" also matches the highest UID when it is below n.
		if u := uint32(b.UID); u > m.state.LastUID {
			uids = append(uids, u)
			sizes[u] = b.RFC822Size
		}
	}
	slices.Sort(uids)
	uids = slices.Compact(uids)
	unsaved := 0
	defer func() {
		if unsaved > 0 {
			if err := saveState(m.r.stateDir, m.cfg.Name, m.state); err != nil {
				m.log.Error("save state", zap.Error(err))
			}
		}
	}()
	for _, uid := range uids {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := m.handle(ctx, c, sel.UIDValidity, uid, sizes[uid]); err != nil {
			return err
		}
		m.state.LastUID = uid
		m.state.Updated = time.Now().UTC()
		m.acked++
		unsaved++
		if unsaved >= m.r.saveEvery {
			if err := saveState(m.r.stateDir, m.cfg.Name, m.state); err != nil {
				return err
			}
			unsaved = 0
		}
	}
	return nil
}

// outcome is what became of a message.
type outcome int

const (
	published outcome = iota
	quarantined
	ignored
)

// handle fetches one message, publishes, quarantines or ignores it, and
// then acknowledges it on the server. size is the message's RFC822.SIZE
// (0 if the server gave none). A nil error means it was acknowledged (or
// has vanished from the folder).
func (m *mailbox) handle(ctx context.Context, c *imapclient.Client, uidValidity, uid uint32, size int64) error {
	f, err := m.fetch(c, uidValidity, uid, size)
	if err != nil {
		return err
	}
	if !f.found {
		m.log.Info("message vanished before it was read (expunged by another client)", zap.Uint32("uid", uid))
		return nil
	}
	m.r.metrics.seen.WithLabelValues(m.cfg.Name).Inc()
	meta := Meta{Mailbox: m.cfg.Name, UIDValidity: uidValidity, UID: uid, InternalDate: f.internalDate}
	var out outcome
	if f.oversized != nil {
		out, err = m.quarantineOversized(ctx, meta, f.oversized)
	} else {
		out, err = m.process(ctx, meta, f.raw)
	}
	if err != nil {
		return err
	}
	if err := m.ack(c, uid, out); err != nil {
		return err
	}
	switch out {
	case published:
		m.r.metrics.published.WithLabelValues(m.cfg.Name).Inc()
	case quarantined:
		m.r.metrics.quarantined.WithLabelValues(m.cfg.Name).Inc()
	case ignored:
		m.r.metrics.ignored.WithLabelValues(m.cfg.Name).Inc()
	}
	return nil
}

// fetched is one message as fetch read it.
type fetched struct {
	found        bool // the server returned the message
	internalDate time.Time
	raw          []byte // nil if the server returned no content, or oversized
	oversized    *spooled
}

// spooled is an oversized message streamed to the evidence store.
type spooled struct {
	att       ingest.Attachment // SHA256 and Size of the raw bytes
	messageID string            // from the header, if it was readable
}

// maxSpoolHead bounds the start of an oversized message kept in memory to
// read its Message-ID.
const maxSpoolHead = 64 << 10

// fetch reads one message without setting \Seen. A message whose size (the
// RFC822.SIZE listed before, or the length of the body the server sends)
// exceeds MaxMessageBytes is streamed to the evidence store as it arrives;
// a smaller one is read into memory.
func (m *mailbox) fetch(c *imapclient.Client, uidValidity, uid uint32, size int64) (fetched, error) {
	var f fetched
	section := &imap.FetchItemBodySection{Peek: true} // Peek: do not set \Seen yet
	cmd := c.Fetch(imap.UIDSetNum(imap.UID(uid)), &imap.FetchOptions{
		UID: true, InternalDate: true, BodySection: []*imap.FetchItemBodySection{section},
	})
	for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
		for item := msg.Next(); item != nil; item = msg.Next() {
			switch it := item.(type) {
			case imapclient.FetchItemDataUID:
				f.found = f.found || uint32(it.UID) == uid
			case imapclient.FetchItemDataInternalDate:
				f.internalDate = it.Time
			case imapclient.FetchItemDataBodySection:
				if it.Literal == nil || !it.MatchCommand(section) {
					continue
				}
				var err error
				var got int64
				if max(size, it.Literal.Size()) > m.cfg.MaxMessageBytes {
					if f.oversized, err = m.spool(it.Literal, EnvelopeID(m.cfg.Name, uidValidity, uid)); err == nil {
						got = f.oversized.att.Size
					}
				} else {
					f.raw, err = io.ReadAll(it.Literal)
					got = int64(len(f.raw))
				}
				if err == nil && got != it.Literal.Size() {
					// The connection ended inside the literal: go-imap's
					// literal reader reports that as a plain end of
					// file.
					err = fmt.Errorf("message cut short: %d of %d bytes: %w", got, it.Literal.Size(), io.ErrUnexpectedEOF)
				}
				if err != nil {
					// A literal that failed to read, or was cut short,
					// must not be read again: go-imap's reader goroutine
					// goes on with the connection once a read ended,
					// and a further Next would discard the rest of the
					// literal from the same buffer at the same time (a
					// data race seen when the connection drops
					// mid-message). The caller closes the client, which
					// ends the command; the message is fetched again.
					return fetched{}, fmt.Errorf("fetch UID %d: %w", uid, err)
				}
			}
		}
	}
	if err := cmd.Close(); err != nil {
		return f, fmt.Errorf("fetch UID %d: %w", uid, err)
	}
	return f, nil
}

// spool streams an oversized message to the evidence store and reads its
// Message-ID from the first maxSpoolHead bytes. name only labels the file.
func (m *mailbox) spool(lit imap.LiteralReader, name string) (*spooled, error) {
	store, err := m.r.evidenceStore()
	if err != nil {
		return nil, err
	}
	head := &headBuffer{max: maxSpoolHead}
	att, err := store.Put(io.TeeReader(lit, head), name+".eml", lit.Size())
	if err != nil {
		return nil, fmt.Errorf("keep oversized message: %w", err)
	}
	return &spooled{att: att, messageID: headerMessageID(head.Bytes())}, nil
}

// headerMessageID returns the Message-ID of a message's start, or "" if its
// header is not complete there or has none (the header is read as
// leniently as ParseMessage reads it).
func headerMessageID(start []byte) string {
	// The header ends at the first empty line (CRLF or LF).
	cut := -1
	if i := bytes.Index(start, []byte("\n\r\n")); i >= 0 {
		cut = i + 3
	}
	if i := bytes.Index(start, []byte("\n\n")); i >= 0 && (cut < 0 || i+2 < cut) {
		cut = i + 2
	}
	if cut < 0 {
		return ""
	}
	h, _, _ := readHeader(start[:cut], "")
	return truncateUTF8(first(msgIDs(h.Get("Message-Id"))), 500)
}

// headBuffer keeps the first max bytes written to it.
type headBuffer struct {
	bytes.Buffer
	max int
}

func (b *headBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

// quarantine records a message that cannot become a complaint. An error
// means the record is not durable and the message must not be
// acknowledged.
func (m *mailbox) quarantine(ctx context.Context, q Quarantined) (outcome, error) {
	if err := m.r.quarantine(ctx, q); err != nil {
		return 0, fmt.Errorf("quarantine UID %d: %w", q.UID, err)
	}
	m.log.Warn("message quarantined", zap.String("source_id", q.SourceID), zap.String("message_id", q.MessageID),
		zap.String("reason", q.Reason))
	return quarantined, nil
}

// quarantineOversized quarantines a message larger than MaxMessageBytes,
// whose raw bytes are already in the evidence store.
func (m *mailbox) quarantineOversized(ctx context.Context, meta Meta, sp *spooled) (outcome, error) {
	return m.quarantine(ctx, Quarantined{
		Mailbox: meta.Mailbox, UIDValidity: meta.UIDValidity, UID: meta.UID,
		SourceID: SourceID(meta.UIDValidity, meta.UID), ID: EnvelopeID(meta.Mailbox, meta.UIDValidity, meta.UID),
		MessageID: sp.messageID, ReceivedAt: meta.InternalDate,
		Reason: fmt.Sprintf("message of %d bytes exceeds max_message_bytes %d; raw bytes kept in the evidence store as sha256 %s",
			sp.att.Size, m.cfg.MaxMessageBytes, sp.att.SHA256),
		RawSHA256: sp.att.SHA256, RawSize: sp.att.Size,
	})
}

// process turns a raw message into a published envelope, a quarantine
// record or an ignored record. An error means none of them is durable and
// the message must not be acknowledged.
func (m *mailbox) process(ctx context.Context, meta Meta, raw []byte) (outcome, error) {
	id := EnvelopeID(meta.Mailbox, meta.UIDValidity, meta.UID)
	sid := SourceID(meta.UIDValidity, meta.UID)
	quarantine := func(messageID, reason string) (outcome, error) {
		return m.quarantine(ctx, Quarantined{
			Mailbox: meta.Mailbox, UIDValidity: meta.UIDValidity, UID: meta.UID, SourceID: sid, ID: id,
			MessageID: messageID, Reason: reason, ReceivedAt: meta.InternalDate, Raw: raw,
		})
	}
	if raw == nil {
		return quarantine("", "the server returned no content for the message")
	}
	p, err := ParseMessage(raw, ParseOptions{OurAddresses: m.cfg.OurAddresses, AcceptListMail: m.cfg.AcceptListMail})
	if err != nil {
		return quarantine("", err.Error())
	}
	if p.Auto != "" {
		ig := Ignored{Mailbox: meta.Mailbox, SourceID: sid, ID: id, MessageID: p.MessageID,
			Subject: p.Subject, Reason: p.Auto, ReceivedAt: meta.InternalDate}
		if m.r.ignored != nil {
			if err := m.r.ignored(ctx, ig); err != nil {
				return 0, fmt.Errorf("record ignored UID %d: %w", meta.UID, err)
			}
		}
		m.log.Info("automatic message ignored", zap.String("source_id", sid), zap.String("message_id", p.MessageID),
			zap.String("reason", p.Auto))
		return ignored, nil
	}
	atts, notStored, err := m.storeAttachments(p.Attachments)
	if err != nil {
		return 0, err
	}
	env, err := BuildEnvelope(m.r.refs, &p, meta, raw, atts, notStored)
	if err != nil {
		return quarantine(p.MessageID, err.Error())
	}
	start := time.Now()
	if err := m.r.publish(ctx, env); err != nil {
		return 0, fmt.Errorf("publish UID %d: %w", meta.UID, err)
	}
	m.log.Info("complaint published", zap.String("id", env.ID), zap.String("reference", env.Reference),
		zap.String("source_id", sid), zap.String("message_id", p.MessageID),
		zap.Int("attachments", len(atts)), zap.Int("warnings", len(p.Warnings)), zap.Duration("publish", time.Since(start)))
	return published, nil
}

// storeAttachments puts the content of each attachment in the store, up to
// MaxAttachmentBytes. Attachments that are too large or of a type the
// store refuses are recorded without content; empty ones are left out. An
// error (the disk failed) means the message must be tried again.
func (m *mailbox) storeAttachments(parts []Part) ([]ingest.Attachment, []NotStored, error) {
	var atts []ingest.Attachment
	var notStored []NotStored
	for i, p := range parts {
		if len(p.Data) == 0 {
			continue
		}
		name := p.Name
		if name == "" {
			name = fmt.Sprintf("attachment-%d%s", i+1, extensionFor(p.ContentType))
		}
		reason := ""
		if m.r.store == nil {
			reason = NotStoredNoStore
		} else if int64(len(p.Data)) > m.cfg.MaxAttachmentBytes {
			reason = NotStoredTooLarge
		} else {
			a, err := m.r.store.Put(bytesReader(p.Data), name, m.cfg.MaxAttachmentBytes)
			switch {
			case err == nil:
				atts = append(atts, a)
				continue
			case errors.Is(err, attachment.ErrTooLarge):
				reason = NotStoredTooLarge
			case errors.Is(err, attachment.ErrTypeNotAllowed):
				reason = NotStoredTypeNotAllowed
			case errors.Is(err, attachment.ErrEmpty):
				continue
			default:
				return nil, nil, fmt.Errorf("store attachment: %w", err)
			}
		}
		a := recordOnly(p, name)
		atts = append(atts, a)
		notStored = append(notStored, NotStored{Name: a.Name, SHA256: a.SHA256, Size: a.Size, Reason: reason})
	}
	return atts, notStored, nil
}

// ack acknowledges a handled message on the server: quarantined mail is
// moved to the quarantine folder (when one is configured); everything else
// gets \Seen and, with after: move, is moved to MoveTo.
func (m *mailbox) ack(c *imapclient.Client, uid uint32, out outcome) error {
	set := imap.UIDSetNum(imap.UID(uid))
	if out == quarantined && m.cfg.QuarantineFolder != "" {
		if _, err := c.Move(set, m.cfg.QuarantineFolder).Wait(); err != nil {
			return fmt.Errorf("move UID %d to %q: %w", uid, m.cfg.QuarantineFolder, err)
		}
		return nil
	}
	seen := &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagSeen}}
	if err := c.Store(set, seen, nil).Close(); err != nil {
		return fmt.Errorf("flag UID %d \\Seen: %w", uid, err)
	}
	if m.cfg.After == AfterMove {
		if _, err := c.Move(set, m.cfg.MoveTo).Wait(); err != nil {
			return fmt.Errorf("move UID %d to %q: %w", uid, m.cfg.MoveTo, err)
		}
	}
	return nil
}

// recordOnly describes an attachment whose content is not stored.
func recordOnly(p Part, name string) ingest.Attachment {
	sum := sha256.Sum256(p.Data)
	name = attachment.SanitizeName(name)
	return ingest.Attachment{
		Name:   name,
		Type:   attachment.DetectType(p.Data),
		Size:   int64(len(p.Data)),
		SHA256: hex.EncodeToString(sum[:]),
	}
}

// extensionFor gives an unnamed part a file extension matching its type
// (a fixed table: the system's mime.types differ between machines).
func extensionFor(mediaType string) string {
	if ext, ok := extensions[mediaType]; ok {
		return ext
	}
	return ".bin"
}

var extensions = map[string]string{
	"message/rfc822": ".eml", "text/plain": ".txt", "text/html": ".html", "text/calendar": ".ics",
	"image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif", "image/webp": ".webp", "image/heic": ".heic",
	"application/pdf": ".pdf", attachment.TypeDOC: ".doc", attachment.TypeXLS: ".xls", attachment.TypePPT: ".ppt",
	attachment.TypeDOCX: ".docx", attachment.TypeXLSX: ".xlsx", attachment.TypePPTX: ".pptx",
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
