package indexer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/tousu/tousu/internal/polltest"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/services/bus"
	"github.com/tousu/tousu/services/stages/stagetest"
	"github.com/tousu/tousu/sinks/bleveindex"
	"github.com/tousu/tousu/sinks/caseindex"
)

// unreachableIndex is a test double of an index whose node can be taken
// down: while down, every write fails as a refused connection would.
type unreachableIndex struct {
	caseindex.Index
	down    atomic.Bool
	refused atomic.Int64
}

func (u *unreachableIndex) Upsert(ctx context.Context, cases []router.Case) error {
	if u.down.Load() {
		u.refused.Add(1)
		return errors.New("dial tcp 127.0.0.1:9200: connect: connection refused")
	}
	return u.Index.Upsert(ctx, cases)
}

// TestIndexDownHoldsOffsets: while the index is unreachable the indexer
// commits nothing, the lag shows every waiting case, and once the index
// is back every case is indexed, each once.
func TestIndexDownHoldsOffsets(t *testing.T) {
	ctx := context.Background()
	cfg, producer := stagetest.StartBroker(t)
	bleve := openBleve(t)
	index := &unreachableIndex{Index: bleve}
	index.down.Store(true)

	runIndexer(t, cfg, producer, index, bus.ConsumerConfig{MaxBackoff: 500 * time.Millisecond})

	const n = 20
	for i := range n {
		c := router.Case{V: router.SchemaVersion, ID: fmt.Sprintf("TSDOWN%04d", i), Revision: 1, Description: "索引不可用测试", Status: router.StatusOpen, ReceivedAt: time.Now()}
		b, _ := json.Marshal(c)
		if err := producer.Write(ctx, bus.Message{Topic: bus.TopicCases, Key: []byte(c.ID), Value: b}); err != nil {
			t.Fatal(err)
		}
	}
	lag := func() int64 { return totalLag(t, cfg) }
	// The consumer keeps retrying; nothing gets committed meanwhile.
	polltest.Until(t, "the indexer retrying", func() bool { return index.refused.Load() >= 3 })
	if got := lag(); got != n {
		t.Errorf("lag while the index is down = %d, want %d", got, n)
	}
	index.down.Store(false)
	polltest.Until(t, "lag back to zero", func() bool { return lag() == 0 })
	res, err := bleve.Search(ctx, caseindex.Query{Text: "索引不可用测试", Limit: 100})
	if err != nil || res.Total != n {
		t.Fatalf("indexed %d cases (%v), want %d", res.Total, err, n)
	}
}

// openBleve opens an index in a temporary directory, closed when the test
// ends.
func openBleve(tb testing.TB) *bleveindex.Index {
	tb.Helper()
	bleve, err := bleveindex.Open(bleveindex.Config{Path: filepath.Join(tb.TempDir(), "index")}, zap.NewNop())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { bleve.Close() })
	return bleve
}

// runIndexer runs the indexer stage writing to index, its consumer
// configured by cc with the group, topic and batch handler filled in,
// until the test ends.
func runIndexer(tb testing.TB, cfg bus.Config, producer *bus.Producer, index caseindex.Index, cc bus.ConsumerConfig) {
	tb.Helper()
	stage := New(Deps{Index: index})
	cc.Group, cc.Topic, cc.Batch = Group, bus.TopicCases, stage.Batch
	consumer, err := bus.NewConsumer(cfg, cc, producer, stage.Handle, zap.NewNop(), nil)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- consumer.Run(ctx) }()
	tb.Cleanup(func() { cancel(); <-done; consumer.Close() })
}

// totalLag is the indexer group's lag summed over the partitions of the
// cases topic.
func totalLag(tb testing.TB, cfg bus.Config) int64 {
	tb.Helper()
	l, err := bus.Lag(context.Background(), cfg, Group, bus.TopicCases)
	if err != nil {
		tb.Fatal(err)
	}
	var sum int64
	for _, v := range l {
		sum += v
	}
	return sum
}

