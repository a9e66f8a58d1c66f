package routing

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/tousu/tousu/internal/polltest"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/services/bus"
	"github.com/tousu/tousu/services/stages/stagetest"
)

// routerInstance is one router process as startRouter builds it: its own
// state file, trained packs, router stage and corrections follower, on a
// broker shared with the other instances.
type routerInstance struct {
	stage   *Stage
	trained *TrainedPacks
	state   *History
}

// startRouterInstance starts a router instance on the state file in dir;
// its follower runs until the test ends.
func startRouterInstance(tb testing.TB, cfg bus.Config, producer *bus.Producer, packs *router.Packs, dir string) *routerInstance {
	tb.Helper()
	dedupe := stagetest.DedupeConfig(tb, nil)
	state, err := OpenHistory(filepath.Join(dir, "router-history.db"), dedupe, time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	log := zaptest.NewLogger(tb).With(zap.String("component", "router"), zap.String("dir", filepath.Base(dir)))
	trained := NewTrainedPacks(packs, state, time.Minute, log, nil)
	follower, err := bus.NewFollower(cfg, bus.FollowerConfig{Topic: bus.TopicCorrections, MinBackoff: 10 * time.Millisecond, MaxBackoff: 200 * time.Millisecond},
		trained.FollowCorrection, log, nil)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- follower.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("follower: %v", err)
		}
		state.Close()
	})
	stage := New(Deps{Writer: producer, Policy: trained, Engine: trained.ByName, State: state, Dedupe: dedupe,
		MaxRecordBytes: router.DefaultMaxRecordBytes, Logger: log})
	return &routerInstance{stage: stage, trained: trained, state: state}
}

// corrections returns the instance's stored corrections of pack by case.
func (r *routerInstance) corrections(tb testing.TB, pack string) map[string]router.Correction {
	tb.Helper()
	stored, err := r.state.Corrections()
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string]router.Correction{}
	for _, c := range stored[pack] {
		out[c.Case] = c
	}
	return out
}

// recategorize has the instance apply an agent's recategorize action.
func (r *routerInstance) recategorize(tb testing.TB, c router.Case, id, category string) {
	tb.Helper()
	a := router.Action{V: router.ActionVersion, ID: id, Case: c.ID, Customer: c.Customer.Key, Kind: router.ActionRecategorize,
		Category: category, Actor: "1001", At: time.Now().UTC()}
	m := bus.Message{Topic: bus.TopicActions, Key: []byte(a.Customer), Value: stagetest.MustJSON(tb, a)}
	if err := r.stage.Handle(context.Background(), m); err != nil {
		tb.Fatalf("recategorize %s: %v", c.ID, err)
	}
}

// TestCorrectionsReachEveryRouter: two router instances each correct the
// category of a case of a customer they own; both end up with both
// corrections stored and trained on, and a later correction of a case
// replaces its earlier one on both.
func TestCorrectionsReachEveryRouter(t *testing.T) {
	ctx := context.Background()
	cfg, producer := stagetest.StartBroker(t)
	packs, err := router.LoadPacks(router.PacksConfig{Packs: []router.PackRef{{Path: "builtin:telecom"}}}, ".")
	if err != nil {
		t.Fatal(err)
	}

	routers := []*routerInstance{
		startRouterInstance(t, cfg, producer, packs, t.TempDir()),
		startRouterInstance(t, cfg, producer, packs, t.TempDir()),
	}
	// Each router opens a case of its own customer and corrects its
	// category to one the case does not have.
	texts := []string{"手机信号差，打电话总是断线", "宽带装机师傅迟到三个小时，态度恶劣"}
	var cases []router.Case
	for i, r := range routers {
		c := stagetest.Complaint(700+i, 1, texts[i], 0)
		if err := r.stage.Handle(ctx, stagetest.MessageOf(t, c)); err != nil {
			t.Fatal(err)
		}
		cs, ok, err := r.state.Case(c.Reference)
		if err != nil || !ok {
			t.Fatalf("router %d did not open a case for %s: %v", i, c.Reference, err)
		}
		cases = append(cases, cs)
	}
	pack := cases[0].Pack
	if pack == "" || cases[1].Pack != pack {
		t.Fatalf("cases decided by packs %q and %q, want one pack", cases[0].Pack, cases[1].Pack)
	}
	var categories []string
	for _, d := range packs.ByName(pack).Pack().Categories.List {
		categories = append(categories, d.Name)
	}
	other := func(not ...string) string {
		for _, cat := range categories {
			if !slices.Contains(not, cat) {
				return cat
			}
		}
		t.Fatalf("pack %s has no category besides %v", pack, not)
		return ""
	}
	want := map[string]string{} // case -> corrected category
	for i, r := range routers {
		want[cases[i].ID] = other(cases[i].Category)
		r.recategorize(t, cases[i], fmt.Sprintf("fix-%d", i), want[cases[i].ID])
	}
	// A second correction of the first case replaces the first.
	want[cases[0].ID] = other(cases[0].Category, want[cases[0].ID])
	routers[0].recategorize(t, cases[0], "fix-again", want[cases[0].ID])

	for i, r := range routers {
		polltest.Until(t, fmt.Sprintf("router %d storing every correction", i), func() bool {
			got := r.corrections(t, pack)
			if len(got) != len(want) {
				return false
			}
			for id, cat := range want {
				if got[id].Category != cat {
					return false
				}
			}
			return true
		})
	}
	a, b := routers[0].corrections(t, pack), routers[1].corrections(t, pack)
	for id, c := range a {
		if b[id] != c {
			t.Errorf("case %s: router 1 stored %+v, router 2 %+v", id, c, b[id])
		}
	}
	for i, r := range routers {
		if !r.trained.dirty.Load() {
			t.Errorf("router %d was not told to retrain", i)
		}
		if err := r.trained.Retrain(); err != nil {
			t.Fatalf("router %d retrain: %v", i, err)
		}
		if n := r.trained.ByName(pack).ModelReport().Corrections; n != len(want) {
			t.Errorf("router %d trained on %d corrections, want %d", i, n, len(want))
		}
	}
}

