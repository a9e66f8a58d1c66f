package sender

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/tousu/tousu/internal/polltest"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/services/bus"
	"github.com/tousu/tousu/services/stages/stagetest"
	"github.com/tousu/tousu/sinks/outbound"
)

var at = time.Date(2026, 3, 4, 9, 15, 0, 0, time.UTC)

// outgoing is an acknowledgement by e-mail, as the router writes it.
func outgoing(medium router.Medium) router.Outgoing {
	o := router.Outgoing{
		V: router.OutboxVersion, ID: "c-7f3a/ack/2", Kind: router.MessageAck, Medium: medium,
		Case: "c-7f3a", Customer: "phone:+8613800138000", Reference: "TS20260304-0017", Pack: "telecom@3",
		To: "wang.xm1988@163.com", ToName: "王小明", Subject: "【受理回执】受理编号 TS20260304-0017",
		Text:      "王先生您好：您3月3日反映的宽带断网问题已受理，受理编号TS20260304-0017，我们将在2026年3月11日前答复您。",
		MessageID: "ack.c-7f3a.2@tousu.example.com", CreatedAt: at,
	}
	if medium == router.MediumSMS {
		o.To, o.Subject, o.Text = "+8613800138000", "", "【某某电信】您的投诉已受理，编号TS20260304-0017，3月11日前答复。"
	}
	return o
}

func message(tb testing.TB, o router.Outgoing) bus.Message {
	tb.Helper()
	return bus.Message{Topic: bus.TopicOutbox, Key: []byte(o.Case), Value: stagetest.MustJSON(tb, o)}
}

// script is a transport that answers each call with the next of its
// errors (nil: accepted), and the last one ever after.
type script struct {
	mu    sync.Mutex
	errs  []error
	calls []router.Outgoing
}

func (s *script) Send(ctx context.Context, o router.Outgoing) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, o)
	if len(s.errs) == 0 {
		return nil
	}
	err := s.errs[0]
	if len(s.errs) > 1 {
		s.errs = s.errs[1:]
	}
	return err
}

func (s *script) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.calls)
}

// deliveries decodes the delivery actions among msgs, the only records
// the sender writes.
func deliveries(tb testing.TB, msgs []bus.Message) []router.Action {
	tb.Helper()
	for _, m := range msgs {
		if m.Topic != bus.TopicActions {
			tb.Errorf("wrote to %s", m.Topic)
		}
	}
	return stagetest.Actions(tb, msgs)
}

type fixture struct {
	stage *Stage
	out   *stagetest.RecordingWriter
	email *script
	sms   *script
	logs  *observer.ObservedLogs
}

// newFixture is a sender with an e-mail provider (and an SMS one unless
// noSMS) whose transports follow their scripts, its state in path.
func newFixture(tb testing.TB, path string, emailErrs []error, noSMS bool) fixture {
	tb.Helper()
	core, logs := observer.New(zap.DebugLevel)
	f := fixture{out: &stagetest.RecordingWriter{}, email: &script{errs: emailErrs}, sms: &script{}, logs: logs}
	providers := []Provider{{Name: "smtp:main", Medium: router.MediumEmail, Transport: f.email, Rate: Rate{PerSecond: 1000}}}
	if !noSMS {
		providers = append(providers, Provider{Name: "sms:aliyun", Medium: router.MediumSMS, Transport: f.sms, Rate: Rate{PerSecond: 1000}})
	}
	s, err := New(Deps{Writer: f.out, Path: path, Providers: providers, Logger: zap.New(core),
		Config: Config{Attempts: 3, MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond},
		Now:    func() time.Time { return at }})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	f.stage = s
	return f
}

