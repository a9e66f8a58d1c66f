package app

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/tousu/tousu/internal/polltest"
	"github.com/tousu/tousu/internal/servertest"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/services/bus"
	"github.com/tousu/tousu/services/stages/sender"
	"github.com/tousu/tousu/sinks/outbound"
)

const fromParam = "from=%E6%8A%95%E8%AF%89%E5%8F%97%E7%90%86%E4%B8%AD%E5%BF%83%20%3Ccomplaints%40tousu.test%3E"

func TestSMTPURLFromEnvironment(t *testing.T) {
	tests := []struct {
		name string
		url  string
		want outbound.SMTPConfig
		err  string
	}{
		{name: "local Postfix", url: "smtp://127.0.0.1:10025?tls=none&" + fromParam,
			want: outbound.SMTPConfig{Name: "env", Host: "127.0.0.1", Port: 10025, TLS: "none", From: "投诉受理中心 <complaints@tousu.test>"}},
		{name: "enterprise mailbox", url: "smtps://complaints%40tousu.test:Tc%232026spring@smtp.exmail.qq.com?" + fromParam,
			want: outbound.SMTPConfig{Name: "env", Host: "smtp.exmail.qq.com", Port: 465, TLS: "implicit", Username: "complaints@tousu.test", From: "投诉受理中心 <complaints@tousu.test>"}},
		{name: "plain text over the internet", url: "smtp://complaints:Tc%232026spring@smtp.exmail.qq.com:25?tls=none&" + fromParam,
			err: "TOUSU_SMTP_URL: smtp: sender env: tls: none sends mail and password unencrypted"},
		{name: "no sender", url: "smtp://complaints:Tc%232026spring@smtp.exmail.qq.com", err: "TOUSU_SMTP_URL: smtp: sender env: from: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load("", []string{EnvSMTPURL + "=" + tt.url})
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Load = %v, want %q", err, tt.err)
				}
				if strings.Contains(err.Error(), "2026spring") {
					t.Errorf("the error shows the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(cfg.Sender.SMTP) != 1 {
				t.Fatalf("sender.smtp = %+v", cfg.Sender.SMTP)
			}
			got := cfg.Sender.SMTP[0]
			if got.Name != tt.want.Name || got.Host != tt.want.Host || got.Port != tt.want.Port || got.TLS != tt.want.TLS ||
				got.Username != tt.want.Username || got.From != tt.want.From || got.Rate != (sender.Rate{PerSecond: sender.DefaultPerSecond}) {
				t.Errorf("sender.smtp[0] = %+v, want %+v", got, tt.want)
			}
			if cfg.Sender.Attempts != sender.DefaultAttempts {
				t.Errorf("sender not provisioned: %+v", cfg.Sender)
			}
			text, err := cfg.YAML()
			if err != nil || !strings.Contains(string(text), "host: "+tt.want.Host) || strings.Contains(string(text), "2026spring") {
				t.Errorf("the printed configuration (%v) shows the password or not the sender:\n%s", err, text)
			}
			if o := cfg.Router.Outbound; o.Ack == nil || !*o.Ack || o.MessageIDDomain != "tousu.test" {
				t.Errorf("with an SMTP sender the router acknowledges e-mail complaints with Message-IDs @tousu.test; got ack %v, domain %q", o.Ack, o.MessageIDDomain)
			}
		})
	}
	cfg, err := Load("", nil)
	if err != nil || cfg.Router.Outbound.Ack != nil {
		t.Fatalf("without a sender, acknowledgements are on: %v, %v", cfg.Router.Outbound.Ack, err)
	}
	off := false
	cfg, err = Load("", []string{EnvSMTPURL + "=" + tests[0].url}, func(c *Config) { c.Router.Outbound.Ack = &off })
	if err != nil || *cfg.Router.Outbound.Ack {
		t.Fatalf("a configured ack: false was overridden by the sender (%v)", err)
	}
}

// topicReader collects the records of a topic in a group of its own.
type topicReader struct {
	mu   sync.Mutex
	msgs []bus.Message
}

func readTopic(tb testing.TB, r *running, topic string) *topicReader {
	tb.Helper()
	a := &topicReader{}
	c, err := bus.NewConsumer(r.cfg.Bus, bus.ConsumerConfig{Group: fmt.Sprintf("test-%s-%d", topic, time.Now().UnixNano()), Topic: topic}, r.producer,
		func(_ context.Context, m bus.Message) error {
			a.mu.Lock()
			defer a.mu.Unlock()
			a.msgs = append(a.msgs, m)
			return nil
		}, zap.NewNop(), nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	go c.Run(context.Background())
	return a
}

// find waits for a record that decodes into v and satisfies ok, and
// returns its key.
func find[T any](tb testing.TB, a *topicReader, what string, ok func(T) bool) (T, string) {
	tb.Helper()
	var found T
	var key string
	polltest.Until(tb, what, func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		for _, m := range a.msgs {
			var v T
			if json.Unmarshal(m.Value, &v) == nil && ok(v) {
				found, key = v, string(m.Key)
				return true
			}
		}
		return false
	})
	return found, key
}