// TestFollowCorrection: the follower's handler stores a correction once,
// has the packs retrained only when the stored corrections changed, and
// rejects payloads it cannot use.
func TestFollowCorrection(t *testing.T) {
	state, err := OpenHistory(filepath.Join(t.TempDir(), "router-history.db"), stagetest.DedupeConfig(t, nil), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { state.Close() })
	packs, err := router.LoadPacks(router.PacksConfig{Packs: []router.PackRef{{Path: "builtin:telecom"}}}, ".")
	if err != nil {
		t.Fatal(err)
	}
	trained := NewTrainedPacks(packs, state, time.Minute, zap.NewNop(), nil)
	at := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	fix := newPackCorrection("telecom@1", router.Correction{Complaint: "api:c1", Case: "TS1", Text: "信号差", Category: "网络质量", Agent: "1001", At: at})
	later := fix
	later.Category, later.At = "服务问题", at.Add(time.Hour)
	msg := func(v any) bus.Message {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return bus.Message{Topic: bus.TopicCorrections, Key: []byte("k"), Value: b}
	}
	withV := func(c packCorrection, v int) packCorrection { c.V = v; return c }
	noCase := fix
	noCase.Case = ""
	steps := []struct {
		name     string
		m        bus.Message
		rejected bool
		retrain  bool   // whether the packs are told to retrain
		stored   string // the category stored for TS1 afterwards
	}{
		{"first", msg(fix), false, true, "网络质量"},
		{"again: nothing changes", msg(fix), false, false, "网络质量"},
		{"later correction replaces it", msg(later), false, true, "服务问题"},
		{"not JSON", bus.Message{Topic: bus.TopicCorrections, Value: []byte("{")}, true, false, "服务问题"},
		{"other version", msg(withV(fix, 2)), true, false, "服务问题"},
		{"no case", msg(noCase), true, false, "服务问题"},
		{"no pack", msg(map[string]any{"v": 1, "case": "TS2", "category": "x"}), true, false, "服务问题"},
	}
	for _, s := range steps {
		trained.dirty.Store(false)
		err := trained.FollowCorrection(context.Background(), s.m)
		if s.rejected != bus.IsRejected(err) || (!s.rejected && err != nil) {
			t.Errorf("%s: error %v, want rejected=%v", s.name, err, s.rejected)
		}
		if got := trained.dirty.Load(); got != s.retrain {
			t.Errorf("%s: retrain requested %v, want %v", s.name, got, s.retrain)
		}
		stored, err := state.Corrections()
		if err != nil {
			t.Fatal(err)
		}
		if cs := stored["telecom@1"]; len(cs) != 1 || cs[0].Category != s.stored || len(stored) != 1 {
			t.Errorf("%s: stored %+v, want one correction of TS1 to %s", s.name, stored, s.stored)
		}
	}
}

