package imap

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	"github.com/emersion/go-sasl"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/ingest/attachment"
	"github.com/tousu/tousu/ingest/ingesttest"

	secretpkg "github.com/tousu/tousu/internal/secret"
)

const (
	testUser     = "support@tousu.example.com"
	testPassword = "memserver-password"
	testToken    = "ya29.test-oauth-token"
)

// testServer is go-imap's in-memory IMAP server with switches that make
// flag updates and moves fail, and XOAUTH2 support.
type testServer struct {
	user      *imapmemserver.User
	srv       *imapserver.Server
	addr      string
	failFlags atomic.Bool // STORE and MOVE fail while set
	stores    atomic.Int64
}

func newTestServer(t testing.TB) *testServer {
	t.Helper()
	mem := imapmemserver.New()
	ts := &testServer{user: imapmemserver.NewUser(testUser, testPassword)}
	if err := ts.user.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	mem.AddUser(ts.user)
	ts.srv = imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return &faultySession{SessionIMAP4rev2: mem.NewSession().(imapserver.SessionIMAP4rev2), ts: ts}, nil, nil
		},
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapMove: {}, imap.CapUIDPlus: {}},
		InsecureAuth: true,
		Logger:       discardLogger{},
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.addr = ln.Addr().String()
	go ts.srv.Serve(ln)
	t.Cleanup(func() { ts.srv.Close() })
	return ts
}

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}

// faultySession wraps a memserver session: Store and Move fail while
// failFlags is set, and XOAUTH2 logs in with testToken.
type faultySession struct {
	imapserver.SessionIMAP4rev2
	ts *testServer
}

var errSimulated = &imap.Error{Type: imap.StatusResponseTypeNo, Text: "simulated failure"}

func (s *faultySession) Store(w *imapserver.FetchWriter, numSet imap.NumSet, flags *imap.StoreFlags, options *imap.StoreOptions) error {
	if s.ts.failFlags.Load() {
		return errSimulated
	}
	s.ts.stores.Add(1)
	return s.SessionIMAP4rev2.Store(w, numSet, flags, options)
}

func (s *faultySession) Move(w *imapserver.MoveWriter, numSet imap.NumSet, dest string) error {
	if s.ts.failFlags.Load() {
		return errSimulated
	}
	return s.SessionIMAP4rev2.Move(w, numSet, dest)
}

func (s *faultySession) AuthenticateMechanisms() []string { return []string{"PLAIN", "XOAUTH2"} }

func (s *faultySession) Authenticate(mech string) (sasl.Server, error) {
	switch mech {
	case "PLAIN":
		return sasl.NewPlainServer(func(_, user, pass string) error { return s.Login(user, pass) }), nil
	case "XOAUTH2":
		return xoauth2Server{s}, nil
	}
	return nil, errSimulated
}

type xoauth2Server struct{ s *faultySession }

func (x xoauth2Server) Next(resp []byte) ([]byte, bool, error) {
	parts := strings.Split(string(resp), "\x01")
	if len(parts) < 2 || parts[1] != "auth=Bearer "+testToken || parts[0] != "user="+testUser {
		return nil, false, imapserver.ErrAuthFailed
	}
	return nil, true, x.s.Login(testUser, testPassword)
}

func (ts *testServer) port() int {
	_, p, _ := net.SplitHostPort(ts.addr)
	n, _ := strconv.Atoi(p)
	return n
}

// mailbox is a test mailbox on this server with fast polling.
func (ts *testServer) mailbox(name, folder string) MailboxConfig {
	return MailboxConfig{
		Name: name, Host: "127.0.0.1", Port: ts.port(), TLS: TLSNone, AllowInsecure: true,
		Auth:   AuthConfig{Username: testUser, Password: secretpkg.Inline(testPassword)},
		Folder: folder, PollInterval: 50 * time.Millisecond, QuarantineFolder: "Quarantine",
		OurAddresses: testOurs, MaxAttachmentBytes: 4096,
	}
}

// appendMsg stores a message in folder with the given flags and
// INTERNALDATE (zero: now).
func (ts *testServer) appendMsg(t testing.TB, folder string, raw []byte, date time.Time, flags ...imap.Flag) {
	t.Helper()
	if _, err := ts.user.Append(folder, bytes.NewReader(raw), &imap.AppendOptions{Time: date, Flags: flags}); err != nil {
		t.Fatalf("append: %v", err)
	}
}

