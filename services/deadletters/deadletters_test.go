package deadletters

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tousu/tousu/internal/polltest"
	"github.com/tousu/tousu/services/bus"
	"github.com/tousu/tousu/services/bus/bustest"
	"github.com/tousu/tousu/services/ledger"
	"github.com/tousu/tousu/services/stages/stagetest"
)

var now = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)

// The dead letters of the tests, as the stages write them.
var (
	badVersion = bus.DeadLetter{V: bus.DeadLetterVersion, Topic: bus.TopicRaw, Partition: 2, Offset: 118, Key: []byte("+8613912345678"),
		Reason:   "invalid envelope: schema version 2, want 1",
		Original: []byte(`{"v":2,"id":"webform:7f3a","description":"12月3日装的宽带 天天掉线，联系电话13912345678，身份证110101199003071233"}`),
		At:       now.Add(-3 * time.Hour), Group: "tousu-normalizer", Headers: map[string]string{"trace": "a1"}}
	notJSON = bus.DeadLetter{V: bus.DeadLetterVersion, Topic: bus.TopicRaw, Partition: 0, Offset: 9, Key: []byte("k"),
		Reason: "decode complaints.raw payload: invalid character 'o' in literal null (expecting 'u')", Original: []byte("not json"),
		At: now.Add(-2 * time.Hour), Group: "tousu-normalizer"}
	refusedAction = bus.DeadLetter{V: bus.DeadLetterVersion, Topic: bus.TopicActions, Partition: 1, Offset: 40, Key: []byte("+8613800138000"),
		Reason:   "case TS20261203-0042 is not in this router's state: unknown, or finished and forgotten",
		Original: []byte(`{"v":1,"id":"api:9","kind":"note","note":"已电话联系 客户说明天再来电 zhang.san@example.com"}`),
		At:       now.Add(-time.Hour), Group: "tousu-router"}
	// quarantined is a mail in GBK the IMAP reader could not read: no
	// topic of origin, bytes that are not UTF-8.
	quarantined = bus.DeadLetter{V: bus.DeadLetterVersion, Source: "imap:support", Key: []byte("imap:support:7:311"),
		Reason: "邮件无正文", Original: []byte("Subject: \xcd\xb6\xcb\xdf\r\n\r\n"), At: now.Add(-30 * time.Minute)}
)

// record is dl as the follower reads it at partition and offset of
// complaints.dlq.
func record(tb testing.TB, dl bus.DeadLetter, partition int, offset int64) bus.Message {
	tb.Helper()
	v, err := json.Marshal(dl)
	if err != nil {
		tb.Fatal(err)
	}
	return bus.Message{Topic: bus.TopicDLQ, Partition: partition, Offset: offset, Key: dl.Key, Value: v, Time: dl.At}
}

func newStore(tb testing.TB, cfg Config, letters ...bus.DeadLetter) (*Store, *stagetest.RecordingWriter) {
	tb.Helper()
	marks := ledger.New(func(context.Context, ...bus.Message) error { return nil }, "dlq.test", ledger.Retention)
	marks.CaughtUp()
	cfg.Provision()
	w := &stagetest.RecordingWriter{}
	s := New(cfg, w.Write, marks)
	s.now = func() time.Time { return now }
	for i, dl := range letters {
		if err := s.Follow(context.Background(), record(tb, dl, 0, int64(i))); err != nil {
			tb.Fatal(err)
		}
	}
	return s, w
}

func TestReasonClass(t *testing.T) {
	tests := []struct{ reason, want string }{
		{"invalid envelope: schema version 2, want 1", "invalid envelope"},
		{"complaints.raw payload has schema version 3, want 1", "complaints.raw payload has schema version N, want N"},
		{"case TS20261203-0042 is not in this router's state: unknown", "case TSN-N is not in this router's state"},
		{"邮件无正文", "邮件无正文"},
		{"", "（无原因）"},
		{strings.Repeat("原因", 50), strings.Repeat("原因", 40) + "…"},
	}
	for _, tt := range tests {
		if got := ReasonClass(tt.reason); got != tt.want {
			t.Errorf("ReasonClass(%q) = %q, want %q", tt.reason, got, tt.want)
		}
	}
}

