// Package stagetest holds what the tests of the stages share: a broker
// stand-in that records what a stage writes, an embedded broker, test
// complaints and messages, and a policy that opens bare cases.
package stagetest

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/normalize"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/services/bus"
	"github.com/tousu/tousu/services/stages/record"
)

// RecordingWriter stands in for the broker: it keeps what was written, or
// fails while Fail is set. Lock Mu to read Msgs or set Fail while a stage
// may be writing.
type RecordingWriter struct {
	Mu   sync.Mutex
	Msgs []bus.Message
	Fail error
}

// Write records msgs, or returns Fail.
func (w *RecordingWriter) Write(_ context.Context, msgs ...bus.Message) error {
	w.Mu.Lock()
	defer w.Mu.Unlock()
	if w.Fail != nil {
		return w.Fail
	}
	w.Msgs = append(w.Msgs, msgs...)
	return nil
}

// Cases returns the latest written revision of every case, and how many
// case messages were written.
func (w *RecordingWriter) Cases(tb testing.TB) (map[string]router.Case, int) {
	tb.Helper()
	out := map[string]router.Case{}
	n := 0
	for _, m := range w.Msgs {
		if m.Topic != bus.TopicCases {
			continue
		}
		n++
		var c router.Case
		if err := json.Unmarshal(m.Value, &c); err != nil {
			tb.Fatal(err)
		}
		if string(m.Key) != c.ID {
			tb.Errorf("case %s written with key %s", c.ID, m.Key)
		}
		if prev, ok := out[c.ID]; ok && c.Revision <= prev.Revision {
			tb.Errorf("case %s: revision %d written after %d", c.ID, c.Revision, prev.Revision)
		}
		out[c.ID] = c
	}
	return out, n
}

// Actions decodes the case actions among msgs, failing tb for one not
// keyed by its customer.
func Actions(tb testing.TB, msgs []bus.Message) []router.Action {
	tb.Helper()
	var out []router.Action
	for _, m := range msgs {
		if m.Topic != bus.TopicActions {
			continue
		}
		var a router.Action
		if err := json.Unmarshal(m.Value, &a); err != nil {
			tb.Fatal(err)
		}
		if string(m.Key) != a.Customer {
			tb.Errorf("action %s keyed by %q, not its customer %q", a.ID, m.Key, a.Customer)
		}
		out = append(out, a)
	}
	return out
}

// Notices decodes the notices written to the alerts topic.
func (w *RecordingWriter) Notices(tb testing.TB) []router.Notice {
	tb.Helper()
	var out []router.Notice
	for _, m := range w.Msgs {
		if m.Topic != bus.TopicAlerts {
			continue
		}
		var n router.Notice
		if err := json.Unmarshal(m.Value, &n); err != nil {
			tb.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

// StubPolicy opens a bare case, so these tests depend on no policy pack.
type StubPolicy struct{}

// Open implements router.Policy: a case of the complaint alone, owned by
// 张三 of 客服部.
func (StubPolicy) Open(c normalize.Complaint, _ time.Time) router.Case {
	return router.Case{V: router.SchemaVersion, ID: c.Reference, Revision: 1, References: []string{c.Reference}, Complaints: []string{c.ID},
		Channel: c.Channel, Customer: c.Customer, Description: c.Description, Status: router.StatusOpen,
		ReceivedAt: c.ReceivedAt, UpdatedAt: c.ReceivedAt, Route: router.Route{Department: "客服部", Owner: "张三"}}
}

// T0 is when the test complaints are received, give or take their offset.
var T0 = time.Now().UTC().Truncate(time.Second)

// Complaint is complaint n of a customer (phone:N), received at
// T0+at.
func Complaint(customer, n int, text string, at time.Duration) normalize.Complaint {
	id := fmt.Sprintf("api:c%d-%d", customer, n)
	key := fmt.Sprintf("phone:+86139%08d", customer)
	if customer < 0 {
		key = "anonymous:" + id
	}
	return normalize.Complaint{V: normalize.SchemaVersion, ID: id, Reference: ingest.ReferenceFor(id), Channel: ingest.ChannelAPI,
		ReceivedAt: T0.Add(at), Customer: normalize.Customer{Key: key}, Subject: "投诉", Description: text}
}

// MessageOf is c as complaints.normalized carries it.
func MessageOf(tb testing.TB, c normalize.Complaint) bus.Message {
	tb.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		tb.Fatal(err)
	}
	return bus.Message{Topic: bus.TopicNormalized, Key: []byte(normalize.PartitionKey(c)), Value: b}
}

// Engine is a shipped pack's engine: the router applies the batcher's
// flag_batch actions with it.
var Engine = sync.OnceValues(func() (*router.Engine, error) { return router.LoadEngine(router.BuiltinPrefix + "property") })

// DedupeConfig is a valid detection configuration with batches of three
// customers, edited by edit (nil: none).
func DedupeConfig(tb testing.TB, edit func(*normalize.DedupeConfig)) normalize.DedupeConfig {
	tb.Helper()
	cfg := normalize.DedupeConfig{BatchMinCustomers: 3}
	if edit != nil {
		edit(&cfg)
	}
	cfg.Provision()
	if err := cfg.Validate(); err != nil {
		tb.Fatal(err)
	}
	return cfg
}

// ReplyComplaint is an e-mail complaint of customer n answering Message-ID
// inReplyTo (if any) with subject.
func ReplyComplaint(customer, n int, subject, inReplyTo string, at time.Duration) normalize.Complaint {
	c := Complaint(customer, n, "我是同事，这个问题还没有解决，请尽快回复", at)
	c.Channel = ingest.ChannelEmail
	c.Subject = subject
	c.Customer.Email = "colleague@example.org"
	c.Extra = map[string]string{ingest.ExtraMessageID: c.ID + "@example.org"}
	if inReplyTo != "" {
		c.Extra[normalize.ExtraInReplyTo] = inReplyTo
	}
	return c
}

// ActionMessage is a case action as the console writes it.
func ActionMessage(tb testing.TB, a router.Action) bus.Message {
	tb.Helper()
	var out []bus.Message
	if err := record.AppendJSON(&out, router.DefaultMaxRecordBytes, bus.TopicActions, a.Customer, a); err != nil {
		tb.Fatal(err)
	}
	return out[0]
}

// StartBroker starts an embedded broker with tousu's topics and a
// producer on it, both closed when the test ends.
func StartBroker(tb testing.TB) (bus.Config, *bus.Producer) {
	tb.Helper()
	broker, err := bus.StartBroker(bus.BrokerConfig{Dir: tb.TempDir()}, zap.NewNop())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { broker.Close() })
	cfg := bus.Config{Brokers: []string{broker.Addr()}}
	if err := bus.EnsureTopics(context.Background(), cfg); err != nil {
		tb.Fatal(err)
	}
	producer, err := bus.NewProducer(cfg, zap.NewNop(), nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { producer.Close() })
	return cfg, producer
}

// MustJSON encodes v or fails the test.
func MustJSON(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
