package alertsink

import (
	"context"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tousu/tousu/internal/polltest"
	"github.com/tousu/tousu/internal/servertest"
	"github.com/tousu/tousu/internal/smtptest"
	"github.com/tousu/tousu/sinks/outbound"
)

// mtaEmail is an e-mail target sending through the test MTA, the quality
// director's address being the one mailbox the MTA delivers to outside
// tousu.
func mtaEmail(tb testing.TB, mta servertest.MTA, director string) *Email {
	tb.Helper()
	server, err := outbound.SMTPFromURL("postfix", mta.URL+"&from="+url.QueryEscape("投诉预警 <tousu-alerts@tousu.test>"))
	if err != nil {
		tb.Fatal(err)
	}
	server.Name = ""
	e, err := NewEmail(EmailConfig{Name: "quality-mail", SMTP: server, Kinds: []string{"escalation"},
		To: map[string][]string{"质量总监": {"质量总监 周丽 <" + director + ">"}}}, "https://tousu.example.com", nil)
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

// TestEmailThroughPostfix mails an escalation through a real Postfix,
// twice as a retried notice is, and reads both copies from the mailbox in
// Dovecot: the same Message-ID (a mail client shows one), a Chinese
// subject and body, the alert's headers.
func TestEmailThroughPostfix(t *testing.T) {
	mta := servertest.RequireMTA(t)
	e := mtaEmail(t, mta, mta.Customer)
	n := breachNotice()
	n.ID += ":" + strconv.FormatInt(time.Now().UnixNano(), 10) // one per run: the mailbox keeps earlier runs' mail
	for range 2 {
		if err := e.Deliver(context.Background(), n); err != nil {
			t.Fatalf("Deliver: %v", err)
		}
	}
	id := e.mailer.MessageID("alert:" + n.ID)
	var raw [][]byte
	polltest.Until(t, "both copies of the alert in the mailbox", func() bool {
		var err error
		raw, err = servertest.Mails(mta.CustomerMailbox, id)
		if err != nil {
			t.Fatal(err)
		}
		return len(raw) >= 2
	})
	if len(raw) != 2 {
		t.Fatalf("%d mails with Message-ID %s, want 2", len(raw), id)
	}
	h, text := smtptest.Read(t, raw[1])
	if subj, _ := h.Subject(); subj != "【升级预警】工单 TS20260304-0017 第2级 超时 2 小时后" {
		t.Errorf("Subject = %q", subj)
	}
	if from, err := h.AddressList("From"); err != nil || len(from) != 1 || from[0].Name != "投诉预警" || from[0].Address != "tousu-alerts@tousu.test" {
		t.Errorf("From = %v, %v", from, err)
	}
	if to, err := h.AddressList("To"); err != nil || len(to) != 1 || to[0].Name != "质量总监 周丽" || to[0].Address != mta.Customer {
		t.Errorf("To = %v, %v", to, err)
	}
	for k, want := range map[string]string{"Auto-Submitted": "auto-generated", "X-Auto-Response-Suppress": "All", HeaderNoticeID: n.ID} {
		if got := h.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if !strings.Contains(h.Get("Received"), "mx.tousu.test") {
		t.Errorf("no Received header of Postfix: %q", h.Get("Received"))
	}
	checkText(t, text, []string{"级别：第 2 级\n", "时限：handle，2026-03-06 17:00 到期，超时 2 小时后\n", "通知：质量总监\n",
		"依据：品质部管理规定 操作说明5）\n", "批号ZJ-0226)有裂纹，退货没人管！！联系我 139****5678",
		"在控制台查看工单：https://tousu.example.com/console/cases/TS20260304-0017\n"}, []string{"1234 5678"})
}

// TestEmailPostfixRefusesAnUnknownRecipient: Postfix refuses a mailbox
// its virtual domain does not have (550 5.1.1): the notice is
// dead-lettered, and the error does not show the address.
func TestEmailPostfixRefusesAnUnknownRecipient(t *testing.T) {
	mta := servertest.RequireMTA(t)
	err := mtaEmail(t, mta, mta.Unknown()).Deliver(context.Background(), breachNotice())
	var se *outbound.SMTPError
	if !errors.Is(err, ErrPermanent) || !errors.As(err, &se) || se.Code != 550 || se.Enhanced != "5.1.1" {
		t.Fatalf("Deliver to an unknown mailbox = %v, want a permanent 550 5.1.1", err)
	}
	if strings.Contains(err.Error(), "wu.ren.zai") {
		t.Errorf("the error shows the address: %v", err)
	}
}