// delivery waits for the delivery action of message id.
func delivery(tb testing.TB, actions *topicReader, id string) (router.Action, string) {
	tb.Helper()
	return find(tb, actions, "the delivery action of "+id, func(a router.Action) bool { return a.Kind == router.ActionDelivery && a.Message == id })
}

// TestSenderTargetDeliversTheOutbox runs every target with Postfix as the
// SMTP server, puts two messages about a real case on the outbox as the
// router does (an acknowledgement to the customer, one to an address the
// MTA refuses), and finds the first in the customer's mailbox with a sent
// delivery action, and the second reported failed with the MTA's reason
// and dead-lettered.
func TestSenderTargetDeliversTheOutbox(t *testing.T) {
	mta := servertest.RequireMTA(t)
	r := startTousu(t, t.TempDir(), func(c *Config) {
		smtp, err := outbound.SMTPFromURL("postfix", mta.URL+"&"+fromParam)
		if err != nil {
			t.Fatal(err)
		}
		c.Sender.SMTP = append(c.Sender.SMTP, sender.SMTPSender{SMTPConfig: smtp})
	})
	actions, letters := readTopic(t, r, bus.TopicActions), readTopic(t, r, bus.TopicDLQ)
	ref := r.submit(t, "宽带从3月2日起每天晚上8点到10点断网，报修两次（3/3、3/4）都没人上门，工单号BX0304-221", "")
	c := r.waitCase(t, ref, func(router.Case) bool { return true })

	ack := router.Outgoing{V: router.OutboxVersion, ID: c.ID + "/ack/1", Kind: router.MessageAck, Medium: router.MediumEmail,
		Case: c.ID, Customer: c.Customer.Key, Reference: ref, Pack: c.Pack, To: mta.Customer, ToName: "李四",
		Subject:   "【受理回执】您的投诉已受理，受理编号 " + ref,
		Text:      "李四您好：\n您反映的宽带断网问题已受理，受理编号" + ref + "。\n我们将在2026年3月11日前答复您。\n",
		MessageID: "ack." + c.ID + "@tousu.test", CreatedAt: time.Now()}
	refused := ack
	refused.ID, refused.Kind, refused.To, refused.MessageID = c.ID+"/result/2", router.MessageResult, mta.Unknown(), "result."+c.ID+"@tousu.test"
	for _, o := range []router.Outgoing{ack, refused} {
		v, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.producer.Write(context.Background(), bus.Message{Topic: bus.TopicOutbox, Key: []byte(o.Case), Value: v}); err != nil {
			t.Fatal(err)
		}
	}

	sent, key := delivery(t, actions, ack.ID)
	if sent.Delivery != router.DeliverySent || key != c.Customer.Key || sent.Case != c.ID || sent.Actor != "sender" {
		t.Errorf("delivery action %+v keyed %q, want sent for case %s keyed %q", sent, key, c.ID, c.Customer.Key)
	}
	polltest.Until(t, "the acknowledgement in the customer's mailbox", func() bool {
		mails, err := servertest.Mails(mta.CustomerMailbox, ack.MessageID)
		if err != nil {
			t.Fatal(err)
		}
		return len(mails) == 1
	})

	failed, _ := delivery(t, actions, refused.ID)
	if failed.Delivery != router.DeliveryFailed || !strings.Contains(failed.Reason, "拒绝收件人（550 5.1.1）") || strings.Contains(failed.Reason, mta.Unknown()) {
		t.Errorf("delivery action %+v, want failed with the MTA's refusal and no address", failed)
	}
	letter, _ := find(t, letters, "the sender's dead letter", func(dl bus.DeadLetter) bool { return dl.Group == sender.Group })
	if letter.Topic != bus.TopicOutbox || letter.Reason != failed.Reason {
		t.Errorf("dead letter %+v, want the refused message with the action's reason", letter)
	}
	var original router.Outgoing
	if err := json.Unmarshal(letter.Original, &original); err != nil || original.ID != refused.ID {
		t.Errorf("dead letter's original = %+v, %v", original, err)
	}
}
