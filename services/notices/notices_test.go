package notices

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/tousu/tousu/internal/polltest"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/services/bus"
	"github.com/tousu/tousu/services/bus/bustest"
	"github.com/tousu/tousu/services/ledger"
)

var now = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)

// The notices of the tests: an urge to 网络部's 王芳, an escalation of a
// 计费部 case, a batch incident.
var (
	urge = router.Notice{V: router.NoticeVersion, ID: "urge:TS1:c2", Kind: router.NoticeUrge, At: now.Add(-3 * time.Hour),
		Case: "TS1", Route: router.Route{Department: "网络部", Owner: "wangfang"}, Category: "网络质量", Excerpt: "手机信号差了三天，又来投诉"}
	escalation = router.Notice{V: router.NoticeVersion, ID: "escalation:TS2:time_limit:breach", Kind: router.NoticeEscalation, At: now.Add(-2 * time.Hour),
		Case: "TS2", Route: router.Route{Department: "计费部"}, Level: 2, Step: "breach", Notify: []string{"部门负责人"}, Category: "资费争议"}
	batch = router.Notice{V: router.NoticeVersion, ID: "batch:B1", Kind: router.NoticeBatch, At: now.Add(-time.Hour),
		Batch: "B1", Cases: []string{"TS3", "TS4", "TS5"}, Customers: 3, Category: "网络质量"}
)

func TestConcerns(t *testing.T) {
	agent := Reader{Name: "lisi", Departments: []string{"网络部"}}
	tests := []struct {
		name   string
		reader Reader
		notice router.Notice
		want   bool
	}{
		{"a supervisor every urge", Reader{Name: "zhaomin", All: true}, urge, true},
		{"a supervisor every batch", Reader{Name: "zhaomin", All: true}, batch, true},
		{"an agent of the department its urges", agent, urge, true},
		{"an agent not another department's escalations", agent, escalation, false},
		{"an agent no batch", agent, batch, false},
		{"the owner, of another department", Reader{Name: "wangfang", Departments: []string{"客服部"}}, urge, true},
		{"nobody without a name", Reader{Departments: []string{"网络部"}}, urge, false},
		{"a case without department not every agent", Reader{Name: "lisi", Departments: []string{""}}, router.Notice{Kind: router.NoticeUrge}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Concerns(tt.reader, tt.notice); got != tt.want {
				t.Fatalf("Concerns = %v, want %v", got, tt.want)
			}
		})
	}
}

// follow hands the notices to s as followed records.
func follow(tb testing.TB, s *Store, ns ...router.Notice) {
	tb.Helper()
	for _, n := range ns {
		b, err := json.Marshal(n)
		if err != nil {
			tb.Fatal(err)
		}
		if err := s.Follow(context.Background(), bus.Message{Value: b}); err != nil {
			tb.Fatalf("Follow %s: %v", n.ID, err)
		}
	}
}

func newStore(tb testing.TB) *Store {
	tb.Helper()
	marks := ledger.New(func(context.Context, ...bus.Message) error { return nil }, "notices.test", ledger.Retention)
	marks.CaughtUp()
	s := New(marks)
	s.now = func() time.Time { return now }
	return s
}

func ids(items []Item) []string {
	var out []string
	for _, it := range items {
		out = append(out, fmt.Sprintf("%s read=%v", it.ID, it.Read))
	}
	return out
}

