package bus_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tousu/tousu/internal/servertest"
	"github.com/tousu/tousu/services/bus"
	"github.com/tousu/tousu/services/bus/bustest"
)

// BenchmarkPartitionReaderNothingNew measures the common CatchUp: a
// partition with nothing after the offset asked for (ns/op, requests/op),
// on the embedded broker and, with TOUSU_TEST_KAFKA set, on Kafka.
func BenchmarkPartitionReaderNothingNew(b *testing.B) {
	run := func(b *testing.B, cfg bus.Config) {
		topic := bustest.CreateTopic(b, cfg, 3)
		p := bustest.NewProducer(b, cfg)
		var msgs []bus.Message
		for i := range 100 {
			msgs = append(msgs, bus.Message{Topic: topic, Key: fmt.Appendf(nil, "customer-%d", i), Value: []byte("state")})
		}
		if err := p.Write(context.Background(), msgs...); err != nil {
			b.Fatal(err)
		}
		reg := prometheus.NewRegistry()
		r := bustest.NewPartitionReader(b, cfg, topic, reg)
		_, end := bustest.CatchUp(b, r, 1, 0)
		handed := 0
		fn := func(bus.Message) error { handed++; return nil }
		ctx := context.Background()
		before := bustest.CounterValue(b, reg, "tousu_partition_reader_requests_total", map[string]string{"topic": topic})
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			if next, err := r.CatchUp(ctx, 1, end, fn); err != nil || next != end {
				b.Fatalf("CatchUp = %d, %v; want %d", next, err, end)
			}
		}
		b.StopTimer()
		if handed != 0 {
			b.Fatalf("%d records handed on, want none", handed)
		}
		requests := bustest.CounterValue(b, reg, "tousu_partition_reader_requests_total", map[string]string{"topic": topic}) - before
		b.ReportMetric(requests/float64(b.N), "requests/op")
	}
	b.Run("embedded", func(b *testing.B) {
		br := startBroker(b, "")
		run(b, bus.Config{Brokers: []string{br.Addr()}})
	})
	b.Run("kafka", func(b *testing.B) {
		run(b, bus.Config{Brokers: strings.Split(servertest.Require(b, servertest.Kafka), ",")})
	})
}

// TestPartitionReaderBrokerDown checks that a reader whose broker does not
// answer fails after its one repeat with an error naming the topic, the
// partition and the cause, and leaves next at from.
func TestPartitionReaderBrokerDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	reg := prometheus.NewRegistry()
	r, err := bus.NewPartitionReader(bus.Config{Brokers: []string{addr}}, "router.state", nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	next, err := r.CatchUp(ctx, 2, 7, func(bus.Message) error { return nil })
	if err == nil || next != 7 {
		t.Fatalf("CatchUp = %d, %v; want 7 and an error", next, err)
	}
	if !strings.Contains(err.Error(), "router.state partition 2") || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("error %q does not name the topic, the partition and the refused connection", err)
	}
	if n := bustest.CounterValue(t, reg, "tousu_partition_reader_errors_total", map[string]string{"topic": "router.state"}); n != 2 {
		t.Errorf("errors counter %v, want 2 (the request and its repeat)", n)
	}
}
