package routing

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/normalize"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/services/bus"
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
	st, err := OpenHistory(path, cfg, now)
	if err != nil {
		t.Fatal(err)
	}
	alice := historyFor("phone:+8613912345678", "手机信号差了三天", now.Add(-time.Hour))
	caseID := alice.Cases[0].ID
	err = st.commit(routerChanges{
		customers: []normalize.CustomerHistory{alice},
		cases:     storedCases(t, router.Case{V: router.SchemaVersion, ID: caseID, Revision: 4, Urgency: 2}),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st, err = OpenHistory(path, cfg, now)
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
	st, err := OpenHistory(path, cfg, now)
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
		cases:     storedCases(t, oldCase, stillOpen, reclosed, router.Case{ID: recent.Cases[0].ID, Revision: 1, Status: router.StatusOpen}),
	})
	if err != nil {
		t.Fatal(err)
	}
	reclosed.Revision, reclosed.UpdatedAt = 4, now.Add(-24*time.Hour)
	if err := st.commit(routerChanges{cases: storedCases(t, reclosed)}); err != nil {
		t.Fatal(err)
	}
	// Saving again moves the activity key rather than adding one.
	if err := st.Save(ctx, recent); err != nil {
		t.Fatal(err)
	}
	st.Close()

	// Reopening prunes.
	st, err = OpenHistory(path, cfg, now)
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

// TestStateRestore: the records of a customer's state as one router
// instance wrote them replace what another instance's file holds of them,
// and nothing else; a process skips its own records.
func TestStateRestore(t *testing.T) {
	ctx := context.Background()
	cfg := normalize.DefaultDedupeConfig()
	now := time.Now().UTC()
	reader, err := OpenHistory(filepath.Join(t.TempDir(), "router-history.db"), cfg, now)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	alice := historyFor("phone:+8613912345678", "手机信号差了三天", now.Add(-time.Hour))
	bob := historyFor("phone:+8613987654321", "宽带断网", now.Add(-time.Hour))
	caseOf := func(h normalize.CustomerHistory, rev int64, status router.Status) router.Case {
		return router.Case{V: router.SchemaVersion, ID: h.Cases[0].ID, Revision: rev, Customer: normalize.Customer{Key: h.Key}, Status: status, UpdatedAt: now}
	}
	// The reader holds older revisions of both customers.
	if err := reader.commit(routerChanges{customers: []normalize.CustomerHistory{bob},
		cases: storedCases(t, caseOf(alice, 1, router.StatusOpen), caseOf(bob, 1, router.StatusOpen))}); err != nil {
		t.Fatal(err)
	}
	// Another instance resolved Alice's case; the reader's own record of
	// Bob's case (an older revision) comes back too.
	resolved := caseOf(alice, 3, router.StatusResolved)
	aliceResolved := alice
	aliceResolved.SetState(resolved.ID, normalize.CaseResolved, now)
	var records []bus.Message
	if err := appendState(&records, routerChanges{customers: []normalize.CustomerHistory{aliceResolved}, cases: storedCases(t, resolved)}, "other", router.DefaultMaxRecordBytes); err != nil {
		t.Fatal(err)
	}
	if err := appendState(&records, routerChanges{cases: storedCases(t, caseOf(bob, 0, router.StatusOpen))}, "me", router.DefaultMaxRecordBytes); err != nil {
		t.Fatal(err)
	}
	for i, m := range records {
		if string(m.PartitionKey) != map[bool]string{true: bob.Key, false: alice.Key}[i == 2] {
			t.Errorf("record %s partitioned by %q", m.Key, m.PartitionKey)
		}
	}
	if skipped, err := reader.Restore(2, records, 42, "me"); err != nil || skipped != nil {
		t.Fatal(skipped, err)
	}
	if c, ok, _ := reader.Case(resolved.ID); !ok || c.Revision != 3 || c.Status != router.StatusResolved {
		t.Errorf("Alice's case after restore: %+v %v", c, ok)
	}
	if c, ok, _ := reader.Case(caseOf(bob, 1, router.StatusOpen).ID); !ok || c.Revision != 1 {
		t.Errorf("Bob's case changed by the process's own record: %+v %v", c, ok)
	}
	if h, _ := reader.Load(ctx, alice.Key); len(h.Cases) != 1 || h.Cases[0].State != normalize.CaseResolved {
		t.Errorf("Alice's history after restore: %+v", h)
	}
	if next, err := reader.Applied(2); next != 42 || err != nil {
		t.Errorf("applied offset %d, %v; want 42", next, err)
	}
	if next, _ := reader.Applied(3); next != 0 {
		t.Errorf("another partition's offset %d, want 0", next)
	}
	// A newer router's record waits for this one's upgrade: the restore
	// fails and the offset stays.
	newer := []bus.Message{{Topic: bus.TopicRouterState, Key: []byte("case/TS1"), Value: []byte(`{"v":2,"customer":"phone:+8613912345678","case":{"id":"TS1"}}`)}}
	if _, err := reader.Restore(2, newer, 43, "me"); err == nil {
		t.Error("a record of state version 2 was applied")
	}
	if next, _ := reader.Applied(2); next != 42 {
		t.Errorf("a failed restore moved the offset to %d", next)
	}
}

