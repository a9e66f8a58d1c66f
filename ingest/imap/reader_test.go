package imap

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/ingest/attachment"
	"github.com/tousu/tousu/ingest/ingesttest"
	"github.com/tousu/tousu/internal/polltest"

	secretpkg "github.com/tousu/tousu/internal/secret"
)

// TestReaderFixtures delivers every fixture to a mailbox and checks what
// became of each: published, quarantined or ignored, and afterwards every
// message is flagged \Seen or moved to the quarantine folder.
func TestReaderFixtures(t *testing.T) {
	ts := newTestServer(t)
	h := newHarness(t)
	var all []fixture
	for _, f := range fixtures(t) {
		// The in-memory server serves only messages it can parse itself.
		if !strings.HasPrefix(f.name, "mbox") {
			all = append(all, f)
		}
	}
	var wantPub, wantQuar, wantIgn int
	for _, f := range all {
		ts.appendMsg(t, "INBOX", f.raw, time.Time{})
		switch {
		case f.unparseable || f.invalid:
			wantQuar++
		case f.auto:
			wantIgn++
		default:
			wantPub++
		}
	}
	// Attachments beyond the limit and of a refused type.
	ts.appendMsg(t, "INBOX", attachmentMail("big@example.com", "big.pdf", "application/pdf", append(pdfBytes, make([]byte, 5000)...)), time.Time{})
	ts.appendMsg(t, "INBOX", attachmentMail("zip@example.com", "logs.zip", "application/zip", zipBytes), time.Time{})
	wantPub += 2

	// Check the ordering rule from inside Publish: the message must not be
	// flagged yet when it is being published.
	var flaggedEarly []string
	var mu sync.Mutex
	h.rec.onPublish = func(env ingest.Envelope, _ int) error {
		uid := strings.Split(env.SourceID, "/")[1]
		var n uint32
		fmt.Sscan(uid, &n)
		if flaggedSeen(t, ts.addr, "INBOX", n) {
			mu.Lock()
			flaggedEarly = append(flaggedEarly, env.SourceID)
			mu.Unlock()
		}
		return nil
	}
	r, stop := h.start(ts.mailbox("support", "INBOX"))
	polltest.Until(t, "every message handled", func() bool { return h.rec.total() == len(all)+2 })
	waitAcked(t, r, "support", uint32(len(all)+2))
	stop()

	pub, quar, ign := h.rec.counts()
	if pub != wantPub || quar != wantQuar || ign != wantIgn {
		t.Fatalf("published %d, quarantined %d, ignored %d; want %d, %d, %d", pub, quar, ign, wantPub, wantQuar, wantIgn)
	}
	if len(flaggedEarly) > 0 {
		t.Errorf("flagged before publish: %v", flaggedEarly)
	}
	inbox := messages(t, ts.addr, "INBOX")
	if len(inbox) != wantPub+wantIgn {
		t.Errorf("INBOX holds %d messages, want %d", len(inbox), wantPub+wantIgn)
	}
	for uid, flags := range inbox {
		if !hasFlag(flags, imap.FlagSeen) {
			t.Errorf("UID %d not flagged \\Seen: %v", uid, flags)
		}
	}
	if q := messages(t, ts.addr, "Quarantine"); len(q) != wantQuar {
		t.Errorf("Quarantine holds %d messages, want %d", len(q), wantQuar)
	}
	for _, q := range h.rec.quarantined {
		if q.Reason == "" || q.Mailbox != "support" || q.ID != EnvelopeID("support", q.UIDValidity, q.UID) {
			t.Errorf("quarantine record %+v", q)
		}
	}

	// The envelopes carry the decoded fields.
	bySubject := map[string]ingest.Envelope{}
	for _, e := range h.rec.envelopes() {
		bySubject[e.Subject] = e
		if errs := e.Validate(); len(errs) > 0 {
			t.Errorf("published an invalid envelope %s: %v", e.SourceID, errs)
		}
	}
	for _, f := range all {
		if f.subject == "" || f.auto || f.invalid || f.unparseable {
			continue
		}
		e, ok := bySubject[f.subject]
		if !ok {
			t.Errorf("%s: no envelope with subject %q", f.name, f.subject)
			continue
		}
		if f.fromName != "" && e.Name != f.fromName {
			t.Errorf("%s: Name = %q, want %q", f.name, e.Name, f.fromName)
		}
	}
	if e := bySubject["宽带故障"]; e.Extra[ExtraMessageID] != "plain-1@example.com" || e.Email != "zhangsan@example.com" {
		t.Errorf("plain mail envelope = %+v", e)
	}

	// Attachments: stored up to the limit, recorded without content beyond.
	nested := bySubject["nested"]
	if len(nested.Attachments) != 3 {
		t.Fatalf("nested attachments = %+v", nested.Attachments)
	}
	for _, a := range nested.Attachments {
		rc, err := h.store.Open(a.SHA256)
		if err != nil {
			t.Errorf("attachment %s not in the store: %v", a.Name, err)
			continue
		}
		rc.Close()
	}
	if nested.Attachments[1].Name != "投诉书.pdf" || nested.Attachments[1].Type != "application/pdf" {
		t.Errorf("pdf attachment = %+v", nested.Attachments[1])
	}
	for subject, reason := range map[string]string{"attachment big.pdf": NotStoredTooLarge, "attachment logs.zip": NotStoredTypeNotAllowed} {
		e := bySubject[subject]
		var ns []NotStored
		if err := json.Unmarshal([]byte(e.Extra[ExtraAttachmentsNotStored]), &ns); err != nil || len(ns) != 1 || ns[0].Reason != reason {
			t.Errorf("%s: attachments_not_stored = %q", subject, e.Extra[ExtraAttachmentsNotStored])
			continue
		}
		if len(e.Attachments) != 1 || e.Attachments[0].SHA256 != ns[0].SHA256 || e.Attachments[0].Size == 0 {
			t.Errorf("%s: attachments = %+v", subject, e.Attachments)
		}
		if _, err := h.store.Open(ns[0].SHA256); err == nil {
			t.Errorf("%s: content stored although %s", subject, reason)
		}
	}

	// Metrics and health.
	m := r.metrics
	if got := h.metric(m.published, "support"); got != wantPub {
		t.Errorf("published metric = %d", got)
	}
	if got := h.metric(m.quarantined, "support"); got != wantQuar {
		t.Errorf("quarantined metric = %d", got)
	}
	if got := h.metric(m.ignored, "support"); got != wantIgn {
		t.Errorf("ignored metric = %d", got)
	}
	if got := h.metric(m.seen, "support"); got != len(all)+2 {
		t.Errorf("seen metric = %d", got)
	}
	health := r.Health()["support"]
	if health.ConsecutiveErrors != 0 || health.LastError != "" || health.LastUID != uint32(len(all)+2) {
		t.Errorf("health = %+v", health)
	}
}

