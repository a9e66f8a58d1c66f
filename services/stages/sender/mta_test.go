package sender

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/tousu/tousu/internal/polltest"
	"github.com/tousu/tousu/internal/servertest"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/services/bus"
	"github.com/tousu/tousu/services/stages/record"
	"github.com/tousu/tousu/services/stages/stagetest"
	"github.com/tousu/tousu/sinks/outbound"
)

// killPoint stands in for a process killed at one point of a delivery:
// once armed, the call it wraps signals hit and then hangs until the
// consumer is closed (its context ends), as a process that died there
// would never go on. Nothing after it runs: no commit.
type killPoint struct {
	mu    sync.Mutex
	armed bool
	hit   chan struct{}
}

func newKillPoint() *killPoint { return &killPoint{armed: true, hit: make(chan struct{})} }

// stop hangs a call while armed (once); it reports whether it did.
func (k *killPoint) stop(ctx context.Context) bool {
	k.mu.Lock()
	armed := k.armed
	k.armed = false
	k.mu.Unlock()
	if !armed {
		return false
	}
	close(k.hit)
	<-ctx.Done()
	return true
}

// killedAfterSend is a transport that dies right after the MTA accepted
// the message: before the delivered id is written.
type killedAfterSend struct {
	outbound.Transport
	kill  *killPoint
	calls *counter
}

func (t killedAfterSend) Send(ctx context.Context, o router.Outgoing) error {
	t.calls.add()
	if err := t.Transport.Send(ctx, o); err != nil {
		return err
	}
	if t.kill != nil && t.kill.stop(ctx) {
		return ctx.Err()
	}
	return nil
}

// killedBeforeCommit is a writer that dies when the delivery action is
// written: after the delivered id was written, before the commit.
type killedBeforeCommit struct {
	record.Writer
	kill *killPoint
	mu   sync.Mutex
	acts []router.Action
}

func (w *killedBeforeCommit) Write(ctx context.Context, msgs ...bus.Message) error {
	if w.kill != nil && w.kill.stop(ctx) {
		return ctx.Err()
	}
	if err := w.Writer.Write(ctx, msgs...); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, m := range msgs {
		var a router.Action
		if json.Unmarshal(m.Value, &a) == nil {
			w.acts = append(w.acts, a)
		}
	}
	return nil
}

func (w *killedBeforeCommit) reported(id string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, a := range w.acts {
		if a.Message == id && a.Delivery == router.DeliverySent {
			return true
		}
	}
	return false
}

type counter struct {
	mu sync.Mutex
	n  int
}

func (c *counter) add() { c.mu.Lock(); c.n++; c.mu.Unlock() }
func (c *counter) get() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// TestSenderDeliversOnceAcrossAKill runs the sender on the embedded
// broker against Postfix, kills it at the two points between the MTA's
// acceptance and the commit of the outbox offset, restarts it on the same
// state file, and counts the mails in the customer's mailbox:
//
//   - killed after the delivered id was written (the action write hangs):
//     the restarted sender reports the record and does not send it again:
//     one mail;
//   - killed after the MTA accepted, before the delivered id was written:
//     the restarted sender sends it again: two mails with the same
//     Message-ID, which the customer's client shows as one. At least once,
//     never a mail the client cannot tell apart.
func TestSenderDeliversOnceAcrossAKill(t *testing.T) {
	mta := servertest.RequireMTA(t)
	cfg, producer := stagetest.StartBroker(t)
	smtpCfg, err := outbound.SMTPFromURL("postfix", mta.URL+"&from="+url.QueryEscape("投诉受理中心 <complaints@tousu.test>"))
	if err != nil {
		t.Fatal(err)
	}
	smtp, err := outbound.NewSMTP(smtpCfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "sender.db")
	run := fmt.Sprint(time.Now().UnixNano())

	// start runs a sender with transport and writer until stop is called.
	start := func(transport outbound.Transport, w record.Writer) (stop func()) {
		stage, err := New(Deps{Writer: w, Path: path, Logger: zap.NewNop(),
			Providers: []Provider{{Name: "smtp:postfix", Medium: router.MediumEmail, Transport: transport, Rate: Rate{PerSecond: 10}}}})
		if err != nil {
			t.Fatal(err)
		}
		c, err := bus.NewConsumer(cfg, bus.ConsumerConfig{Group: Group, Topic: Topics[0]}, producer, stage.Handle, zap.NewNop(), nil)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- c.Run(context.Background()) }()
		return func() {
			c.Close()
			if err := <-done; err != nil {
				t.Error(err)
			}
			stage.Close()
		}
	}

	tests := []struct {
		name       string
		killSend   bool // kill after the MTA accepted, before the id is written
		killReport bool // kill after the id is written, before the commit
		mails      int
		sends      int
	}{
		{name: "killed before the commit", killReport: true, mails: 1, sends: 1},
		{name: "killed before the delivered id is written", killSend: true, mails: 2, sends: 2},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := outgoing(router.MediumEmail)
			o.ID = fmt.Sprintf("c-%s-%d/ack/1", run, i)
			o.Case, o.To, o.ToName = fmt.Sprintf("c-%s-%d", run, i), mta.Customer, "王小明"
			o.MessageID = fmt.Sprintf("ack.%s.%d@tousu.test", run, i)
			if err := producer.Write(context.Background(), message(t, o)); err != nil {
				t.Fatal(err)
			}
			kill, calls := newKillPoint(), &counter{}
			first := &killedBeforeCommit{Writer: producer}
			sendKill := (*killPoint)(nil)
			if tt.killSend {
				sendKill = kill
			}
			if tt.killReport {
				first.kill = kill
			}
			stop := start(killedAfterSend{Transport: smtp, kill: sendKill, calls: calls}, first)
			select {
			case <-kill.hit:
			case <-time.After(polltest.Patience):
				t.Fatal("the sender never reached the kill point")
			}
			stop() // the kill: the offset stays uncommitted

			again := &killedBeforeCommit{Writer: producer}
			stop = start(killedAfterSend{Transport: smtp, calls: calls}, again)
			polltest.Until(t, "the restarted sender's report", func() bool { return again.reported(o.ID) })
			stop()

			var mails [][]byte
			polltest.Until(t, "the mails in the customer's mailbox", func() bool {
				mails, err = servertest.Mails(mta.CustomerMailbox, o.MessageID)
				if err != nil {
					t.Fatal(err)
				}
				return len(mails) >= tt.mails
			})
			if len(mails) != tt.mails || calls.get() != tt.sends {
				t.Errorf("%d mails with Message-ID %s from %d sends, want %d from %d", len(mails), o.MessageID, calls.get(), tt.mails, tt.sends)
			}
		})
	}
}
