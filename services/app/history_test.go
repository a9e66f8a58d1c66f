package app

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/normalize"
	"github.com/tousu/tousu/router"
)

// historyFor is a customer history with one case of one complaint.
func historyFor(key, text string, at time.Time) normalize.CustomerHistory {
	id := "api:" + key + text
	c := normalize.Complaint{ID: id, Reference: ingest.ReferenceFor(id), ReceivedAt: at, Customer: normalize.Customer{Key: key}, Description: text}
	h := normalize.CustomerHistory{Key: key}
	h.Record(c.Reference, c, normalize.FingerprintOf(c))
	return h
}

func TestHistoryStorePersists(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "router-history.db")
	cfg := normalize.DefaultDedupeConfig()
	now := time.Now().UTC()
	st, err := openHistory(path, cfg, now)
	if err != nil {
		t.Fatal(err)
	}
	alice := historyFor("phone:+8613912345678", "手机信号差了三天", now.Add(-time.Hour))
	caseID := alice.Cases[0].ID
	err = st.commit(routerChanges{
		customers: []normalize.CustomerHistory{alice},
		cases:     []router.Case{{V: router.SchemaVersion, ID: caseID, Revision: 4, Urgency: 2}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st, err = openHistory(path, cfg, now)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	got, err := st.Load(ctx, alice.Key)
	if err != nil || len(got.Cases) != 1 || got.Cases[0].ID != caseID || !slices.Equal(got.Cases[0].Complaints[0].Sketch, alice.Cases[0].Complaints[0].Sketch) {
		t.Errorf("Load after restart: %+v %v", got, err)
	}
	c, ok, err := st.Case(caseID)
	if err != nil || !ok || c.Revision != 4 || c.Urgency != 2 {
		t.Errorf("Case after restart: %+v %v %v", c, ok, err)
	}
	if unknown, err := st.Load(ctx, "phone:+8600000000000"); err != nil || len(unknown.Cases) != 0 || unknown.Key != "phone:+8600000000000" {
		t.Errorf("unknown customer: %+v %v", unknown, err)
	}

	// A case-actions consumer marks the case resolved through History.
	var hist normalize.History = st
	got.SetState(caseID, normalize.CaseResolved, now)
	if err := hist.Save(ctx, got); err != nil {
		t.Fatal(err)
	}
	if again, _ := hist.Load(ctx, alice.Key); again.Cases[0].State != normalize.CaseResolved {
		t.Errorf("state after Save: %s", again.Cases[0].State)
	}
	// An empty history deletes the customer.
	if err := hist.Save(ctx, normalize.CustomerHistory{Key: alice.Key}); err != nil {
		t.Fatal(err)
	}
	if gone, _ := hist.Load(ctx, alice.Key); len(gone.Cases) != 0 {
		t.Errorf("deleted customer still has %+v", gone)
	}
	if err := hist.Save(ctx, normalize.CustomerHistory{}); err == nil {
		t.Error("saving a history without key: no error")
	}
}

func TestHistoryStorePrunes(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "router-history.db")
	cfg := normalize.DefaultDedupeConfig()
	now := time.Now().UTC()
	st, err := openHistory(path, cfg, now)
	if err != nil {
		t.Fatal(err)
	}
	longAgo := now.Add(-cfg.RepeatWindow() - time.Hour)
	old := historyFor("phone:old", "很久以前的投诉", longAgo)
	recent := historyFor("phone:recent", "昨天的投诉", now.Add(-24*time.Hour))
	// Cases: the old customer's finished long ago; an open case as old;
	// an anonymous case closed long ago but reopened and closed again
	// yesterday (its first finished entry is stale).
	oldCase := router.Case{ID: old.Cases[0].ID, Revision: 2, Status: router.StatusClosed, UpdatedAt: longAgo}
	stillOpen := router.Case{ID: "TS-open", Revision: 1, Status: router.StatusOpen, UpdatedAt: longAgo}
	reclosed := router.Case{ID: "TS-reclosed", Revision: 2, Status: router.StatusClosed, UpdatedAt: longAgo}
	err = st.commit(routerChanges{
		customers: []normalize.CustomerHistory{old, recent},
		cases:     []router.Case{oldCase, stillOpen, reclosed, {ID: recent.Cases[0].ID, Revision: 1, Status: router.StatusOpen}},
	})
	if err != nil {
		t.Fatal(err)
	}
	reclosed.Revision, reclosed.UpdatedAt = 4, now.Add(-24*time.Hour)
	if err := st.commit(routerChanges{cases: []router.Case{reclosed}}); err != nil {
		t.Fatal(err)
	}
	// Saving again moves the activity key rather than adding one.
	if err := st.Save(ctx, recent); err != nil {
		t.Fatal(err)
	}
	st.Close()

	// Reopening prunes.
	st, err = openHistory(path, cfg, now)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if h, _ := st.Load(ctx, "phone:old"); len(h.Cases) != 0 {
		t.Errorf("an inactive customer survived: %+v", h)
	}
	if _, ok, _ := st.Case(old.Cases[0].ID); ok {
		t.Error("a case closed before the repeat window survived")
	}
	if _, ok, _ := st.Case(stillOpen.ID); !ok {
		t.Error("an open case was forgotten")
	}
	if c, ok, _ := st.Case(reclosed.ID); !ok || c.Revision != 4 {
		t.Errorf("a case closed again yesterday was forgotten: %v %+v", ok, c)
	}
	if h, _ := st.Load(ctx, "phone:recent"); len(h.Cases) != 1 {
		t.Errorf("a recent customer was pruned: %+v", h)
	}
	if _, ok, _ := st.Case(recent.Cases[0].ID); !ok {
		t.Error("a recent customer's case was pruned")
	}

	// Prune later: the recent customer's time has come too.
	customers, err := st.Prune(now.Add(cfg.RepeatWindow()))
	if err != nil || customers != 1 {
		t.Errorf("Prune: %d customers, %v; want 1", customers, err)
	}
	if customers, err := st.Prune(now.Add(cfg.RepeatWindow())); customers != 0 || err != nil {
		t.Errorf("Prune again: %d %v", customers, err)
	}
}