// TestGradeAndValidityCorrectionsStored: a regrade and a revalidate of a
// case become corrections of their own field beside its category
// correction, reach the router's state through policy.corrections, and
// are learnt at the next retraining.
func TestGradeAndValidityCorrectionsStored(t *testing.T) {
	ctx := context.Background()
	cfg, producer := stagetest.StartBroker(t)
	packs, err := router.LoadPacks(router.PacksConfig{Packs: []router.PackRef{{Path: "builtin:telecom"}}}, ".")
	if err != nil {
		t.Fatal(err)
	}
	r := startRouterInstance(t, cfg, producer, packs, t.TempDir())
	c := stagetest.Complaint(800, 1, "小区宽带又断了，第三次了，你们到底管不管，这次必须给个说法", 0)
	if err := r.stage.Handle(ctx, stagetest.MessageOf(t, c)); err != nil {
		t.Fatal(err)
	}
	cs, ok, err := r.state.Case(c.Reference)
	if err != nil || !ok {
		t.Fatalf("no case for %s: %v", c.Reference, err)
	}
	no := false
	for _, a := range []router.Action{
		{Kind: router.ActionRegrade, ID: "g1", Grade: "重大", Note: "客户说要找电视台"},
		{Kind: router.ActionRevalidate, ID: "v1", Valid: &no, Note: "重复来电，已在另一工单处理"},
	} {
		a.V, a.Case, a.Customer, a.Actor, a.At = router.ActionVersion, cs.ID, cs.Customer.Key, "1001", time.Now().UTC()
		if err := r.stage.Handle(ctx, bus.Message{Topic: bus.TopicActions, Key: []byte(a.Customer), Value: stagetest.MustJSON(t, a)}); err != nil {
			t.Fatalf("%s: %v", a.Kind, err)
		}
	}
	r.recategorize(t, cs, "c1", "网络问题")
	var stored []router.Correction
	polltest.Until(t, "three corrections stored", func() bool {
		all, err := r.state.Corrections()
		if err != nil {
			t.Fatal(err)
		}
		stored = all[cs.Pack]
		return len(stored) == 3
	})
	fields := map[string]string{}
	for _, c := range stored {
		fields[c.Field] = c.Category + c.Value
	}
	if want := map[string]string{"": "网络问题", router.FieldGrade: "重大", router.FieldValidity: router.ValidityInvalid}; !maps.Equal(fields, want) {
		t.Errorf("stored corrections by field %v, want %v", fields, want)
	}
	if err := r.trained.Retrain(); err != nil {
		t.Fatal(err)
	}
	rep := r.trained.ByName(cs.Pack).ModelReport()
	if rep.Corrections != 1 || rep.Recalled[router.FieldGrade] != 1 || rep.Recalled[router.FieldValidity] != 1 {
		t.Errorf("report %+v, want 1 category correction and 1 each of grade and validity recalled", rep)
	}
}

// TestReadCorrections: `tousu policy train` reads a stopped router's
// corrections by pack without changing the file, and is told while a
// router holds it.
func TestReadCorrections(t *testing.T) {
	path := filepath.Join(t.TempDir(), "router-history.db")
	state, err := OpenHistory(path, stagetest.DedupeConfig(t, nil), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	for _, c := range []packCorrection{
		newPackCorrection("telecom@2026.1", router.Correction{Complaint: "api:c1", Case: "TS1", Text: "宽带账单多了调测费68元", Category: "费用问题", Agent: "1001", At: at}),
		newPackCorrection("telecom@2026.1", router.Correction{Complaint: "api:c2", Case: "TS2", Text: "营业员态度差", Field: router.FieldGrade, Value: "一般", Agent: "1001", At: at}),
		newPackCorrection("property@2026.1", router.Correction{Complaint: "api:c3", Case: "TS3", Text: "电梯又坏了", Category: "设施设备", Agent: "2002", At: at}),
	} {
		if _, err := state.storeCorrection(c); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ReadCorrections(path); err == nil {
		t.Error("read a file a router holds")
	}
	if err := state.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := ReadCorrections(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got["telecom@2026.1"]) != 2 || len(got["property@2026.1"]) != 1 {
		t.Fatalf("corrections by pack: %v", got)
	}
	rows := router.CorrectionRows(got["telecom@2026.1"])
	if len(rows) != 1 || rows[0].Label != "费用问题" || rows[0].Text != "宽带账单多了调测费68元" {
		t.Errorf("training rows of telecom's corrections: %+v", rows)
	}
}