func TestFilterMatches(t *testing.T) {
	tests := []struct {
		name   string
		filter Filter
		letter bus.DeadLetter
		want   bool
	}{
		{"no filter", Filter{}, quarantined, true},
		{"by topic of origin", Filter{Source: bus.TopicRaw}, badVersion, true},
		{"another topic", Filter{Source: bus.TopicRaw}, refusedAction, false},
		{"by intake source", Filter{Source: "imap:support"}, quarantined, true},
		{"by reason class", Filter{Reason: "invalid envelope"}, badVersion, true},
		{"by part of the reason", Filter{Reason: "TS20261203-0042"}, refusedAction, true},
		{"source and another reason", Filter{Source: bus.TopicRaw, Reason: "邮件"}, badVersion, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.filter.Matches(Entry{DeadLetter: tt.letter}); got != tt.want {
				t.Errorf("%+v.Matches(%s) = %v, want %v", tt.filter, tt.letter.Reason, got, tt.want)
			}
		})
	}
}

func TestMaskedPayload(t *testing.T) {
	tests := []struct {
		name    string
		letter  bus.DeadLetter
		hidden  []string
		present []string
	}{
		{"phone and ID number", badVersion, []string{"13912345678", "110101199003071233"}, []string{"12月3日装的宽带"}},
		{"e-mail address", refusedAction, []string{"zhang.san@"}, []string{"已电话联系"}},
		{"bytes in GBK", quarantined, nil, []string{"Subject: ", "\uFFFD"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := Entry{DeadLetter: tt.letter}
			got := e.MaskedPayload()
			for _, h := range tt.hidden {
				if strings.Contains(got, h) {
					t.Errorf("masked payload %q shows %q", got, h)
				}
			}
			for _, p := range tt.present {
				if !strings.Contains(got, p) {
					t.Errorf("masked payload %q lacks %q", got, p)
				}
			}
		})
	}
	if x := (Entry{DeadLetter: badVersion}).MaskedExcerpt(63); strings.Contains(x, "139") || !strings.HasSuffix(x, "…") {
		t.Errorf("excerpt %q, want it cut before the phone number's first digits", x)
	}
	if k := (Entry{DeadLetter: badVersion}).MaskedKey(); strings.Contains(k, "12345678") {
		t.Errorf("masked key %q shows the phone number", k)
	}
}

// TestListCounts lists newest first with counts by source and reason,
// filtered and limited.
func TestListCounts(t *testing.T) {
	s, _ := newStore(t, Config{}, badVersion, notJSON, refusedAction, quarantined)
	p := s.List(Filter{}, 2)
	if got := ids(p.Entries); !slices.Equal(got, []string{"0-3", "0-2"}) || p.Matching != 4 || p.Total != 4 || p.Kept != 4 {
		t.Errorf("List limit 2 = %v, matching %d, total %d, kept %d; want the two newest of 4", got, p.Matching, p.Total, p.Kept)
	}
	if p.BySource[bus.TopicRaw] != 2 || p.BySource[bus.TopicActions] != 1 || p.BySource["imap:support"] != 1 {
		t.Errorf("by source %v", p.BySource)
	}
	if p.ByReason["invalid envelope"] != 1 || p.ByReason["decode complaints.raw payload"] != 1 {
		t.Errorf("by reason %v", p.ByReason)
	}
	p = s.List(Filter{Source: bus.TopicRaw}, 0)
	if got := ids(p.Entries); !slices.Equal(got, []string{"0-1", "0-0"}) || p.Matching != 2 {
		t.Errorf("List source %s = %v", bus.TopicRaw, got)
	}
}

// TestBounded keeps the newest entries within both bounds and goes on
// counting the ones it drops.
func TestBounded(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"by entries", Config{MaxEntries: 2}, []string{"0-3", "0-2"}},
		{"by bytes", Config{MaxBytes: int64(len(refusedAction.Original) + len(quarantined.Original))}, []string{"0-3", "0-2"}},
		{"within both", Config{MaxEntries: 10}, []string{"0-3", "0-2", "0-1", "0-0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newStore(t, tt.cfg, badVersion, notJSON, refusedAction, quarantined)
			p := s.List(Filter{}, 0)
			if got := ids(p.Entries); !slices.Equal(got, tt.want) || p.Total != 4 || p.BySource[bus.TopicRaw] != 2 {
				t.Errorf("kept %v, total %d, by source %v; want %v of 4 counted", got, p.Total, p.BySource, tt.want)
			}
			if _, ok := s.Get("0-0"); ok != slices.Contains(tt.want, "0-0") {
				t.Errorf("Get of the oldest: %v", ok)
			}
		})
	}
}