// TestReaderFailingPublish: while Publish fails, the message stays
// unflagged and nothing after it is published; once the broker is back it
// is published and flagged.
func TestReaderFailingPublish(t *testing.T) {
	ts := newTestServer(t)
	h := newHarness(t)
	for i := range 3 {
		ts.appendMsg(t, "INBOX", msg([]string{"From: c@example.com", fmt.Sprintf("Subject: m%d", i)}, "投诉内容"), time.Time{})
	}
	var mu sync.Mutex
	var order []string
	h.rec.onPublish = func(env ingest.Envelope, attempt int) error {
		mu.Lock()
		order = append(order, env.Subject)
		mu.Unlock()
		if env.Subject == "m1" && attempt <= 3 {
			if flaggedSeen(t, ts.addr, "INBOX", 2) {
				t.Errorf("m1 flagged although not published (attempt %d)", attempt)
			}
			return errBrokerDown
		}
		return nil
	}
	r, stop := h.start(ts.mailbox("support", "INBOX"))
	polltest.Until(t, "all published", func() bool { return h.rec.total() == 3 })
	waitAcked(t, r, "support", 3)
	stop()

	mu.Lock()
	defer mu.Unlock()
	want := "m0 m1 m1 m1 m1 m2"
	if got := strings.Join(order, " "); got != want {
		t.Errorf("publish order %q, want %q", got, want)
	}
	for uid, flags := range messages(t, ts.addr, "INBOX") {
		if !hasFlag(flags, imap.FlagSeen) {
			t.Errorf("UID %d not flagged", uid)
		}
	}
	if got := h.metric(r.metrics.errors, "support"); got != 3 {
		t.Errorf("errors metric = %d, want 3", got)
	}
}

