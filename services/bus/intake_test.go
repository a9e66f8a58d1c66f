package bus_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tousu/tousu/internal/polltest"
	"github.com/tousu/tousu/services/bus"
	"github.com/tousu/tousu/services/bus/bustest"
)

// begin marks n intake writes in flight and returns the function that
// ends them all.
func begin(tb testing.TB, in *bus.Intake, n int) (end func()) {
	tb.Helper()
	ends := make([]func(), n)
	for i := range ends {
		ends[i] = in.Begin()
	}
	return func() {
		for _, e := range ends {
			e()
		}
	}
}

func TestIntakeBusy(t *testing.T) {
	tests := []struct {
		writes int
		want   bool
	}{
		{0, false},
		{1, false},
		{bus.IntakeBusyWrites - 1, false},
		{bus.IntakeBusyWrites, true},
		{32, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.writes), func(t *testing.T) {
			var in bus.Intake
			end := begin(t, &in, tt.writes)
			if got := in.Busy(); got != tt.want {
				t.Errorf("Busy with %d writes in flight = %v, want %v", tt.writes, got, tt.want)
			}
			end()
			if in.Busy() {
				t.Errorf("Busy after every write ended")
			}
		})
	}
	var none *bus.Intake
	none.Begin()() // counts nothing, does not panic
	if none.Busy() || !none.Wait(context.Background(), time.Now().Add(time.Hour)) || none.Waiting() != 0 {
		t.Errorf("a nil Intake is busy or holds its callers")
	}
}

func TestIntakeWait(t *testing.T) {
	past := time.Now().Add(-time.Second)
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name     string
		writes   int
		ctx      context.Context
		deadline time.Time
		want     bool
	}{
		{"not busy: at once", bus.IntakeBusyWrites - 1, context.Background(), past, true},
		{"busy, deadline passed", bus.IntakeBusyWrites, context.Background(), past, false},
		{"busy, ctx ended", bus.IntakeBusyWrites + 3, canceled, time.Now().Add(time.Hour), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var in bus.Intake
			defer begin(t, &in, tt.writes)()
			if got := in.Wait(tt.ctx, tt.deadline); got != tt.want {
				t.Errorf("Wait = %v, want %v", got, tt.want)
			}
			if in.Waiting() != 0 {
				t.Errorf("Waiting after Wait returned = %d, want 0", in.Waiting())
			}
		})
	}

	// Busy until one write ends: the waiter is let go then.
	var in bus.Intake
	end := begin(t, &in, bus.IntakeBusyWrites)
	done := make(chan bool)
	go func() { done <- in.Wait(context.Background(), time.Now().Add(time.Hour)) }()
	polltest.Until(t, "the waiter held", func() bool { return in.Waiting() == 1 })
	last := in.Begin() // a ninth write: still busy after one ends
	end()
	if !<-done {
		t.Errorf("Wait = false after the intake stopped being busy")
	}
	last()
}

// TestConsumerGivesWayToIntake: while the intake is busy, a full batch
// waits for it, and reaches the handler only when the intake is no longer
// busy, in one piece.
func TestConsumerGivesWayToIntake(t *testing.T) {
	cfg := bus.Config{Brokers: []string{startBroker(t, "").Addr()}}
	topic := bustest.CreateTopic(t, cfg, 1)
	p := bustest.NewProducer(t, cfg)
	var in bus.Intake
	endWrites := begin(t, &in, bus.IntakeBusyWrites)
	defer func() { endWrites() }()

	complaints := []string{"宽带又断了，报修三次没人来", "0731-8888 话费多扣 58元", "12月3日 营业厅态度差", "套餐被改 没通知"}
	var msgs []bus.Message
	for _, c := range complaints {
		msgs = append(msgs, bus.Message{Topic: topic, Key: []byte("客户甲"), Value: []byte(c)})
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := p.Write(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var batches [][]string
	var busyAtHandover []bool
	handled := make(chan struct{}, 10)
	batch := func(_ context.Context, ms []bus.Message) error {
		mu.Lock()
		defer mu.Unlock()
		var vs []string
		for _, m := range ms {
			vs = append(vs, string(m.Value))
		}
		batches = append(batches, vs)
		busyAtHandover = append(busyAtHandover, in.Busy())
		handled <- struct{}{}
		return nil
	}
	bustest.StartConsumer(t, cfg, bus.ConsumerConfig{Group: bustest.Unique(t, "g"), Topic: topic, Batch: batch,
		MaxBatch: len(complaints), YieldWait: time.Hour, Intake: &in}, p, func(context.Context, bus.Message) error { return nil }, nil)

	polltest.Until(t, "the batch held for the intake, or handed over", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return in.Waiting() == 1 || len(batches) > 0
	})
	mu.Lock()
	if len(batches) > 0 {
		t.Fatalf("batch %q handed over while the intake was busy", batches[0])
	}
	mu.Unlock()
	endWrites()
	endWrites = func() {}
	bustest.Wait(t, handled, "the batch after the intake")
	mu.Lock()
	defer mu.Unlock()
	if len(batches) != 1 || len(batches[0]) != len(complaints) || busyAtHandover[0] {
		t.Errorf("batches %q (intake busy at handover: %v), want one batch of %d after the intake", batches, busyAtHandover, len(complaints))
	}
}

// TestConsumerYieldBounded: an intake that stays busy holds a batch for
// at most YieldWait; then the stage goes on.
func TestConsumerYieldBounded(t *testing.T) {
	cfg := bus.Config{Brokers: []string{startBroker(t, "").Addr()}}
	topic := bustest.CreateTopic(t, cfg, 1)
	p := bustest.NewProducer(t, cfg)
	var in bus.Intake
	defer begin(t, &in, 32)()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Two messages: a batch of one goes to the Handler.
	if err := p.Write(ctx, bus.Message{Topic: topic, Key: []byte("13800138000"), Value: []byte("投诉：安装师傅迟到两小时")},
		bus.Message{Topic: topic, Key: []byte("13800138000"), Value: []byte("补充：12月5号约的上门，到现在没人联系")}); err != nil {
		t.Fatal(err)
	}
	handled := make(chan struct{}, 1)
	batch := func(_ context.Context, ms []bus.Message) error {
		if in.Busy() {
			select {
			case handled <- struct{}{}:
			default:
			}
		}
		return nil
	}
	bustest.StartConsumer(t, cfg, bus.ConsumerConfig{Group: bustest.Unique(t, "g"), Topic: topic, Batch: batch,
		YieldWait: 50 * time.Millisecond, Intake: &in}, p, func(context.Context, bus.Message) error { return nil }, nil)
	bustest.Wait(t, handled, "the batch while the intake stays busy")
}