// TestFollowOnce keeps a dead letter read again once, and an unreadable
// record with a reason saying so.
func TestFollowOnce(t *testing.T) {
	s, _ := newStore(t, Config{})
	for range 2 {
		if err := s.Follow(context.Background(), record(t, badVersion, 1, 5)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Follow(context.Background(), bus.Message{Topic: bus.TopicDLQ, Partition: 1, Offset: 6, Value: []byte("{乱码"), Time: now}); err != nil {
		t.Fatal(err)
	}
	p := s.List(Filter{}, 0)
	if p.Total != 2 || !strings.HasPrefix(p.Entries[0].DeadLetter.Reason, "死信无法解析") {
		t.Errorf("total %d, entries %+v; want the dead letter once and the unreadable record", p.Total, p.Entries)
	}
}

// TestReplay writes the original back to its topic with its key, headers
// and the replay header; a second replay sends nothing; entries without
// a topic or cut short are refused.
func TestReplay(t *testing.T) {
	truncated := notJSON
	truncated.Truncated = true
	s, w := newStore(t, Config{}, badVersion, truncated, quarantined)
	ctx := context.Background()
	out, err := s.Replay(ctx, "ops-liu", []string{"0-0", "0-1", "0-2", "0-99"})
	if err != nil {
		t.Fatal(err)
	}
	if got := statuses(out); !slices.Equal(got, []string{StatusReplayed, StatusRefused, StatusRefused, StatusUnknown}) {
		t.Fatalf("statuses %v", got)
	}
	if len(w.Msgs) != 1 {
		t.Fatalf("wrote %d records, want 1", len(w.Msgs))
	}
	m := w.Msgs[0]
	if m.Topic != bus.TopicRaw || string(m.Key) != string(badVersion.Key) || string(m.Value) != string(badVersion.Original) ||
		m.Headers[HeaderReplayOf] != "0-0" || m.Headers["trace"] != "a1" {
		t.Errorf("replayed %+v, want the original on its topic with its headers and %s", m, HeaderReplayOf)
	}
	if e, _ := s.Get("0-0"); e.Replayed == nil || e.Replayed.By != "ops-liu" || !e.Replayed.At.Equal(now) {
		t.Errorf("entry replayed %+v, want by ops-liu at %v", e.Replayed, now)
	}
	out, _ = s.Replay(ctx, "ops-wang", []string{"0-0"})
	if out[0].Status != StatusAlready || out[0].Replay.By != "ops-liu" || len(w.Msgs) != 1 {
		t.Errorf("second replay %+v, %d records; want already by ops-liu and nothing sent", out[0], len(w.Msgs))
	}
	if _, err := s.Replay(ctx, "ops-liu", make([]string, MaxReplay+1)); !errors.Is(err, ErrTooMany) {
		t.Errorf("replay of %d: %v", MaxReplay+1, err)
	}
}

// TestReplayFailedMayBeRetried leaves an entry whose write failed
// unmarked, so it can be replayed again.
func TestReplayFailedMayBeRetried(t *testing.T) {
	s, w := newStore(t, Config{}, badVersion)
	w.Fail = errors.New("broker unreachable")
	out, _ := s.Replay(context.Background(), "ops-liu", []string{"0-0"})
	if out[0].Status != StatusFailed {
		t.Fatalf("status %s, want failed", out[0].Status)
	}
	w.Fail = nil
	out, _ = s.Replay(context.Background(), "ops-liu", []string{"0-0"})
	if out[0].Status != StatusReplayed || len(w.Msgs) != 1 {
		t.Errorf("retry %+v, %d records", out[0], len(w.Msgs))
	}
}

// TestSelect selects the replayable entries a filter matches that were
// not replayed, oldest first.
func TestSelect(t *testing.T) {
	second := badVersion
	second.At = now.Add(-10 * time.Minute)
	s, _ := newStore(t, Config{}, badVersion, notJSON, quarantined, second)
	if got := s.Select(Filter{Source: bus.TopicRaw}); !slices.Equal(got, []string{"0-0", "0-1", "0-3"}) {
		t.Errorf("Select = %v", got)
	}
	if _, err := s.Replay(context.Background(), "ops-liu", []string{"0-0"}); err != nil {
		t.Fatal(err)
	}
	if got := s.Select(Filter{Reason: "invalid envelope"}); !slices.Equal(got, []string{"0-3"}) {
		t.Errorf("Select after a replay = %v", got)
	}
}

// TestReplayedOnEveryReplica replays on one console replica: the other
// shows the entry replayed and refuses to send it again.
func TestReplayedOnEveryReplica(t *testing.T) {
	bustest.OnBrokers(t, func(t *testing.T, cfg bus.Config) {
		dlq, marks, origin := bustest.CreateTopic(t, cfg, 2), bustest.CreateTopic(t, cfg, 2), bustest.CreateTopic(t, cfg, 1)
		p := bustest.NewProducer(t, cfg)
		replica := func() *Store {
			l := ledger.New(p.Write, marks, ledger.Retention)
			bustest.StartFollower(t, cfg, bus.FollowerConfig{Topic: marks, CaughtUp: l.CaughtUp}, l.Follow, nil)
			var c Config
			c.Provision()
			s := New(c, p.Write, l)
			bustest.StartFollower(t, cfg, bus.FollowerConfig{Topic: dlq}, s.Follow, nil)
			return s
		}
		a, b := replica(), replica()
		dl := badVersion
		dl.Topic = origin
		v, err := json.Marshal(dl)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Write(context.Background(), bus.Message{Topic: dlq, Key: dl.Key, Value: v}); err != nil {
			t.Fatal(err)
		}
		polltest.Until(t, "both replicas follow the dead letter", func() bool { return a.List(Filter{}, 0).Kept == 1 && b.List(Filter{}, 0).Kept == 1 })
		id := a.List(Filter{}, 0).Entries[0].ID
		if out, _ := a.Replay(context.Background(), "ops-liu", []string{id}); out[0].Status != StatusReplayed {
			t.Fatalf("replay on a: %+v", out[0])
		}
		polltest.Until(t, "the other replica learns the replay", func() bool { e, _ := b.Get(id); return e.Replayed != nil })
		if out, _ := b.Replay(context.Background(), "ops-wang", []string{id}); out[0].Status != StatusAlready {
			t.Errorf("replay on b: %+v, want already", out[0])
		}
		var mu sync.Mutex
		var got []bus.Message
		bustest.StartFollower(t, cfg, bus.FollowerConfig{Topic: origin}, func(_ context.Context, m bus.Message) error {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, m)
			return nil
		}, nil)
		polltest.Until(t, "the replay reaches its topic", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) > 0 })
		mu.Lock()
		defer mu.Unlock()
		if len(got) != 1 || got[0].Headers[HeaderReplayOf] != id {
			t.Errorf("%s holds %d records, want the one replay marked %s", origin, len(got), id)
		}
	})
}