// TestReaderFailingFlagUpdate: when \Seen or the move cannot be set after
// a publish, the next poll publishes the message again with the same id.
func TestReaderFailingFlagUpdate(t *testing.T) {
	for _, after := range []string{AfterSeen, AfterMove} {
		t.Run(after, func(t *testing.T) {
			ts := newTestServer(t)
			h := newHarness(t)
			ts.appendMsg(t, "INBOX", msg([]string{"From: c@example.com", "Subject: flag"}, "正文"), time.Time{})
			ts.failFlags.Store(true)
			h.rec.onPublish = func(env ingest.Envelope, attempt int) error {
				if attempt == 3 {
					ts.failFlags.Store(false) // the server recovers
				}
				return nil
			}
			mb := ts.mailbox("support", "INBOX")
			if after == AfterMove {
				mb.After, mb.MoveTo = AfterMove, "Done"
			}
			r, stop := h.start(mb)
			waitAcked(t, r, "support", 1)
			stop()

			h.rec.mu.Lock()
			defer h.rec.mu.Unlock()
			if len(h.rec.published) != 3 {
				t.Fatalf("published %d times, want 3", len(h.rec.published))
			}
			for _, e := range h.rec.published {
				if e.ID != h.rec.published[0].ID || e.Reference != h.rec.published[0].Reference {
					t.Errorf("re-published with another id: %s vs %s", e.ID, h.rec.published[0].ID)
				}
			}
			if after == AfterMove {
				if n := len(messages(t, ts.addr, "INBOX")); n != 0 {
					t.Errorf("INBOX still holds %d", n)
				}
				done := messages(t, ts.addr, "Done")
				if len(done) != 1 {
					t.Fatalf("Done holds %d", len(done))
				}
				for _, flags := range done {
					if !hasFlag(flags, imap.FlagSeen) {
						t.Error("moved message not flagged \\Seen")
					}
				}
			} else if !hasFlag(messages(t, ts.addr, "INBOX")[1], imap.FlagSeen) {
				t.Error("message not flagged")
			}
		})
	}
}

// TestReaderUIDValidityChange: a recreated folder (new UIDVALIDITY, UIDs
// starting again below the recorded progress) is rescanned in full.
func TestReaderUIDValidityChange(t *testing.T) {
	ts := newTestServer(t)
	h := newHarness(t)
	if err := ts.user.Create("Complaints", nil); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		ts.appendMsg(t, "Complaints", msg([]string{"From: c@example.com", fmt.Sprintf("Subject: old %d", i)}, "正文"), time.Time{})
	}
	mb := ts.mailbox("support", "Complaints")
	r, stop := h.start(mb)
	polltest.Until(t, "first batch", func() bool { return h.rec.total() == 5 })
	waitAcked(t, r, "support", 5)
	stop()
	before, _ := loadState(h.dir, "support", "Complaints")

	// The folder is recreated and gets two messages: UIDs 1 and 2 again.
	if err := ts.user.Delete("Complaints"); err != nil {
		t.Fatal(err)
	}
	if err := ts.user.Create("Complaints", nil); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		ts.appendMsg(t, "Complaints", msg([]string{"From: c@example.com", fmt.Sprintf("Subject: new %d", i)}, "正文"), time.Time{})
	}
	r, stop = h.start(mb)
	polltest.Until(t, "the rescan", func() bool { return h.rec.total() == 7 })
	waitAcked(t, r, "support", 2)
	stop()

	after, _ := loadState(h.dir, "support", "Complaints")
	if after.UIDValidity == before.UIDValidity || after.LastUID != 2 || before.LastUID != 5 {
		t.Errorf("state before %+v, after %+v", before, after)
	}
	subjects := map[string]bool{}
	for _, e := range h.rec.envelopes() {
		subjects[e.Subject] = true
	}
	if !subjects["new 0"] || !subjects["new 1"] {
		t.Errorf("published %v", subjects)
	}
}