func TestStoreListsNewestFirstAndMarksRead(t *testing.T) {
	s := newStore(t)
	follow(t, s, urge, escalation, batch, urge) // the urge delivered twice
	sup := Reader{Name: "zhaomin", All: true}
	if got, want := fmt.Sprint(ids(s.For(sup))), "[batch:B1 read=false escalation:TS2:time_limit:breach read=false urge:TS1:c2 read=false]"; got != want {
		t.Fatalf("For(supervisor) = %s, want %s", got, want)
	}
	if n := s.Unread(sup); n != 3 {
		t.Fatalf("Unread = %d, want 3", n)
	}
	if err := s.MarkRead(context.Background(), sup, []string{escalation.ID, "no-such-notice"}); err != nil {
		t.Fatal(err)
	}
	if n := s.Unread(sup); n != 2 {
		t.Fatalf("Unread after marking one = %d, want 2", n)
	}
	agent := Reader{Name: "lisi", Departments: []string{"网络部"}}
	if n := s.Unread(agent); n != 1 {
		t.Fatalf("the agent's unread = %d, want 1 (their read state is their own)", n)
	}
	if err := s.MarkRead(context.Background(), sup, nil); err != nil {
		t.Fatal(err)
	}
	if n := s.Unread(sup); n != 0 {
		t.Fatalf("Unread after marking all = %d, want 0", n)
	}
}

func TestStoreRejectsAndBounds(t *testing.T) {
	s := newStore(t)
	for _, v := range []string{"not json", `{"v":9,"id":"x"}`, `{"v":1}`} {
		if err := s.Follow(context.Background(), bus.Message{Value: []byte(v)}); !bus.IsRejected(err) {
			t.Fatalf("Follow(%s) = %v, want a rejection", v, err)
		}
	}
	old := urge
	old.ID, old.At = "urge:old", now.Add(-Retention-time.Hour)
	follow(t, s, old)
	if got := s.For(Reader{All: true}); len(got) != 0 {
		t.Fatalf("a notice older than the retention was kept: %v", ids(got))
	}
	for i := range MaxNotices + 5 {
		n := urge
		n.ID, n.At = fmt.Sprintf("urge:%d", i), now.Add(-time.Duration(MaxNotices+5-i)*time.Second)
		follow(t, s, n)
	}
	// Beyond MaxNotices the oldest go, a tenth at once.
	got := s.For(Reader{All: true})
	oldest := MaxNotices + 5 - len(got)
	if len(got) > MaxNotices || len(got) < MaxNotices*9/10 || got[len(got)-1].ID != fmt.Sprintf("urge:%d", oldest) {
		t.Fatalf("kept %d notices, oldest %s; want %d to %d, the newest", len(got), got[len(got)-1].ID, MaxNotices*9/10, MaxNotices)
	}
	if n := s.Prune(now.Add(Retention - time.Duration(MaxNotices-oldest)*time.Second)); n != 5 {
		t.Fatalf("Prune dropped %d, want the 5 oldest", n)
	}
}

// TestReadOnEveryReplica follows the alerts topic and keeps read marks
// on the broker's ledger: a notice read on one console replica is read on
// the other.
func TestReadOnEveryReplica(t *testing.T) {
	bustest.OnBrokers(t, func(t *testing.T, cfg bus.Config) {
		alerts, marks := bustest.CreateTopic(t, cfg, 2), bustest.CreateTopic(t, cfg, 2)
		replica := func() *Store {
			l := ledger.New(bustest.NewProducer(t, cfg).Write, marks, ledger.Retention)
			bustest.StartFollower(t, cfg, bus.FollowerConfig{Topic: marks, CaughtUp: l.CaughtUp}, l.Follow, nil)
			s := New(l)
			bustest.StartFollower(t, cfg, bus.FollowerConfig{Topic: alerts}, s.Follow, nil)
			return s
		}
		a, b := replica(), replica()
		p := bustest.NewProducer(t, cfg)
		for _, n := range []router.Notice{urge, escalation, batch} {
			n.At = time.Now().Add(-time.Minute)
			v, err := json.Marshal(n)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Write(context.Background(), bus.Message{Topic: alerts, Key: []byte(n.ID), Value: v}); err != nil {
				t.Fatal(err)
			}
		}
		sup := Reader{Name: "zhaomin", All: true}
		polltest.Until(t, "both replicas follow the three notices", func() bool { return a.Unread(sup) == 3 && b.Unread(sup) == 3 })
		if err := a.MarkRead(context.Background(), sup, []string{urge.ID}); err != nil {
			t.Fatal(err)
		}
		polltest.Until(t, "the other replica learns the read mark", func() bool { return b.Unread(sup) == 2 })
	})
}