// TestStateRestoreSkipsPoison: a router.state record that can never be
// applied is skipped with its reason, the customer masked, and the
// records after it are applied and the offset moves past them: one
// garbage record does not stall the partition's customers.
func TestStateRestoreSkipsPoison(t *testing.T) {
	now := time.Now().UTC()
	alice := historyFor("phone:+8613812345678", "宽带12月3号起天天断网", now.Add(-time.Hour))
	for _, poison := range []struct{ name, value string }{
		{"not JSON", "\x1f\x8b\x08 gzip 不是 JSON"},
		{"truncated", `{"v":1,"customer":"phone:+8613812345678","history":{"cases":[{"id":"TS2026`},
		{"no customer", `{"v":1,"customer":"","history":{}}`},
		{"neither case nor history", `{"v":1,"customer":"phone:+8613812345678"}`},
		{"case without id", `{"v":1,"customer":"phone:+8613812345678","case":{"status":"open"}}`},
		{"version 0", `{"customer":"phone:+8613812345678","history":{}}`},
	} {
		t.Run(poison.name, func(t *testing.T) {
			h, err := OpenHistory(filepath.Join(t.TempDir(), "router-history.db"), normalize.DefaultDedupeConfig(), now)
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			records := []bus.Message{{Topic: bus.TopicRouterState, Key: []byte("history/x"), Value: []byte(poison.value), Offset: 7}}
			if err := appendState(&records, routerChanges{customers: []normalize.CustomerHistory{alice}}, "other", router.DefaultMaxRecordBytes); err != nil {
				t.Fatal(err)
			}
			skipped, err := h.Restore(0, records, 9, "me")
			if err != nil || len(skipped) != 1 {
				t.Fatalf("restore: skipped %v, %v; want the poison skipped", skipped, err)
			}
			if msg := skipped[0].Error(); !strings.Contains(msg, "offset 7") || strings.Contains(msg, "13812345678") {
				t.Errorf("skipped %q, want its offset and no unmasked phone", msg)
			}
			if got, _ := h.Load(context.Background(), alice.Key); len(got.Cases) != 1 {
				t.Errorf("the history after the poison was not applied: %+v", got)
			}
			if next, _ := h.Applied(0); next != 9 {
				t.Errorf("applied offset %d, want 9", next)
			}
		})
	}
}