// messages lists the UIDs and flags of the messages in folder, read over
// IMAP by a separate client.
func messages(t testing.TB, addr, folder string) map[uint32][]imap.Flag {
	t.Helper()
	out, err := messagesErr(addr, folder)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// messagesErr is messages for goroutines other than the test's.
func messagesErr(addr, folder string) (map[uint32][]imap.Flag, error) {
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if err := c.Login(testUser, testPassword).Wait(); err != nil {
		return nil, err
	}
	sel, err := c.Select(folder, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return nil, fmt.Errorf("select %s: %w", folder, err)
	}
	out := map[uint32][]imap.Flag{}
	if sel.NumMessages == 0 {
		return out, nil
	}
	msgs, err := c.Fetch(imap.SeqSet{imap.SeqRange{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true}).Collect()
	if err != nil {
		return nil, err
	}
	for _, m := range msgs {
		out[uint32(m.UID)] = m.Flags
	}
	return out, nil
}

// flaggedSeen reports from any goroutine whether UID uid of folder has
// \Seen, recording an error on t if the server cannot be asked.
func flaggedSeen(t testing.TB, addr, folder string, uid uint32) bool {
	m, err := messagesErr(addr, folder)
	if err != nil {
		t.Errorf("list %s: %v", folder, err)
		return false
	}
	return hasFlag(m[uid], imap.FlagSeen)
}

func hasFlag(flags []imap.Flag, f imap.Flag) bool {
	for _, x := range flags {
		if strings.EqualFold(string(x), string(f)) {
			return true
		}
	}
	return false
}

// recorder stands in for the broker and the dead-letter topic.
type recorder struct {
	mu          sync.Mutex
	published   []ingest.Envelope
	attempts    map[string]int // publish calls by envelope id
	quarantined []Quarantined
	ignored     []Ignored
	// Hooks run before a record is kept; an error fails the call.
	onPublish    func(env ingest.Envelope, attempt int) error
	onQuarantine func(q Quarantined) error
}

func newRecorder() *recorder { return &recorder{attempts: map[string]int{}} }

func (r *recorder) publish(_ context.Context, env ingest.Envelope) error {
	r.mu.Lock()
	r.attempts[env.ID]++
	n, hook := r.attempts[env.ID], r.onPublish
	r.mu.Unlock()
	if hook != nil {
		if err := hook(env, n); err != nil {
			return err
		}
	}
	r.mu.Lock()
	r.published = append(r.published, env)
	r.mu.Unlock()
	return nil
}

func (r *recorder) quarantine(_ context.Context, q Quarantined) error {
	r.mu.Lock()
	hook := r.onQuarantine
	r.mu.Unlock()
	if hook != nil {
		if err := hook(q); err != nil {
			return err
		}
	}
	r.mu.Lock()
	r.quarantined = append(r.quarantined, q)
	r.mu.Unlock()
	return nil
}

func (r *recorder) ignore(_ context.Context, ig Ignored) error {
	r.mu.Lock()
	r.ignored = append(r.ignored, ig)
	r.mu.Unlock()
	return nil
}

// counts returns the number of distinct ids published, quarantined and
// ignored (deduplicated as downstream would).
func (r *recorder) counts() (pub, quar, ign int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(uniq(r.published, func(e ingest.Envelope) string { return e.ID })),
		len(uniq(r.quarantined, func(q Quarantined) string { return q.ID })),
		len(uniq(r.ignored, func(i Ignored) string { return i.ID }))
}

func (r *recorder) total() int {
	p, q, i := r.counts()
	return p + q + i
}

func (r *recorder) envelopes() map[string]ingest.Envelope {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]ingest.Envelope{}
	for _, e := range r.published {
		out[e.ID] = e
	}
	return out
}

func uniq[T any](xs []T, key func(T) string) map[string]bool {
	m := map[string]bool{}
	for _, x := range xs {
		m[key(x)] = true
	}
	return m
}

// harness runs Readers against a test server with a shared state dir,
// attachment store, evidence store, recorder and metrics registry.
type harness struct {
	t        testing.TB
	dir      string
	store    *attachment.Store
	evidence *attachment.Store // nil: the Reader's default in dir
	rec      *recorder
	reg      *prometheus.Registry
	log      *zap.Logger
}

func newHarness(t testing.TB) *harness {
	store, err := attachment.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	evidence, err := attachment.OpenEvidence(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, dir: t.TempDir(), store: store, evidence: evidence, rec: newRecorder(),
		log: zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))}
}

// start runs a new Reader over the mailboxes; the returned stop function
// cancels it and waits for Run to return.
func (h *harness) start(mailboxes ...MailboxConfig) (*Reader, func()) {
	h.t.Helper()
	h.reg = prometheus.NewRegistry()
	cfg := Config{Mailboxes: mailboxes}
	cfg.Provision()
	r, err := New(cfg, h.dir, ingesttest.References(), h.rec.publish, h.rec.quarantine, h.store, h.log, h.reg)
	if err != nil {
		h.t.Fatal(err)
	}
	r.SetIgnored(h.rec.ignore)
	if h.evidence != nil {
		r.SetEvidence(h.evidence)
	}
	r.minBackoff, r.maxBackoff = 5*time.Millisecond, 50*time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				h.t.Errorf("Run: %v", err)
			}
		})
	}
	h.t.Cleanup(stop)
	return r, stop
}

func (h *harness) metric(c *prometheus.CounterVec, mailbox string) int {
	var m dto.Metric
	if err := c.WithLabelValues(mailbox).Write(&m); err != nil {
		h.t.Fatal(err)
	}
	return int(m.GetCounter().GetValue())
}

// proxy forwards TCP connections to target and can drop them all at once,
// to simulate a network failure in the middle of a poll.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	drops  atomic.Int64
	// cut, when set, ends the first server-to-client stream that carries
	// it right before it, both ways, as a network failure in the middle
	// of a message would; it is then cleared.
	cut []byte
}

func newProxy(t testing.TB, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	go p.serve()
	t.Cleanup(func() { ln.Close(); p.drop() })
	return p
}

func (p *proxy) port() int { return p.ln.Addr().(*net.TCPAddr).Port }

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		u, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, u)
		p.mu.Unlock()
		go func() { io.Copy(u, c); u.Close() }()
		go func() { p.forward(c, u); c.Close() }()
	}
}

// forward copies what the server sends to the client until either ends,
// or up to the cut marker.
func (p *proxy) forward(c, u net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := u.Read(buf)
		if n > 0 {
			chunk := buf[:n]
			p.mu.Lock()
			cut := p.cut
			if i := bytes.Index(chunk, cut); len(cut) > 0 && i >= 0 {
				p.cut = nil
				p.mu.Unlock()
				c.Write(chunk[:i])
				c.Close()
				u.Close()
				return
			}
			p.mu.Unlock()
			if _, err := c.Write(chunk); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// drop closes every open connection.
func (p *proxy) drop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
	p.drops.Add(1)
}

var errBrokerDown = errors.New("broker unavailable")
