package outbound

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tousu/tousu/internal/polltest"
	"github.com/tousu/tousu/internal/servertest"
	"github.com/tousu/tousu/internal/smtptest"
	"github.com/tousu/tousu/router"
)

// mtaSender is the SMTP transport of the test MTA, with a sender name.
func mtaSender(tb testing.TB, mta servertest.MTA) *SMTP {
	tb.Helper()
	cfg, err := SMTPFromURL("postfix", mta.URL+"&from="+url.QueryEscape("投诉受理中心 <complaints@tousu.test>"))
	if err != nil {
		tb.Fatal(err)
	}
	s, err := NewSMTP(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// TestSMTPThroughPostfix sends an acknowledgement and an agent's reply to
// the customer through a real Postfix and reads them from the customer's
// mailbox in Dovecot.
func TestSMTPThroughPostfix(t *testing.T) {
	mta := servertest.RequireMTA(t)
	s := mtaSender(t, mta)
	run := fmt.Sprintf("%d", time.Now().UnixNano())
	customerMail := "CAJ+2x9k=Qm." + run + "@mail.customer.test"

	ack := outgoing(router.MessageAck)
	ack.ID, ack.To, ack.ToName = "c-"+run+"/ack/1", mta.Customer, "王小明（宽带用户）"
	ack.MessageID, ack.InReplyTo, ack.References = "ack."+run+"@tousu.test", customerMail, []string{customerMail}

	reply := outgoing(router.MessageReply)
	reply.ID, reply.To, reply.ToName = "c-"+run+"/reply/a-1", mta.Customer, "王小明（宽带用户）"
	reply.Subject = "Re: 宽带三天两头断网 [受理编号 TS20260304-0017]"
	reply.Text = "王先生您好：\n经查，您家光猫3月2日起频繁掉线，装维师傅已约3月5日上午上门更换。\n如仍有问题请直接回复本邮件。\n——客服专员 李娜（工号1001）\n"
	reply.MessageID, reply.InReplyTo = "reply.a-1."+run+"@tousu.test", customerMail
	reply.References = []string{customerMail, ack.MessageID}

	for _, tt := range []struct {
		name          string
		o             router.Outgoing
		autoSubmitted string
	}{
		{"acknowledgement", ack, "auto-replied"},
		{"agent's reply", reply, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.Send(context.Background(), tt.o); err != nil {
				t.Fatalf("Send: %v", err)
			}
			var raw [][]byte
			polltest.Until(t, "the mail in the customer's mailbox", func() bool {
				var err error
				raw, err = servertest.Mails(mta.CustomerMailbox, tt.o.MessageID)
				if err != nil {
					t.Fatal(err)
				}
				return len(raw) > 0
			})
			if len(raw) != 1 {
				t.Fatalf("%d mails with Message-ID %s, want 1", len(raw), tt.o.MessageID)
			}
			h, text := smtptest.Read(t, raw[0])
			if from, err := h.AddressList("From"); err != nil || len(from) != 1 || from[0].Name != "投诉受理中心" || from[0].Address != "complaints@tousu.test" {
				t.Errorf("From = %v, %v", from, err)
			}
			if to, err := h.AddressList("To"); err != nil || len(to) != 1 || to[0].Name != "王小明（宽带用户）" || to[0].Address != mta.Customer {
				t.Errorf("To = %v, %v", to, err)
			}
			if subj, _ := h.Subject(); subj != tt.o.Subject {
				t.Errorf("Subject = %q, want %q", subj, tt.o.Subject)
			}
			if id, _ := h.MessageID(); id != tt.o.MessageID {
				t.Errorf("Message-ID = %q, want %q", id, tt.o.MessageID)
			}
			if irt, _ := h.MsgIDList("In-Reply-To"); strings.Join(irt, " ") != tt.o.InReplyTo {
				t.Errorf("In-Reply-To = %q, want %q", irt, tt.o.InReplyTo)
			}
			if refs, _ := h.MsgIDList("References"); strings.Join(refs, " ") != strings.Join(tt.o.References, " ") {
				t.Errorf("References = %q, want %q", refs, tt.o.References)
			}
			if got := h.Get("Auto-Submitted"); got != tt.autoSubmitted {
				t.Errorf("Auto-Submitted = %q, want %q", got, tt.autoSubmitted)
			}
			if !strings.Contains(h.Get("Received"), "mx.tousu.test") {
				t.Errorf("no Received header of Postfix: %q", h.Get("Received"))
			}
			if text != tt.o.Text {
				t.Errorf("body = %q, want %q", text, tt.o.Text)
			}
		})
	}
}

// TestSMTPPostfixRefusesAnUnknownRecipient: Postfix refuses a mailbox
// its virtual domain does not have at RCPT TO (550 5.1.1): a permanent
// failure whose text does not show the address.
func TestSMTPPostfixRefusesAnUnknownRecipient(t *testing.T) {
	mta := servertest.RequireMTA(t)
	s := mtaSender(t, mta)
	o := outgoing(router.MessageAck)
	o.To = mta.Unknown()
	err := s.Send(context.Background(), o)
	var se *SMTPError
	if !errors.Is(err, ErrPermanent) || !errors.As(err, &se) || se.Code != 550 || se.Enhanced != "5.1.1" {
		t.Fatalf("Send to an unknown mailbox = %v, want a permanent 550 5.1.1", err)
	}
	if strings.Contains(err.Error(), o.To) || strings.Contains(err.Error(), "wu.ren.zai") {
		t.Errorf("the error shows the address: %v", err)
	}
}
