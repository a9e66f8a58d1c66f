package imap

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/internal/polltest"
	"github.com/tousu/tousu/internal/servertest"
)

// TestDovecot runs the reader against a real Dovecot (deploy/dev/dovecot.sh
// start; eval "$(deploy/dev/dovecot.sh env)"). It delivers a few hundred
// messages of every kind to two folders (one acknowledged with \Seen, one
// by moving), among them messages over max_message_bytes (quarantined with
// their raw bytes in the evidence store), drops the connection and
// restarts the reader in the middle,
// and checks that every message became exactly one published envelope,
// quarantine record or ignored record (deduplicated by id, as downstream
// does) and ended flagged or moved.
func TestDovecot(t *testing.T) {
	rawurl := servertest.Require(t, servertest.IMAP)
	base, err := MailboxFromURL("dovecot", rawurl)
	if err != nil {
		t.Fatal(err)
	}
	admin := dialAdmin(t, base)
	prefix := fmt.Sprintf("tousu-it-%d", time.Now().UnixNano())
	seenBox, moveBox := prefix+"-seen", prefix+"-move"
	folders := []string{seenBox, seenBox + "-quarantine", moveBox, moveBox + "-done", moveBox + "-quarantine"}
	for _, f := range folders {
		if err := admin.Create(f, nil).Wait(); err != nil {
			t.Fatalf("create %s: %v", f, err)
		}
	}
	t.Cleanup(func() {
		c := dialAdmin(t, base)
		for _, f := range folders {
			c.Delete(f).Wait()
		}
		c.Logout().Wait()
	})

	// The messages: every fixture kind, repeated, plus large attachments.
	type sent struct {
		kind string // published, quarantined or ignored
		raw  []byte
	}
	expected := map[string]map[uint32]sent{seenBox: {}, moveBox: {}}
	var mu sync.Mutex
	deliver := func(folder string, n int) {
		all := fixtures(t)
		for i := range n {
			f := all[i%len(all)]
			kind := "published"
			switch {
			case f.unparseable || f.invalid:
				kind = "quarantined"
			case f.auto:
				kind = "ignored"
			}
			raw := bytes.ReplaceAll(f.raw, []byte{0}, []byte("?")) // IMAP literals carry no NUL
			switch i % 25 {
			case 7:
				raw, kind = attachmentMail("big@example.com", "big.pdf", "application/pdf", append(pdfBytes, make([]byte, 8000)...)), "published"
			case 13:
				// Over max_message_bytes (below); the fixtures are not.
				raw, kind = attachmentMail("huge@example.com", "huge.pdf", "application/pdf", append(pdfBytes, make([]byte, 100<<10)...)), "quarantined"
			}
			cmd := admin.Append(folder, int64(len(raw)), nil)
			_, err := cmd.Write(raw)
			if cerr := cmd.Close(); err == nil {
				err = cerr
			}
			res, werr := cmd.Wait()
			if err == nil {
				err = werr
			}
			if err != nil || res.UID == 0 {
				t.Fatalf("append %s (%s): %v", folder, f.name, err)
			}
			mu.Lock()
			expected[folder][uint32(res.UID)] = sent{kind, raw}
			mu.Unlock()
		}
	}
	const perFolder = 150
	deliver(seenBox, perFolder)
	deliver(moveBox, perFolder)

	px := newProxy(t, net.JoinHostPort(base.Host, strconv.Itoa(base.Port)))
	mailbox := func(name, folder string) MailboxConfig {
		m := base
		m.Name, m.Folder, m.Port, m.Host = name, folder, px.port(), "127.0.0.1"
		m.PollInterval = 200 * time.Millisecond
		m.QuarantineFolder = folder + "-quarantine"
		m.OurAddresses = testOurs
		m.MaxAttachmentBytes = 4096
		m.MaxMessageBytes = 64 << 10
		return m
	}
	seenCfg := mailbox("dovecot-seen", seenBox)
	moveCfg := mailbox("dovecot-move", moveBox)
	moveCfg.After, moveCfg.MoveTo = AfterMove, moveBox+"-done"

	h := newHarness(t)
	total := 2 * perFolder
	_, stop := h.start(seenCfg, moveCfg)
	start := time.Now()
	polltest.Until(t, "a third of the mail", func() bool { return h.rec.total() >= total/3 })
	t.Logf("%v: a third handled; dropping the connections", time.Since(start))
	px.drop() // the network fails
	polltest.Until(t, "two thirds of the mail", func() bool { return h.rec.total() >= 2*total/3 })
	t.Logf("%v: two thirds handled; restarting", time.Since(start))
	stop() // tousu restarts

	// After the restart, some publishes are followed by a connection drop
	// before the acknowledgement, and new mail arrives while IDLE.
	h.rec.onPublish = func(env ingest.Envelope, attempt int) error {
		if attempt == 1 && strings.HasSuffix(env.SourceID, "3") {
			px.drop()
		}
		return nil
	}
	r, stop := h.start(seenCfg, moveCfg)
	deliver(seenBox, 20)
	deliver(moveBox, 20)
	total += 40
	polltest.Until(t, "all mail", func() bool { return h.rec.total() >= total })
	t.Logf("%v: all handled", time.Since(start))
	var lastSeen, lastMove uint32
	for uid := range expected[seenBox] {
		lastSeen = max(lastSeen, uid)
	}
	for uid := range expected[moveBox] {
		lastMove = max(lastMove, uid)
	}
	waitAcked(t, r, "dovecot-seen", lastSeen)
	waitAcked(t, r, "dovecot-move", lastMove)
	stop()

	// Every message became exactly one thing, of the expected kind.
	got := map[string]map[uint32][]string{"dovecot-seen": {}, "dovecot-move": {}}
	ids := map[string]string{} // id -> kind, to see one id never takes two kinds
	note := func(mailbox, id, sourceID, kind string) {
		if prev, ok := ids[id]; ok {
			if prev != kind {
				t.Errorf("%s was %s and %s", id, prev, kind)
			}
			return // a repeat, absorbed by the id
		}
		ids[id] = kind
		uv, uid := splitSourceID(t, sourceID)
		if id != EnvelopeID(mailbox, uv, uid) {
			t.Errorf("id %s does not derive from %s/%s", id, mailbox, sourceID)
		}
		got[mailbox][uid] = append(got[mailbox][uid], kind)
	}
	oversized := 0
	h.rec.mu.Lock()
	for _, e := range h.rec.published {
		note(e.Source, e.ID, e.SourceID, "published")
		if errs := e.Validate(); len(errs) > 0 {
			t.Errorf("invalid envelope %s: %v", e.SourceID, errs)
		}
	}
	for _, q := range h.rec.quarantined {
		note(q.Mailbox, q.ID, q.SourceID, "quarantined")
		want := expected[map[string]string{"dovecot-seen": seenBox, "dovecot-move": moveBox}[q.Mailbox]][q.UID].raw
		raw := q.Raw
		if q.RawSHA256 != "" {
			oversized++
			rc, err := h.evidence.Open(q.RawSHA256)
			if err != nil {
				t.Errorf("quarantined %s: raw bytes not kept: %v", q.SourceID, err)
				continue
			}
			raw, _ = io.ReadAll(rc)
			rc.Close()
		}
		if !bytes.Equal(crlf(raw), crlf(want)) {
			t.Errorf("quarantined %s: raw bytes differ from what was delivered", q.SourceID)
		}
	}
	for _, ig := range h.rec.ignored {
		note(ig.Mailbox, ig.ID, ig.SourceID, "ignored")
	}
	repeats := len(h.rec.published) + len(h.rec.quarantined) + len(h.rec.ignored) - len(ids)
	h.rec.mu.Unlock()
	if oversized == 0 {
		t.Error("no message was quarantined as oversized")
	}
	if repeats == 0 {
		t.Error("no message was handed on twice: the drops did not hit between publish and acknowledgement")
	}
	counts := map[string]map[string]int{}
	for name, folder := range map[string]string{"dovecot-seen": seenBox, "dovecot-move": moveBox} {
		counts[name] = map[string]int{}
		for uid, s := range expected[folder] {
			kinds := got[name][uid]
			if len(kinds) != 1 || kinds[0] != s.kind {
				t.Errorf("%s UID %d became %v, want [%s]", name, uid, kinds, s.kind)
			}
			counts[name][s.kind]++
		}
		if len(got[name]) != len(expected[folder]) {
			t.Errorf("%s: %d messages handled, %d delivered", name, len(got[name]), len(expected[folder]))
		}
	}

	// Every mail ended flagged or moved.
	c := dialAdmin(t, base)
	defer c.Logout()
	check := func(folder string, want int, seen bool) {
		t.Helper()
		msgs := folderMessages(t, c, folder)
		if len(msgs) != want {
			t.Errorf("%s holds %d messages, want %d", folder, len(msgs), want)
		}
		if !seen {
			return
		}
		for uid, flags := range msgs {
			if !hasFlag(flags, imap.FlagSeen) {
				t.Errorf("%s UID %d is not \\Seen", folder, uid)
			}
		}
	}
	s, m := counts["dovecot-seen"], counts["dovecot-move"]
	check(seenBox, s["published"]+s["ignored"], true)
	check(seenBox+"-quarantine", s["quarantined"], false)
	check(moveBox, 0, false)
	check(moveBox+"-done", m["published"]+m["ignored"], true)
	check(moveBox+"-quarantine", m["quarantined"], false)
	t.Logf("seen folder: %v; move folder: %v; %d oversized quarantine records; %d repeats absorbed by id; %d connection drops",
		s, m, oversized, repeats, px.drops.Load())
}