func TestBoundHistory(t *testing.T) {
	now := time.Now().UTC()
	h := normalize.CustomerHistory{Key: "phone:+8613912345678"}
	for i := range 3000 {
		c := normalize.Complaint{ID: fmt.Sprint("api:", i), Reference: fmt.Sprint("TS", i), ReceivedAt: now.Add(time.Duration(i) * time.Minute),
			Customer: normalize.Customer{Key: h.Key}, Description: fmt.Sprint("第", i, "次投诉：手机信号差，打电话总是断线")}
		h.Record(c.Reference, c, normalize.FingerprintOf(c))
	}
	const budget = 256 << 10
	b, _ := ingest.EncodeJSON(h)
	bounded, bb, err := boundHistory(h, budget)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := ingest.EncodeJSON(bounded); !bytes.Equal(again, bb) {
		t.Error("boundHistory returned another encoding than the bounded history's")
	}
	if len(b) <= budget || len(bb) > budget || len(bounded.Cases) == 0 || len(h.Cases) != 3000 {
		t.Fatalf("history of %d bytes bounded to %d bytes, %d cases", len(b), len(bb), len(bounded.Cases))
	}
	newest := h.Cases[len(h.Cases)-1].ID
	if !slices.ContainsFunc(bounded.Cases, func(c normalize.CaseRecord) bool { return c.ID == newest }) {
		t.Error("the newest case was left out")
	}
	small := historyFor(h.Key, "一次投诉", now)
	if got, _, _ := boundHistory(small, budget); len(got.Cases) != 1 {
		t.Errorf("a small history changed: %+v", got)
	}
}

// storedCases encodes cases as the router writes them.
func storedCases(tb testing.TB, cases ...router.Case) []storedCase {
	tb.Helper()
	out := make([]storedCase, len(cases))
	for i, c := range cases {
		sc, err := encodeCase(c, router.DefaultMaxRecordBytes)
		if err != nil {
			tb.Fatal(err)
		}
		out[i] = sc
	}
	return out
}

// TestStateRecordsEncodeAsBefore checks that the records appendState
// assembles around an encoded case or history are byte for byte what
// encoding the whole stateRecord gives, for customer keys and texts that
// need escaping.
func TestStateRecordsEncodeAsBefore(t *testing.T) {
	at := time.Date(2026, 12, 7, 9, 30, 0, 0, time.FixedZone("CST", 8*3600))
	tests := []struct {
		name, customer, text string
	}{
		{"phone", "phone:+8613912345678", "手机信号差了三天，12月3日起打电话总断线"},
		{"email with html", "email:wang<li>&\"x\"@example.com", "<p>宽带&nbsp;断网</p> 报修单号 BX20261203-07 还没人来"},
		{"anonymous", "anon:api:9f3c", "物业不管事\t楼道灯坏了一个月 \u2028 电梯也停了"},
		{"lying charset", "email:li@例子.公司", "鎵嬫満淇″彿宸紝锟斤拷 收到的信是乱码"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := historyFor(tt.customer, tt.text, at)
			c := router.Case{V: router.SchemaVersion, ID: h.Cases[0].ID, Revision: 2, Customer: normalize.Customer{Key: tt.customer},
				Status: router.StatusOpen, Description: tt.text, UpdatedAt: at}
			var got []bus.Message
			if err := appendState(&got, routerChanges{customers: []normalize.CustomerHistory{h}, cases: storedCases(t, c)}, "me", router.DefaultMaxRecordBytes); err != nil {
				t.Fatal(err)
			}
			sc := storedCases(t, c)[0]
			wantCase, err := ingest.EncodeJSON(stateRecord{V: stateVersion, Customer: tt.customer, Case: sc.JSON})
			if err != nil {
				t.Fatal(err)
			}
			wantHistory, err := ingest.EncodeJSON(stateRecord{V: stateVersion, Customer: tt.customer, History: &h})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 2 {
				t.Fatalf("%d records, want 2", len(got))
			}
			for i, want := range [][]byte{wantCase, wantHistory} {
				if !bytes.Equal(got[i].Value, want) {
					t.Errorf("record %s:\n got %s\nwant %s", got[i].Key, got[i].Value, want)
				}
			}
		})
	}
}
