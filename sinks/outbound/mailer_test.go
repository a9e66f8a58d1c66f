package outbound

import (
	"context"
	"errors"
	"net/mail"
	"slices"
	"strings"
	"testing"

	"github.com/tousu/tousu/internal/smtptest"
)

// supervisors are the recipients of an internal mail: named, bare, and a
// mailbox on another domain.
var supervisors = []mail.Address{
	{Name: "质量总监 张伟", Address: "zhang.wei@tousu.example.com"},
	{Address: "kefu-zhuguan@tousu.example.com"},
	{Name: "李娜", Address: "lina_2019@qq.com"},
}

func newTestMailer(tb testing.TB, port int) *Mailer {
	tb.Helper()
	m, err := NewMailer(SMTPConfig{Name: "alerts", Host: "127.0.0.1", Port: port, TLS: SMTPNone, From: "投诉预警 <alerts@tousu.example.com>"})
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

func TestMailerSendsOneMailToEveryRecipient(t *testing.T) {
	srv := (&smtptest.Server{}).Start(t)
	m := newTestMailer(t, srv.Port(t))
	id := m.MessageID("alert:esc:TS20260304-0017:reply:breach")
	if id != m.MessageID("alert:esc:TS20260304-0017:reply:breach") || id == m.MessageID("alert:esc:TS20260304-0017:reply:80%") {
		t.Fatalf("MessageID is not a function of its key: %s", id)
	}
	if !strings.HasPrefix(id, "tousu.") || !strings.HasSuffix(id, "@tousu.example.com") {
		t.Errorf("MessageID = %s, want tousu.<hash>@tousu.example.com", id)
	}
	err := m.Send(context.Background(), Mail{
		To: supervisors, Subject: "【升级预警】工单 TS20260304-0017 第2级 已超时", Text: "级别：第 2 级\n工单：TS20260304-0017\n",
		MessageID: id, AutoSubmitted: "auto-generated", Headers: map[string]string{"X-Tousu-Notice-ID": "esc:TS20260304-0017:reply:breach"},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := srv.Received()
	if len(got) != 1 {
		t.Fatalf("%d mails, want one for all recipients", len(got))
	}
	if want := []string{"zhang.wei@tousu.example.com", "kefu-zhuguan@tousu.example.com", "lina_2019@qq.com"}; !slices.Equal(got[0].To, want) || got[0].From != "alerts@tousu.example.com" {
		t.Errorf("envelope from %s to %v, want to %v", got[0].From, got[0].To, want)
	}
	h, text := smtptest.Read(t, []byte(got[0].Data))
	to, err := h.AddressList("To")
	if err != nil || len(to) != 3 || to[0].Name != "质量总监 张伟" || to[1].Name != "" || to[2].Address != "lina_2019@qq.com" {
		t.Errorf("To = %v, %v", to, err)
	}
	if subj, _ := h.Subject(); subj != "【升级预警】工单 TS20260304-0017 第2级 已超时" {
		t.Errorf("Subject = %q", subj)
	}
	if got, _ := h.MessageID(); got != id {
		t.Errorf("Message-ID = %q, want %q", got, id)
	}
	for k, want := range map[string]string{"Auto-Submitted": "auto-generated", "X-Auto-Response-Suppress": "All", "X-Tousu-Notice-ID": "esc:TS20260304-0017:reply:breach", "In-Reply-To": ""} {
		if got := h.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if text != "级别：第 2 级\n工单：TS20260304-0017\n" {
		t.Errorf("body = %q", text)
	}
}

func TestMailerRefusals(t *testing.T) {
	tests := []struct {
		name      string
		server    *smtptest.Server
		to        []mail.Address
		permanent bool
	}{
		{name: "no recipient", server: &smtptest.Server{}, permanent: true},
		{name: "not an address", server: &smtptest.Server{}, to: []mail.Address{supervisors[0], {Name: "李娜", Address: "李娜 13812345678"}}, permanent: true},
		// One refused recipient stops the mail for all: it is sent once
		// the address is fixed, not twice to the others.
		{name: "one unknown mailbox", server: &smtptest.Server{Rcpt: map[string]string{"lina_2019@qq.com": "550 5.1.1 <lina_2019@qq.com>: Recipient address rejected: User unknown"}},
			to: supervisors, permanent: true},
		{name: "one mailbox greylisted", server: &smtptest.Server{Rcpt: map[string]string{"lina_2019@qq.com": "450 4.7.1 <lina_2019@qq.com>: Recipient address rejected: Greylisted"}},
			to: supervisors},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.server.Start(t)
			err := newTestMailer(t, tt.server.Port(t)).Send(context.Background(), Mail{To: tt.to, Subject: "【催办】工单 TS7 收到重复投诉", Text: "客户第3次来电催促"})
			if err == nil || errors.Is(err, ErrPermanent) != tt.permanent {
				t.Fatalf("Send = %v, want permanent %v", err, tt.permanent)
			}
			if len(tt.server.Received()) != 0 {
				t.Errorf("the server took %d mails", len(tt.server.Received()))
			}
			for _, leak := range []string{"lina_2019", "13812345678", "zhang.wei"} {
				if strings.Contains(err.Error(), leak) {
					t.Errorf("the error %q shows %q", err, leak)
				}
			}
		})
	}
}
