package outbound

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"

	"github.com/tousu/tousu/internal/secret"
	"github.com/tousu/tousu/internal/smtptest"
	"github.com/tousu/tousu/router"
)

const customer = "wang.xm1988@163.com"

// outgoing is an acknowledgement of an e-mailed complaint, as the router
// writes it.
func outgoing(kind router.MessageKind) router.Outgoing {
	return router.Outgoing{
		V: router.OutboxVersion, ID: "c-7f3a/" + string(kind) + "/2", Kind: kind, Medium: router.MediumEmail,
		Case: "c-7f3a", Customer: "email:" + customer, Reference: "TS20260304-0017", Pack: "telecom@3",
		To: customer, ToName: "王小明",
		Subject:   "【受理回执】您的投诉已受理，受理编号 TS20260304-0017",
		Text:      "王先生您好：\n您3月3日反映的宽带断网问题已受理，受理编号TS20260304-0017。\n我们将在2026年3月11日前答复您。\n查询进度：https://tousu.example.com/status?ref=TS20260304-0017\n",
		MessageID: "ack.c-7f3a.2@tousu.example.com", InReplyTo: "CAJ+2x9k=Qm@mail.163.com",
		References: []string{"CAJ+2x9k=Qm@mail.163.com"}, CreatedAt: time.Date(2026, 3, 4, 9, 12, 0, 0, time.UTC),
	}
}

func newTestSMTP(tb testing.TB, cfg SMTPConfig) *SMTP {
	tb.Helper()
	if cfg.Name == "" {
		cfg.Name = "main"
	}
	if cfg.From == "" {
		cfg.From = "投诉受理中心 <complaints@tousu.example.com>"
	}
	s, err := NewSMTP(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	s.mailer.now = func() time.Time { return time.Date(2026, 3, 4, 17, 12, 5, 0, time.FixedZone("CST", 8*3600)) }
	return s
}

// render writes the message of o and reads it back: its header, its text
// and the raw mail.
func render(tb testing.TB, s *SMTP, o router.Outgoing) (mail.Header, string, string) {
	tb.Helper()
	msg, err := s.Message(o)
	if err != nil {
		tb.Fatal(err)
	}
	var b bytes.Buffer
	if _, err := msg.WriteTo(&b); err != nil {
		tb.Fatal(err)
	}
	h, text := smtptest.Read(tb, b.Bytes())
	return h, text, b.String()
}

func TestSMTPMessage(t *testing.T) {
	s := newTestSMTP(t, SMTPConfig{Host: "127.0.0.1", TLS: SMTPNone})
	tests := []struct {
		name          string
		edit          func(*router.Outgoing)
		autoSubmitted string
		inReplyTo     string
		references    []string
		messageID     string
	}{
		{name: "ack of a mail", autoSubmitted: "auto-replied", inReplyTo: "CAJ+2x9k=Qm@mail.163.com",
			references: []string{"CAJ+2x9k=Qm@mail.163.com"}, messageID: "ack.c-7f3a.2@tousu.example.com"},
		{name: "ack of a web form", edit: func(o *router.Outgoing) { o.InReplyTo, o.References = "", nil },
			autoSubmitted: "auto-generated", messageID: "ack.c-7f3a.2@tousu.example.com"},
		{name: "agent's reply", edit: func(o *router.Outgoing) {
			o.Kind, o.ID, o.MessageID = router.MessageReply, "c-7f3a/reply/a-19", "<reply.a-19@tousu.example.com>"
			o.References = []string{"CAJ+2x9k=Qm@mail.163.com", "ack.c-7f3a.2@tousu.example.com"}
		}, inReplyTo: "CAJ+2x9k=Qm@mail.163.com", references: []string{"CAJ+2x9k=Qm@mail.163.com", "ack.c-7f3a.2@tousu.example.com"},
			messageID: "reply.a-19@tousu.example.com"},
		{name: "result notice", edit: func(o *router.Outgoing) { o.Kind = router.MessageResult }, autoSubmitted: "auto-generated",
			inReplyTo: "CAJ+2x9k=Qm@mail.163.com", references: []string{"CAJ+2x9k=Qm@mail.163.com"}, messageID: "ack.c-7f3a.2@tousu.example.com"},
		{name: "no message id from the router", edit: func(o *router.Outgoing) { o.MessageID, o.InReplyTo, o.References = "", "", nil },
			autoSubmitted: "auto-generated", messageID: "tousu.c290ff43551109709103502f@tousu.example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := outgoing(router.MessageAck)
			if tt.edit != nil {
				tt.edit(&o)
			}
			h, text, raw := render(t, s, o)
			from, err := h.AddressList("From")
			if err != nil || len(from) != 1 || from[0].Name != "投诉受理中心" || from[0].Address != "complaints@tousu.example.com" {
				t.Errorf("From = %v, %v", from, err)
			}
			to, err := h.AddressList("To")
			if err != nil || len(to) != 1 || to[0].Name != "王小明" || to[0].Address != customer {
				t.Errorf("To = %v, %v", to, err)
			}
			if subj, err := h.Subject(); err != nil || subj != o.Subject {
				t.Errorf("Subject = %q, %v", subj, err)
			}
			if strings.Contains(raw, "受理") && !strings.Contains(raw, "=?UTF-8?") {
				t.Errorf("Chinese in the raw headers, not RFC 2047-encoded:\n%s", raw)
			}
			if id, err := h.MessageID(); err != nil || id != tt.messageID {
				t.Errorf("Message-ID = %q, %v, want %q", id, err, tt.messageID)
			}
			irt, _ := h.MsgIDList("In-Reply-To")
			if strings.Join(irt, " ") != tt.inReplyTo {
				t.Errorf("In-Reply-To = %q, want %q", irt, tt.inReplyTo)
			}
			refs, _ := h.MsgIDList("References")
			if strings.Join(refs, " ") != strings.Join(tt.references, " ") {
				t.Errorf("References = %q, want %q", refs, tt.references)
			}
			if got := h.Get("Auto-Submitted"); got != tt.autoSubmitted {
				t.Errorf("Auto-Submitted = %q, want %q", got, tt.autoSubmitted)
			}
			if date, err := h.Date(); err != nil || !date.Equal(time.Date(2026, 3, 4, 9, 12, 5, 0, time.UTC)) {
				t.Errorf("Date = %v, %v", date, err)
			}
			if text != o.Text {
				t.Errorf("body = %q, want %q", text, o.Text)
			}
		})
	}
}