func dialAdmin(t testing.TB, m MailboxConfig) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(net.JoinHostPort(m.Host, strconv.Itoa(m.Port)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login(m.Auth.Username, m.Auth.Password.Reveal()).Wait(); err != nil {
		c.Close()
		t.Fatal(err)
	}
	return c
}

func folderMessages(t testing.TB, c *imapclient.Client, folder string) map[uint32][]imap.Flag {
	t.Helper()
	sel, err := c.Select(folder, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		t.Fatalf("select %s: %v", folder, err)
	}
	out := map[uint32][]imap.Flag{}
	if sel.NumMessages == 0 {
		return out
	}
	msgs, err := c.Fetch(imap.SeqSet{imap.SeqRange{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		out[uint32(m.UID)] = m.Flags
	}
	return out
}

func splitSourceID(t testing.TB, s string) (uint32, uint32) {
	a, b, ok := strings.Cut(s, "/")
	uv, err1 := strconv.ParseUint(a, 10, 32)
	uid, err2 := strconv.ParseUint(b, 10, 32)
	if !ok || err1 != nil || err2 != nil {
		t.Fatalf("bad source id %q", s)
	}
	return uint32(uv), uint32(uid)
}

// crlf normalises line endings to LF (Dovecot returns CRLF).
func crlf(b []byte) []byte {
	return bytes.ReplaceAll(bytes.TrimRight(b, "\r\n"), []byte("\r\n"), []byte("\n"))
}