// heldIndex is a test double of an index that answers bulk writes out of
// order: the write holding case hold waits until `others` later writes
// have returned.
type heldIndex struct {
	caseindex.Index
	hold     string
	others   int
	mu       sync.Mutex
	returned int
	release  chan struct{}
	held     atomic.Bool
}

func (h *heldIndex) Upsert(ctx context.Context, cases []router.Case) error {
	for _, c := range cases {
		if c.ID == h.hold && c.Revision == 1 && h.held.CompareAndSwap(false, true) {
			select {
			case <-h.release:
			case <-ctx.Done():
				return ctx.Err()
			}
			return h.Index.Upsert(ctx, cases)
		}
	}
	err := h.Index.Upsert(ctx, cases)
	h.mu.Lock()
	h.returned++
	h.mu.Unlock()
	return err
}

func (h *heldIndex) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.returned
}

// TestBatchesInFlightCommitInOrder: with several batches at the index at
// once (as many as the indexer lets in flight on each backend) and the
// index answering the first one last, nothing is committed until that
// first batch is written (the later ones being done does not move the
// offset past it), then everything is; and the first revision of a case,
// written after its second, does not overwrite it.
func TestBatchesInFlightCommitInOrder(t *testing.T) {
	for _, tc := range []struct {
		backend  string
		inFlight int
	}{
		{"elasticsearch", InFlight},
		{"bleve", BleveInFlight},
	} {
		t.Run(tc.backend, func(t *testing.T) { testBatchesInFlight(t, tc.inFlight) })
	}
}

func testBatchesInFlight(t *testing.T, inFlight int) {
	ctx := context.Background()
	cfg, producer := stagetest.StartBroker(t)
	bleve := openBleve(t)

	// 12 cases, then a second revision of each (an agent's note): 24
	// records, all in one partition so that fetch order is offset order.
	notes := []string{"已回电，用户称12月3日起无信号", "转网络部核查基站", "用户不接电话，短信告知", "已补偿话费20元，用户认可"}
	var msgs []bus.Message
	for rev := 1; rev <= 2; rev++ {
		for i := range 12 {
			c := router.Case{V: router.SchemaVersion, ID: fmt.Sprintf("TS20261206%04d", i), Revision: int64(rev),
				Subject: "手机信号差投诉", Description: "小区手机信号很差，打电话断断续续", Status: router.StatusOpen, ReceivedAt: time.Now()}
			if rev == 2 {
				c.Status = router.StatusInProgress
				c.Description += "。处理：" + notes[i%len(notes)]
			}
			msgs = append(msgs, bus.Message{Topic: bus.TopicCases, Key: []byte(c.ID), PartitionKey: []byte("客户 138****5678"), Value: stagetest.MustJSON(t, c)})
		}
	}
	if err := producer.Write(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	n := int64(len(msgs))

	// Batches of 4: the first holds revision 1 of case 0000; the index
	// answers it only after the batches in flight after it (one at
	// least: every backend has a batch written while another is held).
	index := &heldIndex{Index: bleve, hold: "TS202612060000", others: max(inFlight-1, 1), release: make(chan struct{})}
	runIndexer(t, cfg, producer, index, bus.ConsumerConfig{MaxBatch: 4, InFlight: inFlight})

	lag := func() int64 { return totalLag(t, cfg) }
	polltest.Until(t, fmt.Sprintf("%d later batches written while the first is held", index.others), func() bool { return index.count() >= index.others })
	if got := lag(); got != n {
		t.Errorf("lag with the first batch still at the index = %d, want %d (an offset was committed past it)", got, n)
	}
	close(index.release)
	polltest.Until(t, "lag back to zero", func() bool { return lag() == 0 })
	for i := range 12 {
		id := fmt.Sprintf("TS20261206%04d", i)
		c, err := bleve.Get(ctx, id)
		if err != nil || c.Revision != 2 || c.Status != router.StatusInProgress {
			t.Errorf("case %s: revision %d, status %s (%v), want revision 2 in progress", id, c.Revision, c.Status, err)
		}
	}
}
