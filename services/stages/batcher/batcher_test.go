package batcher

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/tousu/tousu/normalize"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/services/bus"
	"github.com/tousu/tousu/services/stages/stagetest"
)

// candidateMessage is the batch candidate of customer n's complaint.
func candidateMessage(tb testing.TB, customer int, text string, at time.Duration) bus.Message {
	tb.Helper()
	c := stagetest.Complaint(customer, 1, text, at)
	cand := router.NewBatchCandidate(router.Case{ID: c.Reference, Pack: "property@1", Category: "收费"}, c, normalize.FingerprintOf(c))
	b, err := json.Marshal(cand)
	if err != nil {
		tb.Fatal(err)
	}
	return bus.Message{Topic: bus.TopicBatch, Key: []byte("pack:" + cand.Pack), Value: b}
}

func TestBatcher(t *testing.T) {
	const text = "小区停车费从每月200元涨到350元，物业没有公示也没有经过业主大会"
	ctx := context.Background()
	cfg := stagetest.DedupeConfig(t, nil)
	path := filepath.Join(t.TempDir(), "batcher.db")
	open := func() (*Stage, *stagetest.RecordingWriter) {
		w := &stagetest.RecordingWriter{}
		b, err := New(Deps{Writer: w, Path: path, Dedupe: cfg, MaxRecordBytes: router.DefaultMaxRecordBytes})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b, w
	}
	b, w := open()
	msgs := []bus.Message{candidateMessage(t, 1, text, 0), candidateMessage(t, 2, text, time.Minute)}
	if err := b.Batch(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	if len(w.Msgs) != 0 {
		t.Fatalf("two customers wrote %d messages, want none", len(w.Msgs))
	}
	// Restarted, the batcher remembers the window: the third customer forms
	// the batch and all three cases are flagged.
	b.store.Close()
	b, w = open()
	if err := b.Handle(ctx, candidateMessage(t, 3, text, 2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	acts, notices := stagetest.Actions(t, w.Msgs), w.Notices(t)
	if len(acts) != 3 || len(notices) != 1 || notices[0].Customers != 3 || len(notices[0].Cases) != 3 || notices[0].Category != "收费" {
		t.Fatalf("actions %+v, notices %+v; want three flags and one notice", acts, notices)
	}
	for _, a := range acts {
		if err := a.Validate(); err != nil || a.Kind != router.ActionFlagBatch || a.Batch != notices[0].Batch || a.Actor != "batch" {
			t.Errorf("flag %+v: %v", a, err)
		}
	}
	// A candidate delivered again (its router may have lost the flag) is
	// flagged again with the same action id; the batch is not announced
	// again.
	w.Msgs = nil
	if err := b.Handle(ctx, candidateMessage(t, 1, text, 0)); err != nil {
		t.Fatal(err)
	}
	again := stagetest.Actions(t, w.Msgs)
	if len(again) != 1 || again[0].ID != acts[0].ID || len(w.Notices(t)) != 0 {
		t.Errorf("redelivered candidate wrote %+v", w.Msgs)
	}
	// Bad payloads are rejected, not retried.
	for _, v := range []string{"not json", `{"v":99}`} {
		if err := b.Handle(ctx, bus.Message{Topic: bus.TopicBatch, Value: []byte(v)}); !bus.IsRejected(err) {
			t.Errorf("%s: %v, want a rejection", v, err)
		}
	}
}

func TestBatchStorePrunes(t *testing.T) {
	cfg := stagetest.DedupeConfig(t, nil)
	now := time.Now().UTC()
	store, err := openBatchStore(filepath.Join(t.TempDir(), "batcher.db"), cfg.BatchWindow, now)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	old := normalize.BatchEntry{Complaint: "old", Customer: "phone:old", ReceivedAt: now.Add(-3 * cfg.BatchWindow), Sketch: normalize.SketchOf("很久以前")}
	recent := normalize.BatchEntry{Complaint: "new", Customer: "phone:recent", ReceivedAt: now.Add(-time.Minute), Sketch: normalize.SketchOf("刚才")}
	if err := store.Save([]normalize.BatchEntry{old, recent}); err != nil {
		t.Fatal(err)
	}
	if n, err := store.Prune(now); n != 1 || err != nil {
		t.Errorf("Prune: %d, %v; want 1", n, err)
	}
	if entries, err := store.Entries(); err != nil || len(entries) != 1 || entries[0].Complaint != "new" {
		t.Errorf("entries after pruning: %+v %v", entries, err)
	}
	if n, err := store.Prune(now); n != 0 || err != nil {
		t.Errorf("Prune again: %d, %v", n, err)
	}
}