// TestReaderCatchUpAfterDowntime: mail that arrived while tousu was down is
// fetched however old it is, also when somebody already read it.
func TestReaderCatchUpAfterDowntime(t *testing.T) {
	ts := newTestServer(t)
	h := newHarness(t)
	r, stop := h.start(ts.mailbox("support", "INBOX"))
	polltest.Until(t, "a first poll", func() bool { return !r.Health()["support"].LastSuccess.IsZero() })
	stop()

	old := time.Date(2019, 3, 1, 9, 0, 0, 0, time.UTC)
	for i := range 30 {
		var flags []imap.Flag
		if i%3 == 0 {
			flags = []imap.Flag{imap.FlagSeen} // read in webmail before tousu saw it
		}
		ts.appendMsg(t, "INBOX", msg([]string{"From: c@example.com", "Date: Fri, 01 Mar 2019 09:00:00 +0000",
			fmt.Sprintf("Subject: backlog %d", i)}, "积压的投诉"), old.Add(time.Duration(i)*time.Hour), flags...)
	}
	_, stop = h.start(ts.mailbox("support", "INBOX"))
	polltest.Until(t, "the backlog", func() bool { return h.rec.total() == 30 })
	stop()
	for _, e := range h.rec.envelopes() {
		if e.ReceivedAt.Year() != 2019 {
			t.Errorf("ReceivedAt %v is not the server's INTERNALDATE", e.ReceivedAt)
		}
	}
}

// TestReaderQuarantineKeepsFlowing: an unparseable message between good
// ones is quarantined (once the quarantine accepted it) and the mailbox
// goes on.
func TestReaderQuarantineKeepsFlowing(t *testing.T) {
	ts := newTestServer(t)
	h := newHarness(t)
	good := func(i int) []byte {
		return msg([]string{"From: c@example.com", fmt.Sprintf("Subject: good %d", i)}, "正文")
	}
	ts.appendMsg(t, "INBOX", good(0), time.Time{})
	ts.appendMsg(t, "INBOX", msg([]string{"Subject: no sender"}, "无发件人"), time.Time{})
	ts.appendMsg(t, "INBOX", []byte("garbage without header\r\n"), time.Time{})
	ts.appendMsg(t, "INBOX", good(1), time.Time{})
	fails := 1
	h.rec.onQuarantine = func(Quarantined) error {
		h.rec.mu.Lock()
		defer h.rec.mu.Unlock()
		if fails > 0 {
			fails--
			return errBrokerDown
		}
		return nil
	}
	r, stop := h.start(ts.mailbox("support", "INBOX"))
	polltest.Until(t, "all handled", func() bool { return h.rec.total() == 4 })
	waitAcked(t, r, "support", 4)
	stop()
	pub, quar, _ := h.rec.counts()
	if pub != 2 || quar != 2 {
		t.Fatalf("published %d, quarantined %d", pub, quar)
	}
	q := h.rec.quarantined[0]
	if !strings.Contains(q.Reason, "no sender address") || !strings.Contains(string(q.Raw), "无发件人") || q.SourceID != SourceID(q.UIDValidity, 2) {
		t.Errorf("quarantine record %+v", q)
	}
	if n := len(messages(t, ts.addr, "Quarantine")); n != 2 {
		t.Errorf("Quarantine folder holds %d", n)
	}
}

// TestReaderIgnoresAutoReplies: auto-replies and bounces open no case but
// are recorded and acknowledged.
func TestReaderIgnoresAutoReplies(t *testing.T) {
	ts := newTestServer(t)
	h := newHarness(t)
	n := 0
	for _, f := range fixtures(t) {
		if f.auto {
			ts.appendMsg(t, "INBOX", f.raw, time.Time{})
			n++
		}
	}
	r, stop := h.start(ts.mailbox("support", "INBOX"))
	polltest.Until(t, "all ignored", func() bool { return h.rec.total() == n })
	waitAcked(t, r, "support", uint32(n))
	stop()
	pub, _, ign := h.rec.counts()
	if pub != 0 || ign != n {
		t.Errorf("published %d, ignored %d of %d", pub, ign, n)
	}
	for _, ig := range h.rec.ignored {
		if ig.Reason == "" || ig.ID == "" {
			t.Errorf("ignored record %+v", ig)
		}
	}
	for uid, flags := range messages(t, ts.addr, "INBOX") {
		if !hasFlag(flags, imap.FlagSeen) {
			t.Errorf("UID %d not acknowledged", uid)
		}
	}
}