// counted is the value of tousu_sender_messages_total{medium, outcome}.
func counted(tb testing.TB, s *Stage, medium router.Medium, outcome string) float64 {
	tb.Helper()
	var m dto.Metric
	if err := s.messages.WithLabelValues(string(medium), outcome).Write(&m); err != nil {
		tb.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func temporary(text string) error { return errors.New(text) }

func TestHandle(t *testing.T) {
	const address, phone = "wang.xm1988@163.com", "13800138000"
	permanent := &outbound.SMTPError{Sender: "main", Step: "收件人", Code: 550, Enhanced: "5.1.1"}
	tests := []struct {
		name     string
		o        router.Outgoing
		noSMS    bool
		errs     []error
		calls    int
		state    router.DeliveryState // "" = no action
		reason   string               // what the reason contains
		rejected bool
	}{
		{name: "accepted", o: outgoing(router.MediumEmail), calls: 1, state: router.DeliverySent},
		{name: "sms accepted", o: outgoing(router.MediumSMS), calls: 0, state: router.DeliverySent},
		{name: "unknown recipient", o: outgoing(router.MediumEmail), errs: []error{permanent}, calls: 1,
			state: router.DeliveryFailed, reason: "邮件服务器（main）拒绝收件人（550 5.1.1）", rejected: true},
		{name: "greylisted twice, then accepted", o: outgoing(router.MediumEmail),
			errs: []error{temporary("450 4.7.1 greylisted"), temporary("450 4.7.1 greylisted"), nil}, calls: 3, state: router.DeliverySent},
		{name: "down for every try", o: outgoing(router.MediumEmail),
			errs: []error{temporary("无法连接邮件服务器（main）: dial tcp 10.0.0.25:587: connect: connection refused")}, calls: 3,
			state: router.DeliveryFailed, reason: "重试3次仍未送达，最后一次: 无法连接邮件服务器（main）", rejected: true},
		{name: "a provider's error quoting the address", o: outgoing(router.MediumEmail),
			errs: []error{fmt.Errorf("mailbox %s is disabled: %w", address, outbound.ErrPermanent)}, calls: 1,
			state: router.DeliveryFailed, reason: "mailbox", rejected: true},
		{name: "sms without a provider", o: outgoing(router.MediumSMS), noSMS: true,
			state: router.DeliveryFailed, reason: "未配置短信通道", rejected: true},
		{name: "unknown medium", o: func() router.Outgoing { o := outgoing(router.MediumEmail); o.Medium = "wechat"; return o }(),
			state: router.DeliveryFailed, reason: "不支持的发送方式", rejected: true},
		{name: "another version", o: func() router.Outgoing { o := outgoing(router.MediumEmail); o.V = 2; return o }(), rejected: true},
		{name: "no id", o: func() router.Outgoing { o := outgoing(router.MediumEmail); o.ID = ""; return o }(), rejected: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, filepath.Join(t.TempDir(), "sender.db"), tt.errs, tt.noSMS)
			err := f.stage.Handle(context.Background(), message(t, tt.o))
			if bus.IsRejected(err) != tt.rejected || (!tt.rejected && err != nil) {
				t.Fatalf("Handle = %v, rejected %v, want rejected %v", err, bus.IsRejected(err), tt.rejected)
			}
			if f.email.count() != tt.calls {
				t.Errorf("%d tries by e-mail, want %d", f.email.count(), tt.calls)
			}
			acts := deliveries(t, f.out.Msgs)
			if tt.state == "" {
				if len(acts) != 0 {
					t.Errorf("actions %+v, want none", acts)
				}
				return
			}
			if len(acts) != 1 {
				t.Fatalf("%d actions, want 1", len(acts))
			}
			a := acts[0]
			if a.Kind != router.ActionDelivery || a.Delivery != tt.state || a.Case != tt.o.Case || a.Message != tt.o.ID ||
				a.ID != "delivery/"+string(tt.state)+"/"+tt.o.ID || !a.At.Equal(at) {
				t.Errorf("action %+v, want %s of %s", a, tt.state, tt.o.ID)
			}
			outcome := map[router.DeliveryState]string{router.DeliverySent: "sent", router.DeliveryFailed: "failed"}[tt.state]
			if n := counted(t, f.stage, tt.o.Medium, outcome); n != 1 {
				t.Errorf("tousu_sender_messages_total{%s,%s} = %v, want 1", tt.o.Medium, outcome, n)
			}
			if n := counted(t, f.stage, tt.o.Medium, "retried"); int(n) != max(tt.calls-1, 0) {
				t.Errorf("retried = %v, want %d", n, tt.calls-1)
			}
			if !strings.Contains(a.Reason, tt.reason) {
				t.Errorf("reason %q, want one containing %q", a.Reason, tt.reason)
			}
			if tt.rejected && err.Error() != a.Reason {
				t.Errorf("dead-letter reason %q differs from the action's %q", err, a.Reason)
			}
			for _, leak := range []string{address, phone, "wang.xm1988"} {
				if strings.Contains(a.Reason, leak) {
					t.Errorf("the reason shows %s: %q", leak, a.Reason)
				}
				for _, e := range f.logs.All() {
					if strings.Contains(fmt.Sprint(e.Message, e.ContextMap()), leak) {
						t.Errorf("a log shows %s: %s %v", leak, e.Message, e.ContextMap())
					}
				}
			}
		})
	}
}