func TestSMTPReferencesKeepTheFirstAndTheLatest(t *testing.T) {
	var ids []string
	for i := range 14 {
		ids = append(ids, "m"+string(rune('a'+i))+"@mail.163.com")
	}
	got := strings.Fields(references(ids))
	if len(got) != maxReferences || got[0] != "<ma@mail.163.com>" || got[len(got)-1] != "<mn@mail.163.com>" {
		t.Errorf("references = %q", got)
	}
}

func TestSMTPRefusesABadRecipientForGood(t *testing.T) {
	s := newTestSMTP(t, SMTPConfig{Host: "127.0.0.1", TLS: SMTPNone})
	for _, to := range []string{"王小明", "13800138000", "wang.xm1988@163.com, boss@163.com", ""} {
		o := outgoing(router.MessageAck)
		o.To = to
		err := s.Send(context.Background(), o)
		if !errors.Is(err, ErrPermanent) {
			t.Errorf("Send to %q = %v, want a permanent error", to, err)
		}
		if to != "" && strings.Contains(err.Error(), to) {
			t.Errorf("the error quotes the recipient: %v", err)
		}
	}
	o := outgoing(router.MessageAck)
	o.Medium = router.MediumSMS
	if err := s.Send(context.Background(), o); !errors.Is(err, ErrPermanent) {
		t.Errorf("an SMS through SMTP = %v, want a permanent error", err)
	}
}