// TestReaderMailboxesIndependent: a mailbox that cannot log in keeps
// failing and shows it in Health, while the other one delivers.
func TestReaderMailboxesIndependent(t *testing.T) {
	ts := newTestServer(t)
	h := newHarness(t)
	ts.appendMsg(t, "INBOX", msg([]string{"From: c@example.com", "Subject: ok"}, "正文"), time.Time{})
	good := ts.mailbox("good", "INBOX")
	bad := ts.mailbox("bad", "INBOX")
	bad.Auth.Password = secretpkg.Inline("wrong-" + secret)
	down := ts.mailbox("down", "INBOX")
	down.Port = closedPort(t)
	r, stop := h.start(bad, down, good)
	waitAcked(t, r, "good", 1)
	polltest.Until(t, "repeated failures", func() bool {
		hl := r.Health()
		return hl["bad"].ConsecutiveErrors >= 3 && hl["down"].ConsecutiveErrors >= 3
	})
	stop()
	hl := r.Health()
	for _, name := range []string{"bad", "down"} {
		if hl[name].LastError == "" || !hl[name].LastSuccess.IsZero() || strings.Contains(hl[name].LastError, secret) {
			t.Errorf("%s health = %+v", name, hl[name])
		}
	}
	if hl["good"].ConsecutiveErrors != 0 || hl["good"].LastSuccess.IsZero() {
		t.Errorf("good health = %+v", hl["good"])
	}
}

func closedPort(t testing.TB) int {
	p := newProxy(t, "127.0.0.1:1")
	port := p.port()
	p.ln.Close()
	return port
}

// TestReaderConnectionDrops: connections dropped in the middle of polls
// lose nothing and, deduplicated by id, publish every message once.
func TestReaderConnectionDrops(t *testing.T) {
	ts := newTestServer(t)
	h := newHarness(t)
	const n = 60
	for i := range n {
		ts.appendMsg(t, "INBOX", msg([]string{"From: c@example.com", fmt.Sprintf("Subject: drop %d", i)}, "正文"), time.Time{})
	}
	px := newProxy(t, ts.addr)
	mb := ts.mailbox("support", "INBOX")
	mb.Port = px.port()
	h.rec.onPublish = func(env ingest.Envelope, attempt int) error {
		if attempt == 1 && strings.HasSuffix(env.Subject, "5") {
			px.drop() // after this publish, before the flag update
		}
		return nil
	}
	r, stop := h.start(mb)
	polltest.Until(t, "all published", func() bool { return h.rec.total() == n })
	waitAcked(t, r, "support", n)
	stop()
	if px.drops.Load() < 6 {
		t.Errorf("only %d drops", px.drops.Load())
	}
	h.rec.mu.Lock()
	repeats := len(h.rec.published) - n
	h.rec.mu.Unlock()
	if repeats < 1 {
		t.Errorf("no message was published twice; the drops did not hit between publish and flag")
	}
	for uid, flags := range messages(t, ts.addr, "INBOX") {
		if !hasFlag(flags, imap.FlagSeen) {
			t.Errorf("UID %d not flagged", uid)
		}
	}
}

// TestReaderMessageCutShort: a connection that ends inside a message's
// body is a failed fetch, not a shorter message: the mail is fetched again
// and published whole, never cut. Under -race it also shows that the cut
// literal is not read again (go-imap reports the cut as a plain end of
// file and its reader goroutine goes on with the buffer; reading the
// literal's rest was a data race).
func TestReaderMessageCutShort(t *testing.T) {
	ts := newTestServer(t)
	h := newHarness(t)
	body := "宽带从周一开始断网。" + strings.Repeat("维修师傅一直没有上门。", 50) + "CUT-HERE" + strings.Repeat("客服说会回电但没有。", 50) + "END-OF-MAIL"
	ts.appendMsg(t, "INBOX", msg([]string{"From: c@example.com", "Subject: 断网"}, body), time.Time{})
	px := newProxy(t, ts.addr)
	px.mu.Lock()
	px.cut = []byte("CUT-HERE")
	px.mu.Unlock()
	mb := ts.mailbox("support", "INBOX")
	mb.Port = px.port()
	r, stop := h.start(mb)
	waitAcked(t, r, "support", 1)
	stop()
	px.mu.Lock()
	cut := px.cut == nil
	px.mu.Unlock()
	if !cut {
		t.Fatal("the connection was never cut")
	}
	h.rec.mu.Lock()
	defer h.rec.mu.Unlock()
	if len(h.rec.published) == 0 {
		t.Fatal("nothing published")
	}
	for _, env := range h.rec.published {
		if !strings.Contains(env.Description, "END-OF-MAIL") {
			t.Errorf("published a message cut short: %d bytes, ending %q", len(env.Description), env.Description[max(0, len(env.Description)-40):])
		}
	}
}

