package routing

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zaptest"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/normalize"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/services/bus"
	"github.com/tousu/tousu/services/bus/bustest"
	"github.com/tousu/tousu/services/stages/stagetest"
)

// attemptWriter keeps the messages of every write, and fails the writes
// while fail is set, as a broker that took some of them and acknowledged
// none.
type attemptWriter struct {
	mu       sync.Mutex
	attempts [][]bus.Message
	fail     bool
}

func (w *attemptWriter) Write(_ context.Context, msgs ...bus.Message) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.attempts = append(w.attempts, slices.Clone(msgs))
	if w.fail {
		return errors.New("broker down")
	}
	return nil
}

// outbox returns the messages to customers of write i.
func (w *attemptWriter) outbox(tb testing.TB, i int) []router.Outgoing {
	tb.Helper()
	var out []router.Outgoing
	for _, m := range w.attempts[i] {
		if m.Topic != bus.TopicOutbox {
			continue
		}
		var o router.Outgoing
		if err := json.Unmarshal(m.Value, &o); err != nil {
			tb.Fatal(err)
		}
		if string(m.Key) != o.Case {
			tb.Errorf("outbox record %s keyed %q, not by its case", o.ID, m.Key)
		}
		out = append(out, o)
	}
	return out
}

// lastCase returns the case of write i with id.
func (w *attemptWriter) lastCase(tb testing.TB, i int, id string) router.Case {
	tb.Helper()
	var c router.Case
	for _, m := range w.attempts[i] {
		if m.Topic == bus.TopicCases && string(m.Key) == id {
			if err := json.Unmarshal(m.Value, &c); err != nil {
				tb.Fatal(err)
			}
		}
	}
	return c
}

// outboundStage is a router stage on the telecom pack that writes acks,
// joined notices and result notices by e-mail.
func outboundStage(tb testing.TB, w *attemptWriter, reg prometheus.Registerer, now func() time.Time) (*Stage, *History) {
	tb.Helper()
	e, err := router.LoadEngine(router.BuiltinPrefix + "telecom")
	if err != nil {
		tb.Fatal(err)
	}
	cfg := Config{Outbound: router.NotifyConfig{Enabled: true, OurAddresses: []string{"@tousu.example.com"}, MessageIDDomain: "tousu.example.com",
		PublicURL: "https://tousu.example.com"}}
	cfg.Provision()
	if err := cfg.Validate(); err != nil {
		tb.Fatal(err)
	}
	n, err := router.NewNotifier(cfg.Outbound, nil)
	if err != nil {
		tb.Fatal(err)
	}
	dedupe := stagetest.DedupeConfig(tb, nil)
	state, err := OpenHistory(filepath.Join(tb.TempDir(), "router-history.db"), dedupe, now())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { state.Close() })
	return New(Deps{Writer: w, Policy: e, Engine: func(string) *router.Engine { return e }, Notifier: n, State: state, Dedupe: dedupe,
		MaxRecordBytes: cfg.MaxRecordBytes, Now: now, Logger: zaptest.NewLogger(tb), Registry: reg}), state
}

// mailComplaint is an e-mail complaint of 王丽 with its Message-ID.
func mailComplaint(n int, text string, at time.Time) normalize.Complaint {
	id := "email:support:7:" + string(rune('0'+n))
	return normalize.Complaint{V: normalize.SchemaVersion, ID: id, Reference: ingest.ReferenceFor(id), Channel: ingest.ChannelEmail, Source: "support",
		ReceivedAt: at, Customer: normalize.Customer{Name: "王丽", Email: "wang.li@163.com", Key: "email:wang.li@163.com"},
		Subject: "宽带断网", Description: text, Extra: map[string]string{ingest.ExtraMessageID: "CAF" + string(rune('0'+n)) + "@mail.163.com"}}
}