func TestSMTPSendClassifiesFailures(t *testing.T) {
	cert := selfSigned(t)
	tests := []struct {
		name      string
		server    *smtptest.Server
		cfg       SMTPConfig
		refused   bool // no server at all
		permanent bool
		ok        bool
	}{
		{name: "accepted", server: &smtptest.Server{}, ok: true},
		{name: "unknown recipient", server: &smtptest.Server{Rcpt: map[string]string{customer: "550 5.1.1 <" + customer + ">: Recipient address rejected: User unknown in virtual mailbox table"}}, permanent: true},
		{name: "mailbox full for now", server: &smtptest.Server{Rcpt: map[string]string{customer: "452 4.2.2 <" + customer + ">: Mailbox full"}}},
		{name: "greylisted", server: &smtptest.Server{Rcpt: map[string]string{customer: "450 4.7.1 <" + customer + ">: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/163.com.html"}}},
		{name: "message refused", server: &smtptest.Server{Data: "554 5.7.1 Message rejected as spam"}, permanent: true},
		{name: "queue full", server: &smtptest.Server{Data: "451 4.3.0 Error: queue file write error"}},
		{name: "wrong password", server: &smtptest.Server{User: "complaints", Pass: "s3cret-1"},
			cfg: SMTPConfig{Username: "complaints", Password: secret.Inline("wrong-pass")}, permanent: true},
		{name: "right password", server: &smtptest.Server{User: "complaints", Pass: "s3cret-1"},
			cfg: SMTPConfig{Username: "complaints", Password: secret.Inline("s3cret-1")}, ok: true},
		{name: "nobody listening", refused: true},
		{name: "server never greets", server: &smtptest.Server{Mute: true}, cfg: SMTPConfig{Timeout: 300 * time.Millisecond}},
		{name: "starttls", server: &smtptest.Server{TLS: cert.server}, cfg: SMTPConfig{TLS: SMTPStartTLS}, ok: true},
		{name: "implicit tls", server: &smtptest.Server{TLS: cert.server, Implicit: true}, cfg: SMTPConfig{TLS: SMTPImplicit}, ok: true},
		{name: "starttls not offered", server: &smtptest.Server{}, cfg: SMTPConfig{TLS: SMTPStartTLS}},
		{name: "tls handshake never answered", server: &smtptest.Server{Mute: true}, cfg: SMTPConfig{TLS: SMTPImplicit, Timeout: 300 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.Host = "127.0.0.1"
			if cfg.TLS == "" {
				cfg.TLS = SMTPNone
			}
			if tt.refused {
				l, _ := net.Listen("tcp", "127.0.0.1:0")
				cfg.Port = l.Addr().(*net.TCPAddr).Port
				l.Close()
			} else {
				tt.server.Start(t)
				cfg.Port = tt.server.Port(t)
			}
			s := newTestSMTP(t, cfg)
			s.mailer.tls = cert.client
			err := s.Send(context.Background(), outgoing(router.MessageAck))
			switch {
			case tt.ok && err != nil:
				t.Fatalf("Send = %v", err)
			case tt.ok:
				if got := tt.server.Received(); len(got) != 1 || !strings.Contains(got[0].Data, "Message-ID: <ack.c-7f3a.2@tousu.example.com>") {
					t.Errorf("the server got %q", got)
				}
				return
			case err == nil:
				t.Fatal("Send succeeded")
			case errors.Is(err, ErrPermanent) != tt.permanent:
				t.Errorf("Send = %v, permanent %v, want %v", err, errors.Is(err, ErrPermanent), tt.permanent)
			}
			t.Logf("Send = %v", err)
			for _, leak := range []string{customer, "wang.xm1988", "s3cret", "wrong-pass"} {
				if strings.Contains(err.Error(), leak) {
					t.Errorf("the error %q shows %q", err, leak)
				}
			}
		})
	}
}

func TestSMTPSendEndsWithItsContext(t *testing.T) {
	f := (&smtptest.Server{Mute: true}).Start(t)
	s := newTestSMTP(t, SMTPConfig{Host: "127.0.0.1", Port: f.Port(t), TLS: SMTPNone})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Send(ctx, outgoing(router.MessageAck)); !errors.Is(err, context.Canceled) {
		t.Errorf("Send = %v, want context.Canceled", err)
	}
}

type testCert struct{ server, client *tls.Config }

// selfSigned makes a certificate for 127.0.0.1 and a client that trusts
// it.
func selfSigned(tb testing.TB) testCert {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mx.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return testCert{
		server: &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}},
		client: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12},
	}
}