// TestReaderAuthMechanisms logs in with PLAIN and with XOAUTH2 from a token
// file and a token command.
func TestReaderAuthMechanisms(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	os.WriteFile(tokenFile, []byte(testToken+"\n"), 0o600)
	pwFile := filepath.Join(dir, "pw")
	os.WriteFile(pwFile, []byte(testPassword+"\n"), 0o600)
	tests := []struct {
		name string
		auth AuthConfig
	}{
		{"plain", AuthConfig{Mechanism: AuthPlain, Username: testUser, Password: secretpkg.Inline(testPassword)}},
		{"login with password file", AuthConfig{Username: testUser, PasswordFile: pwFile}},
		{"xoauth2 token file", AuthConfig{Mechanism: AuthXOAuth2, Username: testUser, TokenFile: tokenFile}},
		{"xoauth2 token command", AuthConfig{Mechanism: AuthXOAuth2, Username: testUser, TokenCommand: "echo " + testToken}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t)
			h := newHarness(t)
			ts.appendMsg(t, "INBOX", msg([]string{"From: c@example.com", "Subject: auth"}, "正文"), time.Time{})
			mb := ts.mailbox("support", "INBOX")
			mb.Auth = tt.auth
			_, stop := h.start(mb)
			polltest.Until(t, "the message", func() bool { return h.rec.total() == 1 })
			stop()
		})
	}
	t.Run("bad token", func(t *testing.T) {
		ts := newTestServer(t)
		m := MailboxConfig{
			Name: "x", Host: "127.0.0.1", Port: ts.port(), TLS: TLSNone,
			Auth: AuthConfig{Mechanism: AuthXOAuth2, Username: testUser, TokenCommand: "echo wrong-token; echo " + secret + " >&2"},
		}
		m.Provision()
		_, err := dial(context.Background(), m, make(chan struct{}, 1))
		if err == nil || strings.Contains(err.Error(), "wrong-token") || strings.Contains(err.Error(), secret) {
			t.Errorf("dial = %v", err)
		}
	})
	t.Run("failing token command", func(t *testing.T) {
		_, err := oauthToken(context.Background(), AuthConfig{TokenCommand: "echo " + secret + "; echo " + secret + " >&2; exit 3"})
		if err == nil || strings.Contains(err.Error(), secret) {
			t.Errorf("oauthToken = %v", err)
		}
	})
}

// TestReaderIdleWakesUp: with IDLE, a message appended while the reader
// waits is fetched long before the safety-net poll.
func TestReaderIdleWakesUp(t *testing.T) {
	ts := newTestServer(t)
	h := newHarness(t)
	mb := ts.mailbox("support", "INBOX")
	mb.PollInterval = time.Hour // only IDLE can wake the reader
	r, stop := h.start(mb)
	polltest.Until(t, "the first poll", func() bool { return !r.Health()["support"].LastSuccess.IsZero() })
	// The in-memory server forgets a notification that races with the
	// start of IDLE, so deliver until one gets through; any publish at all
	// proves IDLE woke the reader, as the next poll is an hour away.
	polltest.Until(t, "the IDLE notification", func() bool {
		ts.appendMsg(t, "INBOX", msg([]string{"From: c@example.com", "Subject: idle"}, "正文"), time.Time{})
		for range 200 {
			if h.rec.total() > 0 {
				return true
			}
			time.Sleep(5 * time.Millisecond)
		}
		return false
	})
	stop()
}

