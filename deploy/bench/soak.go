package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/transform"

	"github.com/tousu/tousu/deploy/soak"
	"github.com/tousu/tousu/services/app"
	"github.com/tousu/tousu/services/bus"
	"github.com/tousu/tousu/services/stages/normalizer"
)

// soakResult is what the sustained run measured: the rate offered, the
// summary of the process's samples and how many submissions failed.
type soakResult struct {
	Rate    float64
	For     time.Duration
	Summary soak.Summary
	Failed  int64
	Sent    int64
}

// soakPhase submits fresh complaints to p at perSec for d and samples
// p's /metrics (resident memory, Go heap, goroutines, error counters)
// meanwhile. The corpus is generated as the load goes, a chunk at a time,
// so that it does not weigh on the memory it measures.
func soakPhase(ctx context.Context, hc *http.Client, p *process, seed uint64, run string, perSec float64, d time.Duration, heap [2]string) (soakResult, error) {
	res := soakResult{Rate: perSec, For: d}
	bodies := make(chan []byte, 1000)
	gctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		for chunk := uint64(0); ; chunk++ {
			for _, c := range newGenerator(seed+100+chunk, run+"s"+fmt.Sprint(chunk)).corpus(5000) {
				b, _ := json.Marshal(c)
				select {
				case bodies <- b:
				case <-gctx.Done():
					return
				}
			}
		}
	}()
	sampler := soak.Start(ctx, soak.Reader{URL: p.base + "/metrics", Token: benchToken, Client: hc, PID: os.Getpid()}, max(2*time.Second, d/120))
	if err := writeHeapProfile(heap[0]); err != nil {
		return res, err
	}
	var sent, failed atomic.Int64
	soak.Steady(ctx, perSec, d, func(int) {
		sent.Add(1)
		if _, err := post(ctx, hc, p.base, <-bodies); err != nil {
			failed.Add(1)
		}
	})
	series, _, readErr := sampler.Stop()
	if err := writeHeapProfile(heap[1]); err != nil {
		return res, err
	}
	if len(series) < 2 {
		return res, fmt.Errorf("too few samples of /metrics (%d): %v", len(series), readErr)
	}
	res.Summary, res.Sent, res.Failed = series.Summary(), sent.Load(), failed.Load()
	return res, ctx.Err()
}

// csvResult is the hotline reader taking one large export.
type csvResult struct {
	Rows  int
	Bytes int64
	// Reader is the hotline reader (`-target poller`) from the file's
	// drop until every row was acknowledged by the broker and the file
	// moved to processed/; Decode is a raw GB18030 decode and
	// encoding/csv parse of the same file.
	Reader, Decode rate
}

// csvPhase writes a GB18030 hotline export of rows rows, times a raw
// decode of it, then drops it into the hotline folder of a poller
// process and times it until it is in processed/. Afterwards the
// normalizer's group skips the rows (its offsets are committed at the
// end of complaints.raw), so that a later run on the same broker does not
// find them in its backlog.
func csvPhase(ctx context.Context, s *stack, run string, rows int) (csvResult, error) {
	res := csvResult{Rows: rows}
	src := filepath.Join(s.dir, "hotline-export.csv")
	f, err := os.Create(src)
	if err != nil {
		return res, err
	}
	err = soak.WriteHotline(f, run, 0, rows)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return res, err
	}
	info, err := os.Stat(src)
	if err != nil {
		return res, err
	}
	res.Bytes = info.Size()
	if res.Decode, err = rawDecode(src); err != nil {
		return res, fmt.Errorf("raw decode: %w", err)
	}
	if res.Decode.n != int64(rows) {
		return res, fmt.Errorf("raw decode: %d rows of %d", res.Decode.n, rows)
	}

	p, err := s.startTousu(ctx, "poller")
	if err != nil {
		return res, err
	}
	defer p.stopOnce()
	folder := filepath.Join(s.dir, app.DefaultHotlineFolder)
	name := "话务工单导出_" + run + ".csv"
	start := time.Now()
	if err := os.Rename(src, filepath.Join(folder, name)); err != nil {
		return res, err
	}
	if err := os.WriteFile(filepath.Join(folder, name+".done"), nil, 0o644); err != nil {
		return res, err
	}
	done := filepath.Join(folder, "processed", name)
	for {
		if _, err := os.Stat(done); err == nil {
			break
		}
		if _, err := os.Stat(filepath.Join(folder, "failed", name)); err == nil {
			return res, fmt.Errorf("the export went to failed/ (see %s)", filepath.Join(folder, "failed"))
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Since(start) > 30*time.Minute {
			return res, errors.New("the export was not processed within 30 minutes")
		}
	}
	res.Reader = rate{n: int64(rows), d: time.Since(start)}
	if err := p.stop(); err != nil {
		return res, err
	}
	return res, s.skipRaw(ctx)
}

// rawDecode reads the export at path through a GB18030 decoder and
// encoding/csv, counting the records after the header: the floor of
// reading it.
func rawDecode(path string) (rate, error) {
	f, err := os.Open(path)
	if err != nil {
		return rate{}, err
	}
	defer f.Close()
	start := time.Now()
	r := csv.NewReader(transform.NewReader(f, simplifiedchinese.GB18030.NewDecoder()))
	r.ReuseRecord = true
	n := int64(-1)
	for {
		if _, err := r.Read(); err == io.EOF {
			break
		} else if err != nil {
			return rate{}, err
		}
		n++
	}
	return rate{n: n, d: time.Since(start)}, nil
}

// skipRaw commits the normalizer group's offsets at the end of
// complaints.raw: what is there now is never normalized.
func (s *stack) skipRaw(ctx context.Context) error {
	end, err := s.endOffsets(ctx, bus.TopicRaw)
	if err != nil {
		return err
	}
	var commits []kafka.OffsetCommit
	for p, off := range end {
		commits = append(commits, kafka.OffsetCommit{Partition: p, Offset: off})
	}
	client := &kafka.Client{Addr: kafka.TCP(s.bus.Brokers...), Timeout: 10 * time.Second}
	resp, err := client.OffsetCommit(ctx, &kafka.OffsetCommitRequest{GroupID: normalizer.Group, GenerationID: -1, Topics: map[string][]kafka.OffsetCommit{bus.TopicRaw: commits}})
	if err != nil {
		return fmt.Errorf("skip the hotline rows for %s: %w", normalizer.Group, err)
	}
	for _, p := range resp.Topics[bus.TopicRaw] {
		if p.Error != nil {
			return fmt.Errorf("skip the hotline rows for %s: partition %d: %w", normalizer.Group, p.Partition, p.Error)
		}
	}
	return nil
}

// heapProfiles names the heap profiles of a mode's soak, start and end;
// none without a prefix.
func heapProfiles(prefix, mode string) [2]string {
	if prefix == "" {
		return [2]string{}
	}
	return [2]string{prefix + "-" + mode + "-start.pprof", prefix + "-" + mode + "-end.pprof"}
}

// writeHeapProfile writes the heap profile after a collection, so that
// its in-use figures are what is live now; nothing without a name.
func writeHeapProfile(name string) error {
	if name == "" {
		return nil
	}
	runtime.GC()
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	err = pprof.Lookup("heap").WriteTo(f, 0)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
