package routing

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/tousu/tousu/internal/servertest"
	"github.com/tousu/tousu/services/bus"
	"github.com/tousu/tousu/services/stages/stagetest"
)

// renamingWriter writes the cases and router.state records of a router to
// topics of the test's own, and drops the rest.
type renamingWriter struct {
	out    *bus.Producer
	topics map[string]string
}

func (w renamingWriter) Write(ctx context.Context, msgs ...bus.Message) error {
	var out []bus.Message
	for _, m := range msgs {
		if t, ok := w.topics[m.Topic]; ok {
			m.Topic = t
			out = append(out, m)
		}
	}
	return w.out.Write(ctx, out...)
}

// TestErasureCompactedOnKafka: on real Kafka, once a router erased a case,
// the compacted cases and router.state topics (declared as
// deploy/topics.yaml declares them, with the bounds shortened to let the
// test wait seconds instead of a day) no longer yield the personal
// revision of the case, the customer's history or their sent log: a
// router or an indexer replaying them from the start reads only the erased
// revision.
func TestErasureCompactedOnKafka(t *testing.T) {
	brokers := servertest.Require(t, servertest.Kafka)
	// The bound waits for Kafka's log cleaner (every 15s), which on a
	// loaded machine has taken more than two minutes.
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cfg := bus.Config{Brokers: strings.Split(brokers, ","), Partitions: 1}
	suffix := fmt.Sprint(time.Now().UnixNano())
	topics := map[string]string{bus.TopicCases: "erasure.cases-" + suffix, bus.TopicRouterState: "erasure.state-" + suffix}
	var specs []bus.TopicSpec
	for _, name := range topics {
		specs = append(specs, bus.TopicSpec{Name: name, CleanupPolicy: "compact", Segment: 100 * time.Millisecond,
			MaxCompactionLag: time.Second, DeleteRetention: 100 * time.Millisecond})
	}
	if _, err := bus.ApplyTopics(ctx, cfg, specs); err != nil {
		t.Fatal(err)
	}
	producer, err := bus.NewProducer(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()

	clock := time.Now().UTC()
	s, _, state := telecomStage(t, renamingWriter{out: producer, topics: topics}, clock)

	comp := mailComplaint(1, "宽带断网三天，家住杭州市西湖区文三路90号2幢301室，电话 139-1234-5678", clock)
	if err := s.Batch(ctx, []bus.Message{stagetest.MessageOf(t, comp)}); err != nil {
		t.Fatal(err)
	}
	opened, _, err := state.Case(comp.Reference)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the next write rolls the segment
	if err := s.Batch(ctx, []bus.Message{actionMessage(t, eraseAction(opened, "erase-1", clock.Add(time.Minute)))}); err != nil {
		t.Fatal(err)
	}
	// Later records roll the segment that holds the erasure, so that the
	// cleaner may drop the tombstones too.
	time.Sleep(300 * time.Millisecond)
	later := mailComplaint(2, "另一位客户：营业厅排队两小时", clock)
	later.Customer.Name, later.Customer.Email, later.Customer.Key = "赵敏", "zhao.min@126.com", "email:zhao.min@126.com"
	if err := s.Batch(ctx, []bus.Message{stagetest.MessageOf(t, later)}); err != nil {
		t.Fatal(err)
	}

	personal := []string{"wang.li", "王丽", "文三路", "5678"}
	erasedKept := false
	for _, name := range topics {
		r, err := bus.NewPartitionReader(cfg, name, zaptest.NewLogger(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		for {
			var left []string
			erasedKept = false
			if _, err := r.CatchUp(ctx, 0, 0, func(m bus.Message) error {
				if string(m.Key) == "case/"+opened.ID && m.Value != nil {
					erasedKept = true
				}
				if m.Value == nil && strings.Contains(string(m.Key), "wang.li") {
					left = append(left, "tombstone "+string(m.Key))
				}
				for _, p := range personal {
					if strings.Contains(string(m.Value), p) {
						left = append(left, fmt.Sprintf("offset %d key %s holds %q", m.Offset, m.Key, p))
					}
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if len(left) == 0 {
				if name == topics[bus.TopicRouterState] && !erasedKept {
					t.Error("router.state lost the erased case's record: a router taking the partition over would not hold it")
				}
				break
			}
			if testing.Verbose() {
				t.Logf("%s: %v", name, left)
			}
			if ctx.Err() != nil {
				t.Fatalf("%s was not compacted in time: %v", name, left)
			}
			// The cleaner drops a tombstone once delete_retention has
			// passed since it cleaned it, at a later pass: a new record
			// makes the log dirty again.
			time.Sleep(time.Second)
			if err := producer.Write(ctx, bus.Message{Topic: name, Key: []byte("filler"), Value: []byte("{}")}); err != nil {
				t.Fatal(err)
			}
		}
	}
}