func TestNewRejects(t *testing.T) {
	pub := func(context.Context, ingest.Envelope) error { return nil }
	q := func(context.Context, Quarantined) error { return nil }
	good := Config{Mailboxes: []MailboxConfig{validMailbox()}}
	if _, err := New(Config{Mailboxes: []MailboxConfig{{Name: "x"}}}, t.TempDir(), ingesttest.References(), pub, q, nil, nil, nil); err == nil {
		t.Error("invalid config accepted")
	}
	if _, err := New(good, t.TempDir(), ingesttest.References(), nil, q, nil, nil, nil); err == nil {
		t.Error("nil publish accepted")
	}
	if _, err := New(good, "", ingesttest.References(), pub, q, nil, nil, nil); err == nil {
		t.Error("empty state dir accepted")
	}
	r, err := New(Config{}, t.TempDir(), ingesttest.References(), pub, q, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.Run(ctx); err != nil {
		t.Errorf("Run = %v", err)
	}
	if err := r.Run(ctx); err == nil {
		t.Error("second Run accepted")
	}
}

// waitAcked waits until a poll of mailbox completed with every message up
// to uid acknowledged.
func waitAcked(t testing.TB, r *Reader, mailbox string, uid uint32) {
	t.Helper()
	polltest.Until(t, fmt.Sprintf("%s acknowledged up to UID %d", mailbox, uid), func() bool {
		h := r.Health()[mailbox]
		return h.LastUID == uid && h.ConsecutiveErrors == 0
	})
}

// TestReaderOversized: a message larger than max_message_bytes is
// quarantined without being parsed: its raw bytes are streamed to the
// evidence store (the configured one, or the default under the state
// directory), the record names size and limit, it is moved to the
// quarantine folder and the mailbox goes on. A message of exactly the
// limit is a complaint as usual.
func TestReaderOversized(t *testing.T) {
	big := func(id string, n int) []byte {
		raw := attachmentMail("big@example.com", "scan.pdf", "application/pdf", append(pdfBytes, make([]byte, n)...))
		if id != "" {
			raw = append([]byte("Message-ID: <"+id+">\r\n"), raw...)
		}
		return raw
	}
	good := func(i int) []byte {
		return msg([]string{"From: c@example.com", fmt.Sprintf("Subject: good %d", i)}, "正文")
	}
	atLimit := msg([]string{"From: c@example.com", "Subject: at the limit"}, strings.Repeat("很长的投诉。", 600))
	limit := int64(len(atLimit))
	for _, tt := range []struct {
		name        string
		setEvidence bool
	}{{"evidence store set", true}, {"default evidence store", false}} {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t)
			h := newHarness(t)
			if !tt.setEvidence {
				h.evidence = nil
			}
			bigs := map[uint32][]byte{2: big("big-1@example.com", 20000), 5: big("", 50000)}
			ts.appendMsg(t, "INBOX", good(0), time.Time{})
			ts.appendMsg(t, "INBOX", bigs[2], time.Time{})
			ts.appendMsg(t, "INBOX", atLimit, time.Time{})
			ts.appendMsg(t, "INBOX", good(1), time.Time{})
			ts.appendMsg(t, "INBOX", bigs[5], time.Time{})
			ts.appendMsg(t, "INBOX", good(2), time.Time{})
			mb := ts.mailbox("support", "INBOX")
			mb.MaxMessageBytes = limit
			r, stop := h.start(mb)
			waitAcked(t, r, "support", 6)
			stop()

			pub, quar, _ := h.rec.counts()
			if pub != 4 || quar != 2 {
				t.Fatalf("published %d, quarantined %d; want 4, 2", pub, quar)
			}
			evidence := h.evidence
			if evidence == nil {
				var err error
				if evidence, err = attachment.OpenEvidence(filepath.Join(h.dir, OversizedDir)); err != nil {
					t.Fatal(err)
				}
			}
			for _, q := range h.rec.quarantined {
				raw := bigs[q.UID]
				if raw == nil {
					t.Errorf("UID %d quarantined", q.UID)
					continue
				}
				if q.Raw != nil || q.RawSize != int64(len(raw)) || q.ID != EnvelopeID("support", q.UIDValidity, q.UID) {
					t.Errorf("UID %d: record %+v", q.UID, q)
				}
				for _, s := range []string{fmt.Sprint(len(raw)), fmt.Sprint(limit), "max_message_bytes", q.RawSHA256} {
					if !strings.Contains(q.Reason, s) {
						t.Errorf("UID %d: reason %q does not name %q", q.UID, q.Reason, s)
					}
				}
				if want := map[uint32]string{2: "big-1@example.com"}[q.UID]; q.MessageID != want {
					t.Errorf("UID %d: MessageID %q, want %q", q.UID, q.MessageID, want)
				}
				rc, err := evidence.Open(q.RawSHA256)
				if err != nil {
					t.Errorf("UID %d: raw bytes not kept: %v", q.UID, err)
					continue
				}
				kept, _ := io.ReadAll(rc)
				rc.Close()
				if !bytes.Equal(kept, raw) {
					t.Errorf("UID %d: kept %d bytes that differ from the %d delivered", q.UID, len(kept), len(raw))
				}
			}
			subjects := map[string]bool{}
			for _, e := range h.rec.envelopes() {
				subjects[e.Subject] = true
			}
			if !subjects["at the limit"] || !subjects["good 2"] {
				t.Errorf("published %v", subjects)
			}
			if q := messages(t, ts.addr, "Quarantine"); len(q) != 2 {
				t.Errorf("Quarantine folder holds %d", len(q))
			}
			for uid, flags := range messages(t, ts.addr, "INBOX") {
				if !hasFlag(flags, imap.FlagSeen) {
					t.Errorf("UID %d not flagged", uid)
				}
			}
			if got := h.metric(r.metrics.quarantined, "support"); got != 2 {
				t.Errorf("quarantined metric = %d", got)
			}
			if got := h.metric(r.metrics.published, "support"); got != 4 {
				t.Errorf("published metric = %d", got)
			}
		})
	}
}