func TestRouterWritesOutbox(t *testing.T) {
	ctx := context.Background()
	clock := time.Date(2026, 3, 2, 1, 30, 0, 0, time.UTC) // 09:30 in Shanghai
	now := func() time.Time { return clock }
	w := &attemptWriter{}
	reg := prometheus.NewRegistry()
	s, state := outboundStage(t, w, reg, func() time.Time { return now() })
	const text = "3月2号开始宽带断网，报修两次没人来，客服说48小时内处理，现在已经五天了，要求退还断网期间的月租。"
	first := mailComplaint(1, text, clock)

	// The first write fails: the complaint is decided again, to the same
	// messages, and only the good write counts against the limits.
	w.fail = true
	if err := s.Batch(ctx, []bus.Message{stagetest.MessageOf(t, first)}); err == nil {
		t.Fatal("no error with the broker down")
	}
	w.fail = false
	clock = clock.Add(time.Minute)
	if err := s.Batch(ctx, []bus.Message{stagetest.MessageOf(t, first)}); err != nil {
		t.Fatal(err)
	}
	failed, good := w.outbox(t, 0), w.outbox(t, 1)
	if len(good) != 1 || len(failed) != 1 || good[0].ID != failed[0].ID || good[0].MessageID != failed[0].MessageID {
		t.Fatalf("after a failed write: %+v, then %+v; want one ack with the same id and Message-ID", failed, good)
	}
	ack := good[0]
	caseID := first.Reference
	if ack.Kind != router.MessageAck || ack.ID != caseID+"/ack/1" || ack.To != "wang.li@163.com" || ack.InReplyTo != "CAF1@mail.163.com" ||
		!strings.Contains(ack.Text, "我们将在2026年3月23日前答复您") {
		t.Errorf("ack %+v", ack)
	}
	if c := w.lastCase(t, 1, caseID); !slices.Contains(c.MessageIDs, ack.MessageID) || c.Revision != 1 {
		t.Errorf("the case written with the ack has Message-IDs %v (revision %d), want the ack's among them", c.MessageIDs, c.Revision)
	}
	if sent, err := state.Sent("email:wang.li@163.com"); err != nil || len(sent) != 1 {
		t.Errorf("sent log %v, %v; want the ack once", sent, err)
	}

	// Redelivered after the good write: nothing new.
	if err := s.Batch(ctx, []bus.Message{stagetest.MessageOf(t, first)}); err != nil {
		t.Fatal(err)
	}
	if got := w.outbox(t, 2); len(got) != 0 {
		t.Errorf("a redelivery wrote %+v", got)
	}

	// Two near-identical mails the same day: one joined notice.
	for i, n := range []int{2, 3} {
		clock = clock.Add(time.Hour)
		if err := s.Batch(ctx, []bus.Message{stagetest.MessageOf(t, mailComplaint(n, text, clock))}); err != nil {
			t.Fatal(err)
		}
		got := w.outbox(t, len(w.attempts)-1)
		if i == 0 && (len(got) != 1 || got[0].Kind != router.MessageJoined || got[0].ID != caseID+"/joined/2") {
			t.Errorf("the first duplicate: %+v, want a joined notice", got)
		}
		if i == 1 && len(got) != 0 {
			t.Errorf("the second duplicate the same day: %+v, want nothing", got)
		}
	}

	// An agent replies; the sender reports it sent.
	clock = clock.Add(time.Hour)
	held, _, err := state.Case(caseID)
	if err != nil {
		t.Fatal(err)
	}
	reply := router.Action{V: router.ActionVersion, ID: "console:1001:r1", Case: caseID, Customer: held.Customer.Key, Kind: router.ActionReply,
		Actor: "1001", At: clock, Note: "王女士您好，师傅今天下午2点上门检修光猫。"}
	if err := s.Batch(ctx, []bus.Message{stagetest.ActionMessage(t, reply)}); err != nil {
		t.Fatal(err)
	}
	got := w.outbox(t, len(w.attempts)-1)
	if len(got) != 1 || got[0].ID != caseID+"/reply/"+reply.ID || got[0].Action != reply.ID || !strings.Contains(got[0].Text, "下午2点上门") ||
		got[0].InReplyTo != "CAF3@mail.163.com" {
		t.Fatalf("the reply: %+v", got)
	}
	replied := w.lastCase(t, len(w.attempts)-1, caseID)
	if !slices.Contains(replied.MessageIDs, got[0].MessageID) {
		t.Errorf("the reply's Message-ID is not on the case: %v", replied.MessageIDs)
	}
	for _, d := range replied.Deadlines {
		if d.Name == "reply" && d.StoppedAt.IsZero() {
			t.Errorf("the reply clock runs after the reply: %+v", d)
		}
	}
	delivered := router.DeliveryAction(got[0], router.DeliverySent, "", clock.Add(time.Second))
	if err := s.Batch(ctx, []bus.Message{stagetest.ActionMessage(t, delivered)}); err != nil {
		t.Fatal(err)
	}
	c := w.lastCase(t, len(w.attempts)-1, caseID)
	if ev := c.History[len(c.History)-1]; ev.Note != "答复邮件已发送" || c.Status != replied.Status || len(w.outbox(t, len(w.attempts)-1)) != 0 {
		t.Errorf("after the delivery: history %+v, status %s", ev, c.Status)
	}

	// The sent log goes to router.state, so the instance that owns the
	// customer next keeps the limits.
	other, err := OpenHistory(filepath.Join(t.TempDir(), "other.db"), stagetest.DedupeConfig(t, nil), clock)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	var changelog []bus.Message
	for _, a := range w.attempts[1:] {
		for _, m := range a {
			if m.Topic == bus.TopicRouterState {
				changelog = append(changelog, m)
			}
		}
	}
	if _, err := other.Restore(0, changelog, int64(len(changelog)), "another writer"); err != nil {
		t.Fatal(err)
	}
	mine, _ := state.Sent("email:wang.li@163.com")
	theirs, err := other.Sent("email:wang.li@163.com")
	if err != nil || len(theirs) != 2 || !slices.Equal(mine, theirs) {
		t.Errorf("restored sent log %v (%v), want %v: the ack and the joined notice", theirs, err, mine)
	}

	if n := bustest.CounterValue(t, reg, "tousu_router_outgoing_total", map[string]string{"kind": "ack", "medium": "email"}); n != 1 {
		t.Errorf("tousu_router_outgoing_total{ack,email} = %v, want 1", n)
	}
}

