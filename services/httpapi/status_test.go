package httpapi

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/normalize"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/sinks/bleveindex"
	"github.com/tousu/tousu/sinks/caseindex/caseindextest"
)

// TestStatusLookupKeepsIssuedReferences checks that references issued
// before they were keyed stay valid: the status page finds a case by the
// reference stored on it, however it was derived, including the keyed
// reference of a later complaint joined to an old case.
func TestStatusLookupKeepsIssuedReferences(t *testing.T) {
	idx, err := bleveindex.Open(bleveindex.Config{Path: filepath.Join(t.TempDir(), "cases.bleve")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	refs := ingest.NewReferences([]byte("the installation's reference key"))
	oldID, newID, laterID := ingest.NewID(ingest.ChannelHotline, "hotline", "GD001"), ingest.NewID(ingest.ChannelHotline, "hotline", "GD002"), ingest.NewID(ingest.ChannelHotline, "hotline", "GD003")
	old := ingest.ReferenceFor(oldID) // as issued before the upgrade
	issued := map[string]string{
		"issued before the upgrade":           old,
		"issued after":                        refs.For(newID),
		"a later complaint joined to the old": refs.For(laterID),
	}
	cases := []router.Case{
		caseindextest.NewCase(t, old, func(c *router.Case) {
			c.References, c.Complaints = []string{old, issued["a later complaint joined to the old"]}, []string{oldID, laterID}
		}),
		caseindextest.NewCase(t, issued["issued after"], func(c *router.Case) {
			c.References, c.Complaints = []string{issued["issued after"]}, []string{newID}
		}),
	}
	if err := idx.Upsert(context.Background(), cases); err != nil {
		t.Fatal(err)
	}
	lookup := StatusLookup{Index: idx}
	for name, ref := range issued {
		t.Run(name, func(t *testing.T) {
			cs, err := lookup.LookupStatus(context.Background(), ref)
			if err != nil || cs.Reference != ref || cs.Phone != "+8613800138000" {
				t.Fatalf("LookupStatus(%s) = %+v, %v", ref, cs, err)
			}
		})
	}
}

// TestStatusLookupShowsWhatTheCustomerMaySee follows a telecom case
// through a real Bleve index: the customer is told the 答复用户 deadline,
// never the internal 核对客户资料 clock; the result only when the agent
// marked it; a survey token once resolved; and the appeal to 12300.
func TestStatusLookupShowsWhatTheCustomerMaySee(t *testing.T) {
	eng, err := router.LoadEngine("builtin:telecom")
	if err != nil {
		t.Fatal(err)
	}
	cst := time.FixedZone("CST", 8*3600)
	received := time.Date(2026, 12, 1, 9, 30, 0, 0, cst)
	complaint := normalize.Complaint{V: 1, ID: "webform:s1", Reference: "TS3K9QW2M7PX", Channel: ingest.ChannelWebForm, ReceivedAt: received,
		Subject:     "投诉宽带断网",
		Description: "我家宽带从11月30号晚上开始断网，打10000号报修三次都说48小时内上门，到现在没人来！！要求赔偿并尽快修好。",
		Customer:    normalize.Customer{Name: "王女士", Phone: "+8613912340001", Key: "phone:+8613912340001"}}
	c0 := eng.Open(complaint, received)
	step := func(c router.Case, id string, kind router.ActionKind, at time.Time, note string, visible bool) router.Case {
		t.Helper()
		a := router.Action{V: router.ActionVersion, ID: id, Case: c.ID, Customer: c.Customer.Key, Kind: kind, Actor: "1001", At: at, Note: note, CustomerVisible: visible}
		out, _, _, err := eng.Apply(c, a)
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		out.Revision = c.Revision + 1
		return out
	}
	taken := step(c0, "a1", router.ActionTake, received.Add(20*time.Minute), "", false)
	replied := step(taken, "a2", router.ActionReply, received.Add(26*time.Hour), "王女士您好，装维师傅已约好12月2日下午上门。", false)
	internal := step(replied, "a3", router.ActionResolve, received.Add(50*time.Hour), "光缆被挖断，已熔接；客户情绪激动，未承诺赔偿", false)
	visible := step(replied, "a3", router.ActionResolve, received.Add(50*time.Hour), "经查系小区光缆被施工挖断，已于12月3日熔接修复；减免12月宽带月租30元。", true)
	key := []byte("survey key of the installation..")
	now := received.Add(51 * time.Hour)
	tests := []struct {
		name     string
		c        router.Case
		engine   bool
		status   string
		deadline string
		result   string
		survey   bool
	}{
		{"received", c0, true, "已受理", "答复用户：2026年12月22日前", "", false},
		{"answered", replied, true, "已答复", "答复用户：2026年12月22日前（已按时完成）", "", false},
		{"resolved, result internal", internal, true, "已办结", "答复用户：2026年12月22日前（已按时完成）", "", true},
		{"resolved, result visible", visible, true, "已办结", "答复用户：2026年12月22日前（已按时完成）", "经查系小区光缆被施工挖断，已于12月3日熔接修复；减免12月宽带月租30元。", true},
		{"pack no longer loaded", c0, false, "已受理", "答复用户：2026年12月22日前", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			idx := indexOf(t, tt.c)
			lookup := StatusLookup{Index: idx, Surveys: SurveyBook{Key: key, Now: func() time.Time { return now }}}
			if tt.engine {
				lookup.Engine = func(name string) *router.Engine {
					if name == eng.Name() {
						return eng
					}
					return nil
				}
			}
			cs, err := lookup.LookupStatus(context.Background(), "TS3K9QW2M7PX")
			if err != nil {
				t.Fatal(err)
			}
			if cs.Status != tt.status || cs.Deadline != tt.deadline || cs.Result != tt.result || (cs.Survey != "") != tt.survey {
				t.Errorf("status %q deadline %q result %q survey %v\nwant %q %q %q %v", cs.Status, cs.Deadline, cs.Result, cs.Survey != "",
					tt.status, tt.deadline, tt.result, tt.survey)
			}
			if strings.Contains(cs.Deadline, "核对客户资料") || strings.Contains(cs.Result, "客户情绪激动") {
				t.Errorf("internal clock or note shown: %+v", cs)
			}
			if tt.engine != strings.Contains(cs.Appeal, "12300") {
				t.Errorf("appeal = %q", cs.Appeal)
			}
			if len(cs.Steps) != 5 || !cs.Steps[0].At.Equal(received) {
				t.Errorf("steps = %+v", cs.Steps)
			}
			if cs.Survey != "" {
				s, err := router.OpenSurvey(key, cs.Survey, now)
				if err != nil || s.Case != tt.c.ID || s.Revision != tt.c.Revision {
					t.Errorf("survey token = %+v, %v", s, err)
				}
			}
		})
	}
}

// TestResolveCustomerVisible checks the API's customer_visible field: a
// resolve carries it to the action; any other kind is refused with it.
func TestResolveCustomerVisible(t *testing.T) {
	const agent = "agent-token-0123456789"
	held := func(c *router.Case) {
		c.Status, c.Route.Owner, c.Assignee = router.StatusInProgress, "agent1", "agent1"
	}
	for _, tt := range []struct {
		name    string
		body    map[string]any
		want    int
		visible bool
	}{
		{"resolve, told to the customer", map[string]any{"kind": "resolve", "note": "已为您更换光猫，线路测试正常。", "customer_visible": true}, http.StatusAccepted, true},
		{"resolve, kept internal", map[string]any{"kind": "resolve", "note": "光猫老化，客户嫌上门慢"}, http.StatusAccepted, false},
		{"a note cannot be shown", map[string]any{"kind": "note", "note": "客户说要去工信部投诉", "customer_visible": true}, http.StatusUnprocessableEntity, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			as := newActServer(t, held)
			code, out := as.request(t, http.MethodPost, "/api/v1/cases/TS1/actions", agent, tt.body)
			if code != tt.want {
				t.Fatalf("status %d, want %d (%v)", code, tt.want, out)
			}
			if code == http.StatusAccepted && (len(as.published) != 1 || as.published[0].CustomerVisible != tt.visible) {
				t.Errorf("published %+v, want customer_visible %v", as.published, tt.visible)
			}
			if code != http.StatusAccepted && (out["field"] != "customer_visible" || len(as.published) != 0) {
				t.Errorf("answer %v, published %+v", out, as.published)
			}
		})
	}
}