// TestFetchSizeUnknown: when the size listed before the fetch is missing
// or too small (a server that does not report RFC822.SIZE, or reports it
// wrong), the size of the body as it arrives still sends an oversized
// message to the evidence store instead of memory.
func TestFetchSizeUnknown(t *testing.T) {
	ts := newTestServer(t)
	h := newHarness(t)
	raw := attachmentMail("big@example.com", "scan.pdf", "application/pdf", append(pdfBytes, make([]byte, 20000)...))
	ts.appendMsg(t, "INBOX", raw, time.Time{})
	mb := ts.mailbox("support", "INBOX")
	mb.MaxMessageBytes = 4096
	mb.Provision()
	r, err := New(Config{Mailboxes: []MailboxConfig{mb}}, h.dir, ingesttest.References(), h.rec.publish, h.rec.quarantine, h.store, h.log, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.SetEvidence(h.evidence)
	c, err := dial(context.Background(), r.mailboxes[0].cfg, make(chan struct{}, 1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int64{0, 100} {
		f, err := r.mailboxes[0].fetch(c, sel.UIDValidity, 1, size)
		if err != nil {
			t.Fatal(err)
		}
		if !f.found || f.raw != nil || f.oversized == nil || f.oversized.att.Size != int64(len(raw)) {
			t.Fatalf("size %d: fetched %+v", size, f)
		}
	}
	f, err := r.mailboxes[0].fetch(c, sel.UIDValidity, 2, 0) // no such message
	if err != nil || f.found {
		t.Errorf("missing UID: %+v, %v", f, err)
	}
}

// TestReaderListMail: a mailbox with accept_list_mail publishes the list
// mail that others ignore, and still ignores bulk mail and auto-replies.
func TestReaderListMail(t *testing.T) {
	mails := [][]byte{
		msg([]string{"From: '张三' via 投诉 <group@tousu.example.com>", "Reply-To: 张三 <zhangsan@example.com>", "Precedence: list",
			"List-Id: <complaints.tousu.example.com>", "Subject: 宽带断网"}, "断网三天了"),
		msg([]string{"From: lisi@example.com", "Precedence: list", "List-Id: <complaints.tousu.example.com>", "Subject: 话费多扣"}, "多扣了30元"),
		msg([]string{"From: news@example.com", "Precedence: bulk", "Subject: newsletter"}, "news"),
		msg([]string{"From: away@example.com", "Precedence: list", "Auto-Submitted: auto-replied", "Subject: 自动回复: 投诉"}, "休假中"),
	}
	for _, tt := range []struct {
		accept   bool
		pub, ign int
	}{{false, 0, 4}, {true, 2, 2}} {
		t.Run(fmt.Sprint("accept_list_mail=", tt.accept), func(t *testing.T) {
			ts := newTestServer(t)
			h := newHarness(t)
			for _, m := range mails {
				ts.appendMsg(t, "INBOX", m, time.Time{})
			}
			mb := ts.mailbox("group", "INBOX")
			mb.AcceptListMail = tt.accept
			mb.OurAddresses = []string{"@tousu.example.com"}
			r, stop := h.start(mb)
			waitAcked(t, r, "group", uint32(len(mails)))
			stop()
			pub, quar, ign := h.rec.counts()
			if pub != tt.pub || ign != tt.ign || quar != 0 {
				t.Fatalf("published %d, ignored %d, quarantined %d; want %d, %d, 0", pub, ign, quar, tt.pub, tt.ign)
			}
			for _, e := range h.rec.envelopes() {
				if e.Subject == "宽带断网" && e.Email != "zhangsan@example.com" {
					t.Errorf("rewritten list mail: contact %q", e.Email)
				}
			}
		})
	}
}
