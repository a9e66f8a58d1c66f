package indexer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
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
	bleve, err := bleveindex.Open(bleveindex.Config{Path: filepath.Join(t.TempDir(), "index")}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bleve.Close() })
	index := &unreachableIndex{Index: bleve}
	index.down.Store(true)

	stage := New(Deps{Index: index})
	consumer, err := bus.NewConsumer(cfg, bus.ConsumerConfig{Group: Group, Topic: bus.TopicCases, Batch: stage.Batch, MaxBackoff: 500 * time.Millisecond},
		producer, stage.Handle, zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- consumer.Run(runCtx) }()
	t.Cleanup(func() { cancel(); <-done; consumer.Close() })

	const n = 20
	for i := range n {
		c := router.Case{V: router.SchemaVersion, ID: fmt.Sprintf("TSDOWN%04d", i), Revision: 1, Description: "索引不可用测试", Status: router.StatusOpen, ReceivedAt: time.Now()}
		b, _ := json.Marshal(c)
		if err := producer.Write(ctx, bus.Message{Topic: bus.TopicCases, Key: []byte(c.ID), Value: b}); err != nil {
			t.Fatal(err)
		}
	}
	lag := func() int64 {
		var sum int64
		l, err := bus.Lag(ctx, cfg, Group, bus.TopicCases)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range l {
			sum += v
		}
		return sum
	}
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