func TestSentLogPrunes(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 1, 30, 0, 0, time.UTC)
	h, err := OpenHistory(filepath.Join(t.TempDir(), "h.db"), stagetest.DedupeConfig(t, nil), t0)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	logs := []sentLog{
		{Customer: "email:old@163.com", Sent: []router.Sent{{Case: "TSA", Kind: router.MessageAck, At: t0.Add(-30 * time.Hour)}}},
		{Customer: "phone:+8613912345678", Sent: []router.Sent{{Case: "TSB", Kind: router.MessageAck, At: t0.Add(-time.Hour)}}},
	}
	if err := h.commit(routerChanges{sent: logs}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Prune(t0); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		key  string
		want int
	}{{"email:old@163.com", 0}, {"phone:+8613912345678", 1}} {
		if got, err := h.Sent(tt.key); err != nil || len(got) != tt.want {
			t.Errorf("Sent(%s) = %v, %v; want %d", tt.key, got, err, tt.want)
		}
	}
}

func TestOutboundConfigKeyPath(t *testing.T) {
	cfg := Config{Outbound: router.NotifyConfig{Templates: map[string]router.TemplateSet{"telecom": {router.MessageAck: {SMS: "{{.Refrence}}"}}}}}
	cfg.Provision()
	err := cfg.Validate()
	if err == nil || !strings.HasPrefix(err.Error(), "outbound.templates.telecom.ack.sms:") {
		t.Errorf("Validate() = %v, want the key path outbound.templates.telecom.ack.sms", err)
	}
}

func TestOutboundTemplatesNameLoadedPacks(t *testing.T) {
	cfg := Config{Outbound: router.NotifyConfig{Templates: map[string]router.TemplateSet{"propery": {router.MessageAck: {SMS: "受理编号{{.Reference}}"}}}}}
	cfg.Provision()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := cfg.Notifier([]string{"telecom@2026.1", "property@2026.1"}, nil); err == nil || !strings.HasPrefix(err.Error(), "outbound.templates.propery: no pack") {
		t.Errorf("Notifier = %v, want the unknown pack named by its key path", err)
	}
}
