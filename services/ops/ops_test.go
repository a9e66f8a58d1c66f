package ops

import (
	"context"
	"encoding/json"
	"maps"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/services/bus"
)

// at is 9 March 2026 at h:m, Beijing time.
func at(h, m int) time.Time {
	return time.Date(2026, 3, 9, h, m, 0, 0, time.FixedZone("CST", 8*3600))
}

// times are the times of messages, as hour and minute pairs.
func times(hm ...int) []time.Time {
	var out []time.Time
	for i := 0; i+1 < len(hm); i += 2 {
		out = append(out, at(hm[i], hm[i+1]))
	}
	return out
}

func TestSilent(t *testing.T) {
	tests := []struct {
		name   string
		recent []time.Time
		now    time.Time
		want   bool
	}{
		{"a hotline folder dropped every 10 min, quiet for 45 min", times(8, 0, 8, 10, 8, 20, 8, 30), at(9, 15), true},
		{"the same, quiet for 35 min: under 4 gaps", times(8, 0, 8, 10, 8, 20, 8, 30), at(9, 5), false},
		{"a busy web form every minute, quiet for 10 min: under the floor", times(9, 0, 9, 1, 9, 2, 9, 3, 9, 4), at(9, 14), false},
		{"the same, quiet for 16 min", times(9, 0, 9, 1, 9, 2, 9, 3, 9, 4), at(9, 20), true},
		{"three mails only: no rhythm yet", times(1, 0, 1, 5, 1, 10), at(23, 0), false},
		{"never a message", nil, at(23, 0), false},
		// One lull of 3 hours in a 5-minute rhythm does not make 4 hours
		// of quiet normal: the median gap stays 5 min.
		{"a lull does not move the rhythm", times(5, 0, 8, 0, 8, 5, 8, 10, 8, 15), at(9, 0), true},
		// A burst of three mails within a minute among hourly mail: the
		// median gap is still long.
		{"a burst does not shorten it", times(6, 0, 7, 0, 8, 0, 8, 0, 8, 1, 9, 0), at(10, 0), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Silent(tc.recent, tc.now); got != tc.want {
				t.Errorf("Silent = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestChannelsHealth(t *testing.T) {
	c := NewChannels(ChannelHealth{Kind: ingest.ChannelWebForm}, ChannelHealth{Kind: ingest.ChannelEmail, Name: "kefu-163"},
		ChannelHealth{Kind: ingest.ChannelHotline, Name: "rexian-12315"})
	// Yesterday evening's mail counts for the day only; this hour's for both.
	for _, ts := range times(0, 10, 0, 20, 9, 10, 9, 40) {
		c.Accepted(ingest.ChannelEmail, "kefu-163", ts)
	}
	c.Accepted(ingest.ChannelEmail, "kefu-163", at(9, 40).Add(-25*time.Hour)) // older than a day
	c.Quarantined(ingest.ChannelEmail, "kefu-163")
	c.Failed(ingest.ChannelHotline, "rexian-12315", "broker: not enough replicas")
	// Two files of bad rows, then one sent back whole: by class, in Errors.
	c.Refused(ingest.ChannelHotline, "rexian-12315", map[string]int{"字段“来电号码”有误": 3, "字段“投诉内容”有误": 1}, "文件 1205.csv 有 4 行被拒")
	c.Refused(ingest.ChannelHotline, "rexian-12315", map[string]int{"字段“来电号码”有误": 1}, "文件 1206.csv 有 1 行被拒")
	c.Refused(ingest.ChannelHotline, "rexian-12315", map[string]int{"整个文件被退回": 1}, "文件 夜班.xlsx 已退回 failed/夜班.xlsx：Excel 工作簿")
	c.Polled(ingest.ChannelEmail, "kefu-163", at(9, 55), 0, "")
	c.Accepted(ingest.ChannelWebhook, "tousu-12315", at(9, 50)) // not declared: added
	c.Refused(ingest.ChannelWebhook, "tousu-12315", map[string]int{"签名无效": 1}, "签名无效")
	got := c.Health(at(9, 58))
	want := []ChannelHealth{
		{Kind: ingest.ChannelEmail, Name: "kefu-163", LastSuccess: at(9, 55), LastMessage: at(9, 40), Hour: 2, Day: 4, Quarantined: 1},
		{Kind: ingest.ChannelHotline, Name: "rexian-12315", Errors: 7, LastError: "文件 夜班.xlsx 已退回 failed/夜班.xlsx：Excel 工作簿",
			Refused: map[string]int{"字段“来电号码”有误": 4, "字段“投诉内容”有误": 1, "整个文件被退回": 1}},
		{Kind: ingest.ChannelWebForm},
		{Kind: ingest.ChannelWebhook, Name: "tousu-12315", LastSuccess: at(9, 50), LastMessage: at(9, 50), Hour: 1, Day: 1,
			Errors: 1, LastError: "签名无效", Refused: map[string]int{"签名无效": 1}},
	}
	if len(got) != len(want) {
		t.Fatalf("Health = %+v, want %d channels", got, len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Key() != w.Key() || !g.LastSuccess.Equal(w.LastSuccess) || !g.LastMessage.Equal(w.LastMessage) || g.Hour != w.Hour ||
			g.Day != w.Day || g.Errors != w.Errors || g.LastError != w.LastError || g.Quarantined != w.Quarantined || g.Silent != w.Silent ||
			!maps.Equal(g.Refused, w.Refused) {
			t.Errorf("channel %d = %+v, want %+v", i, g, w)
		}
	}
	// Health's counts are copies: a later refusal does not change them.
	c.Refused(ingest.ChannelWebhook, "tousu-12315", map[string]int{"签名无效": 1}, "签名无效")
	if got[3].Refused["签名无效"] != 1 {
		t.Errorf("an earlier Health changed: %v", got[3].Refused)
	}
	// Failed polls in a row count as errors.
	c.Polled(ingest.ChannelEmail, "kefu-163", time.Time{}, 3, "imap: dial tcp: i/o timeout")
	if h := c.Health(at(10, 0))[0]; h.Errors != 3 || h.LastError != "imap: dial tcp: i/o timeout" {
		t.Errorf("after failed polls: %+v", h)
	}
}

func TestHistoryRing(t *testing.T) {
	h := NewHistory(3)
	if len(h.Samples()) != 0 {
		t.Fatal("a new history has samples")
	}
	sample := func(i int, end, lag int64) Sample {
		return Sample{At: at(9, 0).Add(time.Duration(i) * SampleEvery), Groups: []GroupLag{{Group: "tousu-indexer", Topic: "cases",
			Details: []PartitionLag{{Partition: 0, End: end, Lag: lag}}}}}
	}
	first := h.Add(sample(0, 100, 0))
	if first.Groups[0].InPerSec != nil {
		t.Error("the first sample has rates")
	}
	// 15 s later: 30 written, 15 read (lag 15).
	second := h.Add(sample(1, 130, 15))
	if in, out := second.Groups[0].InPerSec, second.Groups[0].OutPerSec; in == nil || *in != 2 || *out != 1 {
		t.Errorf("rates = %v %v, want 2 and 1 per second", in, out)
	}
	h.Add(sample(2, 130, 15))
	h.Add(sample(3, 145, 0))
	s := h.Samples()
	if len(s) != 3 || !s[0].At.Equal(sample(1, 0, 0).At) || !s[2].At.Equal(sample(3, 0, 0).At) {
		t.Fatalf("samples after 4 adds to 3 slots: %v", s)
	}
	if out := s[2].Groups[0].OutPerSec; out == nil || *out != 2 {
		t.Errorf("the indexer catching up: out %v, want 2 per second", out)
	}
	for _, tc := range []struct {
		t    time.Time
		want time.Time
		ok   bool
	}{
		{s[2].At.Add(time.Second), s[2].At, true},
		{s[2].At.Add(-time.Second), s[1].At, true},
		{s[0].At, s[0].At, true},
		{s[0].At.Add(-time.Second), time.Time{}, false},
	} {
		if got, ok := h.Before(tc.t); ok != tc.ok || !got.At.Equal(tc.want) {
			t.Errorf("Before(%s) = %v %v, want %v %v", tc.t, got.At, ok, tc.want, tc.ok)
		}
	}
}

func TestBeat(t *testing.T) {
	channels := NewChannels(ChannelHealth{Kind: ingest.ChannelEmail, Name: "kefu-163"})
	channels.Accepted(ingest.ChannelEmail, "kefu-163", at(9, 30))
	self := Self{Host: "tousu-gw-0", PID: 4242, Started: at(8, 0), Targets: []string{"gateway", "poller"}, Version: "v1.4.2",
		Every: 10 * time.Second, Channels: channels}
	var sent []bus.Message
	a := NewAnnouncer(Config{Every: 10 * time.Second}, self.Beat, func(_ context.Context, m ...bus.Message) error {
		sent = append(sent, m...)
		return nil
	}, zap.NewNop())
	if err := a.Announce(context.Background(), at(9, 31), false); err != nil {
		t.Fatal(err)
	}
	if len(sent) != 1 || sent[0].Topic != bus.TopicHeartbeat || string(sent[0].Key) != ProcessID("tousu-gw-0", 4242, at(8, 0)) {
		t.Fatalf("sent %+v", sent)
	}
	d := NewDeployment()
	if err := d.Follow(context.Background(), sent[0]); err != nil {
		t.Fatal(err)
	}
	// Noise on the topic is rejected, not fatal.
	for _, v := range []string{`{"v":2,"process":"x"}`, `不是JSON`, `{"v":1}`} {
		if err := d.Follow(context.Background(), bus.Message{Key: []byte("x"), Value: []byte(v)}); !bus.IsRejected(err) {
			t.Errorf("Follow(%s) = %v, want a rejection", v, err)
		}
	}
	tests := []struct {
		name string
		now  time.Time
		lost bool
	}{
		{"two beats missed", at(9, 31).Add(29 * time.Second), false},
		{"three beats missed: 失联", at(9, 31).Add(31 * time.Second), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ps := d.Processes(tc.now)
			if len(ps) != 1 || ps[0].Lost != tc.lost || ps[0].Host != "tousu-gw-0" || ps[0].Version != "v1.4.2" || len(ps[0].Targets) != 2 {
				t.Fatalf("Processes = %+v, want lost %v", ps, tc.lost)
			}
			ch := d.Channels(tc.now)
			if len(ch) != 1 || ch[0].Name != "kefu-163" || ch[0].Hour != 1 || ch[0].Lost != tc.lost {
				t.Errorf("Channels = %+v", ch)
			}
		})
	}
	// An older beat arriving late does not replace the newer one.
	var old Beat
	if err := json.Unmarshal(sent[0].Value, &old); err != nil {
		t.Fatal(err)
	}
	old.At, old.Version = at(9, 0), "v1.3.0"
	v, _ := json.Marshal(old)
	_ = d.Follow(context.Background(), bus.Message{Key: sent[0].Key, Value: v})
	if p := d.Processes(at(9, 31))[0]; p.Version != "v1.4.2" {
		t.Errorf("a late old beat replaced the newer: %s", p.Version)
	}
	// The poller restarts: its new process runs the mailbox; the old one
	// is lost, its mailbox row gone.
	again := self
	again.PID, again.Started = 4300, at(9, 40)
	v, _ = json.Marshal(again.Beat(at(9, 41)))
	if err := d.Follow(context.Background(), bus.Message{Key: []byte("new"), Value: v}); err != nil {
		t.Fatal(err)
	}
	if ch := d.Channels(at(9, 41)); len(ch) != 1 || ch[0].Lost || ch[0].Process != ProcessID("tousu-gw-0", 4300, at(9, 40)) {
		t.Errorf("after a restart, Channels = %+v", ch)
	}
	if ps := d.Processes(at(9, 41)); len(ps) != 2 || ps[0].Lost || !ps[1].Lost {
		t.Errorf("after a restart, Processes = %+v", ps)
	}
	if n := d.Prune(at(9, 31).Add(25 * time.Hour)); n != 2 || len(d.Processes(at(9, 31))) != 0 {
		t.Errorf("Prune after a day = %d", n)
	}
}

// TestAnnouncerSaysItStopped: when its context ends, the announcer sends
// the process's last beat, on a context of its own; the page then shows
// the process and its channels stopped (已停止), not lost, however long
// ago, and running processes first.
func TestAnnouncerSaysItStopped(t *testing.T) {
	channels := NewChannels(ChannelHealth{Kind: ingest.ChannelHotline, Name: "rexian-12315"})
	self := Self{Host: "tousu-gw-1", PID: 77, Started: at(8, 0), Targets: []string{"gateway", "poller"}, Version: "v1.4.2",
		Every: time.Second, Channels: channels}
	ctx, cancel := context.WithCancel(context.Background())
	var sent []bus.Message
	a := NewAnnouncer(Config{Every: time.Second}, self.Beat, func(wctx context.Context, m ...bus.Message) error {
		if err := wctx.Err(); err != nil {
			return err // a write on an ended context fails, as the producer's does
		}
		sent = append(sent, m...)
		cancel() // the process is told to stop after its first beat
		return nil
	}, zap.NewNop())
	if err := a.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if len(sent) != 2 {
		t.Fatalf("sent %d beats, want the first and the last", len(sent))
	}
	d := NewDeployment()
	for _, m := range sent {
		if err := d.Follow(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	running := self
	running.PID, running.Started = 78, at(9, 0)
	v, _ := json.Marshal(running.Beat(time.Now()))
	if err := d.Follow(context.Background(), bus.Message{Key: []byte("running"), Value: v}); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Hour)
	ps := d.Processes(time.Now())
	if len(ps) != 2 || ps[0].PID != 78 || ps[0].Gone() || ps[1].PID != 77 || !ps[1].Stopped || ps[1].Lost {
		t.Errorf("Processes = %+v, want the running one, then the stopped one", ps)
	}
	// Both gone an hour later, by start time: the stopped one (77) is not
	// lost; the one that went silent (78) is.
	if ps := d.Processes(later); len(ps) != 2 || !ps[0].Stopped || ps[0].Lost || !ps[1].Lost {
		t.Errorf("an hour later, Processes = %+v: the stopped one is not lost, the silent one is", ps)
	}
	// The running process runs the folder now: the stopped one's row goes.
	if ch := d.Channels(time.Now()); len(ch) != 1 || ch[0].Stopped || ch[0].Process != ProcessID("tousu-gw-1", 78, at(9, 0)) {
		t.Errorf("Channels = %+v", ch)
	}
}

func TestConfig(t *testing.T) {
	var c Config
	c.Provision()
	if c.Every != 10*time.Second || c.Validate() != nil {
		t.Errorf("default %v %v", c.Every, c.Validate())
	}
	for _, bad := range []time.Duration{500 * time.Millisecond, time.Hour} {
		if err := (Config{Every: bad}).Validate(); err == nil {
			t.Errorf("every %s accepted", bad)
		}
	}
}
