package app

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/tousu/tousu/ingest"
)

// BenchmarkPipeline measures complaints per second from the gateway's
// publish to the search index, embedded broker and Bleve, 32 concurrent
// submitters.
func BenchmarkPipeline(b *testing.B) {
	r := startTousu(b, b.TempDir())
	publish := publishEnvelope(r.producer, nil)
	ctx := context.Background()
	run := fmt.Sprint(time.Now().UnixNano())
	b.ResetTimer()
	var wg sync.WaitGroup
	work := make(chan int)
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				id := ingest.NewID(ingest.ChannelAPI, run, fmt.Sprint(i))
				env := ingest.Envelope{V: ingest.SchemaVersion, ID: id, Reference: ingest.ReferenceFor(id), Channel: ingest.ChannelAPI,
					ReceivedAt: time.Now(), Phone: "13800138000", Description: fmt.Sprintf("压测%s 第%d条 手机信号差", run, i)}
				if err := publish(ctx, env); err != nil {
					b.Error(err)
				}
			}
		}()
	}
	for i := range b.N {
		work <- i
	}
	close(work)
	wg.Wait()
	defer func() {
		if b.Failed() {
			for _, g := range r.pipelineLag(ctx) {
				b.Logf("lag %+v", g)
			}
		}
	}()
	r.waitFor(b, url.Values{"q": {"压测" + run}, "limit": {"1"}}, b.N)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "complaints/s")
}