func ids(entries []Entry) []string {
	var out []string
	for _, e := range entries {
		out = append(out, e.ID)
	}
	return out
}

func statuses(out []Outcome) []string {
	var s []string
	for _, o := range out {
		s = append(s, o.Status)
	}
	return s
}

func TestConfigValidate(t *testing.T) {
	if err := (Config{MaxEntries: -1, MaxBytes: -1}).Validate(); err == nil || !strings.Contains(err.Error(), "max_entries:") || !strings.Contains(err.Error(), "max_bytes:") {
		t.Errorf("Validate = %v, want both keys named", err)
	}
	var c Config
	c.Provision()
	if c.MaxEntries != DefaultMaxEntries || c.MaxBytes != DefaultMaxBytes || c.Validate() != nil {
		t.Errorf("provisioned %+v", c)
	}
}

// TestReasonLabel: the reason classes the stages write read in Chinese;
// a class in Chinese already stays; an unknown one is 其他原因.
func TestReasonLabel(t *testing.T) {
	for _, tt := range []struct{ reason, want string }{
		{"invalid envelope: schema version 9, want 1", "投诉记录不合规（版本不对，或缺少编号、内容）"},
		{"decode complaints.raw payload: unexpected end of JSON input", "记录无法解析（不是有效的 JSON 或格式不对）"},
		{"handler panic: runtime error: index out of range [3] with length 3", "处理程序出错（程序缺陷，请联系开发人员）"},
		{"write cases: [10] Message Size Too Large: the server has a configurable maximum message size", "记录过大，消息队列拒收"},
		{"outbox 记录缺少 id、case 或 customer", "outbox 记录缺少 id、case 或 customer"},
		{"something new: 42", "其他原因"},
	} {
		if got := ReasonLabel(tt.reason); got != tt.want {
			t.Errorf("ReasonLabel(%q) = %q, want %q", tt.reason, got, tt.want)
		}
	}
}

// TestSummaryNamesTheReplayItFailed: a replay that failed again says which
// dead letter it replayed; a first failure names none.
func TestSummaryNamesTheReplayItFailed(t *testing.T) {
	again := badVersion
	again.Headers = map[string]string{HeaderReplayOf: "5-0", "x-source": "webform"}
	for _, tt := range []struct {
		letter bus.DeadLetter
		want   string
	}{{badVersion, ""}, {again, "5-0"}} {
		if got := (Entry{ID: "5-1", DeadLetter: tt.letter}).Summary().ReplayOf; got != tt.want {
			t.Errorf("ReplayOf = %q, want %q", got, tt.want)
		}
	}
}