// TestStatusShowsExtensionAndPause: the status page tells the customer the
// extended date of the clock they are told (insurance's 作出处理决定) and
// that it waits for their documents while paused.
func TestStatusShowsExtensionAndPause(t *testing.T) {
	eng, err := router.LoadEngine("builtin:insurance")
	if err != nil {
		t.Fatal(err)
	}
	cst := time.FixedZone("CST", 8*3600)
	received := time.Date(2026, 3, 10, 11, 20, 0, 0, cst)
	c0 := eng.Open(normalize.Complaint{V: 1, ID: "webform:s2", Reference: "TS7XK2M9Q4WP", Channel: ingest.ChannelWebForm, ReceivedAt: received,
		Description: "3月2号车被追尾，定损员只给两千八，4S店报价六千三，差价让我自己掏？要求重新定损",
		Customer:    normalize.Customer{Name: "赵先生", Phone: "+8613912340009", Key: "phone:+8613912340009"}}, received)
	step := func(c router.Case, a router.Action) router.Case {
		t.Helper()
		a.V, a.Case, a.Customer, a.Actor = router.ActionVersion, c.ID, c.Customer.Key, "主管王"
		out, _, _, err := eng.Apply(c, a)
		if err != nil {
			t.Fatalf("%s: %v", a.Kind, err)
		}
		out.Revision = c.Revision + 1
		return out
	}
	extended := step(c0, router.Action{ID: "x1", Kind: router.ActionExtend, At: received.Add(24 * time.Hour), Clock: "decide", Amount: 20, Note: "需第三方公估", Override: true})
	paused := step(extended, router.Action{ID: "p1", Kind: router.ActionPause, At: received.Add(48 * time.Hour), Clock: "decide", Note: "等客户补交维修发票"})
	for _, tt := range []struct {
		name     string
		c        router.Case
		deadline string
	}{
		{"received", c0, "作出处理决定：2026年4月9日前"},
		{"extended by 20 days", extended, "作出处理决定：2026年4月29日前（已延期）"},
		{"paused", paused, "作出处理决定：2026年4月29日前（已延期）（等待您补充材料，暂停计时，材料补齐后顺延）"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			idx := indexOf(t, tt.c)
			lookup := StatusLookup{Index: idx, Engine: func(string) *router.Engine { return eng }}
			cs, err := lookup.LookupStatus(context.Background(), "TS7XK2M9Q4WP")
			if err != nil {
				t.Fatal(err)
			}
			if cs.Deadline != tt.deadline {
				t.Errorf("deadline %q, want %q", cs.Deadline, tt.deadline)
			}
		})
	}
}

// indexOf is a Bleve index holding the cases, closed when the test ends.
func indexOf(tb testing.TB, cases ...router.Case) *bleveindex.Index {
	tb.Helper()
	idx, err := bleveindex.Open(bleveindex.Config{Path: filepath.Join(tb.TempDir(), "cases.bleve")}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { idx.Close() })
	if err := idx.Upsert(context.Background(), cases); err != nil {
		tb.Fatal(err)
	}
	return idx
}