// TestHandleSendsOncePerRecord: a record offered again after the
// provider took it (its offset was not committed: the action write failed,
// or the process stopped) is reported again, not sent again; the file of
// delivered ids outlives the process.
func TestHandleSendsOncePerRecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sender.db")
	f := newFixture(t, path, nil, false)
	m := message(t, outgoing(router.MediumEmail))
	f.out.Fail = errors.New("kafka: not enough replicas")
	err := f.stage.Handle(context.Background(), m)
	if err == nil || bus.IsRejected(err) {
		t.Fatalf("Handle with the broker down = %v, want a transient error", err)
	}
	f.out.Fail = nil
	if err := f.stage.Handle(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	f.stage.Close()

	g := newFixture(t, path, nil, false) // restarted
	if err := g.stage.Handle(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if n := f.email.count() + g.email.count(); n != 1 {
		t.Errorf("sent %d times, want once", n)
	}
	for _, w := range []*stagetest.RecordingWriter{f.out, g.out} {
		for _, a := range deliveries(t, w.Msgs) {
			if a.Delivery != router.DeliverySent || a.ID != "delivery/sent/c-7f3a/ack/2" {
				t.Errorf("action %+v", a)
			}
		}
	}
	if len(f.out.Msgs)+len(g.out.Msgs) != 2 {
		t.Errorf("%d actions written, want 2 (the same action twice)", len(f.out.Msgs)+len(g.out.Msgs))
	}
}

// TestHandleStopsWithItsContext: a delivery cut short by the end of ctx
// (the process stops) writes no action and remembers nothing, so the
// record is delivered again.
func TestHandleStopsWithItsContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sender.db")
	f := newFixture(t, path, []error{temporary("451 4.3.0 queue file write error")}, false)
	f.stage.cfg.MinBackoff, f.stage.cfg.MaxBackoff = time.Hour, time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- f.stage.Handle(ctx, message(t, outgoing(router.MediumEmail))) }()
	polltest.Until(t, "the first try", func() bool { return f.email.count() > 0 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Handle = %v, want context.Canceled", err)
	}
	if len(f.out.Msgs) != 0 {
		t.Errorf("wrote %d actions", len(f.out.Msgs))
	}
	if _, sent, _ := f.stage.store.Sent("c-7f3a/ack/2"); sent {
		t.Error("remembered as sent")
	}
}

func TestPick(t *testing.T) {
	s := &Stage{providers: []provider{
		{Provider: Provider{Name: "smtp:property", Medium: router.MediumEmail, Packs: []string{"property", "hotel"}}},
		{Provider: Provider{Name: "smtp:main", Medium: router.MediumEmail}},
		{Provider: Provider{Name: "smtp:spare", Medium: router.MediumEmail}},
		{Provider: Provider{Name: "sms:aliyun", Medium: router.MediumSMS, Packs: []string{"telecom"}}},
	}}
	tests := []struct {
		medium router.Medium
		pack   string
		want   string
	}{
		{router.MediumEmail, "property@2", "smtp:property"},
		{router.MediumEmail, "hotel@1", "smtp:property"},
		{router.MediumEmail, "telecom@3", "smtp:main"},
		{router.MediumEmail, "", "smtp:main"},
		{router.MediumSMS, "telecom@3", "sms:aliyun"},
		{router.MediumSMS, "property@2", ""},
	}
	for _, tt := range tests {
		p := s.pick(router.Outgoing{Medium: tt.medium, Pack: tt.pack})
		got := ""
		if p != nil {
			got = p.Name
		}
		if got != tt.want {
			t.Errorf("pick(%s, %s) = %q, want %q", tt.medium, tt.pack, got, tt.want)
		}
	}
}

// TestHandleWaitsForTheRateLimit: a provider allowed one message a minute
// takes the first at once and holds the second (here until the context
// ends, which stands for the sender being stopped): it is not sent.
func TestHandleWaitsForTheRateLimit(t *testing.T) {
	email := &script{}
	out := &stagetest.RecordingWriter{}
	s, err := New(Deps{Writer: out, Path: filepath.Join(t.TempDir(), "sender.db"),
		Providers: []Provider{{Name: "smtp:main", Medium: router.MediumEmail, Transport: email, Rate: Rate{PerMinute: 1}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	first, second := outgoing(router.MediumEmail), outgoing(router.MediumEmail)
	second.ID = "c-7f3a/result/3"
	if err := s.Handle(context.Background(), message(t, first)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Handle(ctx, message(t, second)); !errors.Is(err, context.Canceled) {
		t.Errorf("the second Handle = %v, want it held until the context ended", err)
	}
	if email.count() != 1 || len(out.Msgs) != 1 {
		t.Errorf("%d sent, %d actions; want the first only", email.count(), len(out.Msgs))
	}
}
