// Package deadletters keeps, for every console replica, the dead letters
// of complaints.dlq (bus.DeadLetter: what a stage could not process, with
// the reason and the original bytes) and replays them to the topic they
// came from.
//
// Every console follows all partitions of the topic from the first
// retained offset (a bus.Follower with Follow as its handler) into a
// bounded memory: the newest Config.MaxEntries dead letters within
// Config.MaxBytes of originals, and counts by source and reason of every
// dead letter read, kept or not. A dead letter older than the kept ones
// is counted but can be neither shown nor replayed from the console.
//
// A replay writes the original record (key, value, headers) back to its
// topic of origin with the header HeaderReplayOf naming the dead letter,
// and then appends a mark to the ledger every replica shares
// (services/ledger, keyed by the dead letter's id), so every replica
// shows the entry as replayed and refuses to replay it again. Two
// replicas replaying the same entry at the same moment may both write
// it: the pipeline's deterministic ids make the second copy harmless
// (the normalizer's seen file drops a complaint id it has processed, the
// router's actions are idempotent by id).
//
// Which entry is which source and reason and which entries a filter
// selects are the pure rules SourceOf, ReasonClass and Filter.Matches.
package deadletters

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/ingest/webform"
	"github.com/tousu/tousu/services/bus"
)

// HeaderReplayOf is the header a replayed record carries: the id of the
// dead letter it replays.
const HeaderReplayOf = "tousu-replay-of"

// Defaults of Config.
const (
	DefaultMaxEntries = 1000
	DefaultMaxBytes   = 64 << 20
)

// MaxReplay bounds the entries one replay sends.
const MaxReplay = 500

// Config bounds the dead letters a console replica keeps in memory.
type Config struct {
	// MaxEntries is how many of the newest dead letters are kept
	// (default DefaultMaxEntries).
	MaxEntries int `yaml:"max_entries"`
	// MaxBytes bounds the originals the kept dead letters carry together,
	// in bytes (default DefaultMaxBytes): an original may be 512 KiB.
	MaxBytes int64 `yaml:"max_bytes"`
}

// Provision fills the defaults.
func (c *Config) Provision() {
	if c.MaxEntries == 0 {
		c.MaxEntries = DefaultMaxEntries
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultMaxBytes
	}
}

// Validate checks the bounds.
func (c Config) Validate() error {
	var errs []error
	if c.MaxEntries < 0 {
		errs = append(errs, errors.New("max_entries: must not be negative"))
	}
	if c.MaxBytes < 0 {
		errs = append(errs, errors.New("max_bytes: must not be negative"))
	}
	return errors.Join(errs...)
}

// Entry is one dead letter as the console shows it.
type Entry struct {
	// ID names the dead letter: its partition and offset in
	// complaints.dlq ("3-1742").
	ID string `json:"id"`
	bus.DeadLetter
	// Replayed is the replay of the entry, once there was one.
	Replayed *Replay `json:"replayed,omitempty"`
}

// Replay is who replayed an entry and when.
type Replay struct {
	By string    `json:"by"`
	At time.Time `json:"at"`
}

// Summary is an entry without its payload: what a list shows.
type Summary struct {
	ID     string `json:"id"`
	Topic  string `json:"topic,omitempty"`
	Source string `json:"source"`
	Group  string `json:"group,omitempty"`
	Reason string `json:"reason"`
	Class  string `json:"reason_class"`
	// Label says the class in words an operator reads (ReasonLabel).
	Label     string    `json:"reason_label"`
	At        time.Time `json:"at"`
	Size      int       `json:"size"`
	Truncated bool      `json:"truncated,omitempty"`
	Replay    *Replay   `json:"replayed,omitempty"`
	// ReplayOf is the dead letter whose replay failed again as this one
	// (its HeaderReplayOf); empty for a first failure.
	ReplayOf string `json:"replay_of,omitempty"`
}

// Summary is e without its payload.
func (e Entry) Summary() Summary {
	size := e.OriginalSize
	if size == 0 {
		size = len(e.Original)
	}
	return Summary{ID: e.ID, Topic: e.Topic, Source: SourceOf(e.DeadLetter), Group: e.Group, Reason: e.DeadLetter.Reason,
		Class: ReasonClass(e.DeadLetter.Reason), Label: ReasonLabel(e.DeadLetter.Reason), At: e.At, Size: size, Truncated: e.Truncated, Replay: e.Replayed,
		ReplayOf: e.DeadLetter.Headers[HeaderReplayOf]}
}

// Replayable says why e cannot be replayed, or "" when it can: an entry
// with no topic of origin (a mail an intake adapter quarantined) or whose
// original was cut to fit in the dead letter.
func (e Entry) Replayable() string {
	switch {
	case e.Topic == "":
		return "没有来源主题（接入时隔离的邮件），无法重放"
	case e.Truncated:
		return "原始记录过大，死信中只有前一部分，无法重放"
	}
	return ""
}

// SourceOf is where dead letter dl came from: the intake source of a
// quarantined input ("imap:support"), else the topic of origin.
func SourceOf(dl bus.DeadLetter) string {
	if dl.Source != "" {
		return dl.Source
	}
	if dl.Topic == "" {
		return "未知"
	}
	return dl.Topic
}

var digits = regexp.MustCompile(`[0-9]+`)

// maxClassRunes bounds a reason class.
const maxClassRunes = 80

// ReasonClass is the kind of a reason, for counting: its text up to the
// first colon, with every run of digits as N ("complaints.raw payload
// has schema version N, want N"), so reasons that differ only in the ids
// and numbers they name count together.
func ReasonClass(reason string) string {
	head, _, _ := strings.Cut(reason, ": ")
	head = strings.TrimSpace(digits.ReplaceAllString(head, "N"))
	if r := []rune(head); len(r) > maxClassRunes {
		head = string(r[:maxClassRunes]) + "…"
	}
	if head == "" {
		return "（无原因）"
	}
	return head
}

// reasonLabels name the reason classes the stages write, by a part of the
// class, first match wins.
var reasonLabels = []struct{ part, label string }{
	{"invalid envelope", "投诉记录不合规（版本不对，或缺少编号、内容）"},
	{"decode", "记录无法解析（不是有效的 JSON 或格式不对）"},
	{"handler panic", "处理程序出错（程序缺陷，请联系开发人员）"},
	{"Message Size Too Large", "记录过大，消息队列拒收"},
	{"Record List Too Large", "记录过大，消息队列拒收"},
	{"too large", "记录过大"},
	{"Invalid Message", "消息队列拒收的记录"},
	{"Invalid Record", "消息队列拒收的记录"},
	{"refused", "操作被拒绝"},
}

// ReasonLabel says a reason, or a reason class (ReasonClass), in
// Simplified Chinese for the operations pages: the text itself when it is
// written in Chinese already, a label for what the stages and the broker
// write, and 其他原因 for the rest (the page shows the reason beside it).
func ReasonLabel(class string) string {
	for _, r := range class {
		if unicode.Is(unicode.Han, r) {
			return class
		}
	}
	for _, l := range reasonLabels {
		if strings.Contains(class, l.part) {
			return l.label
		}
	}
	return "其他原因"
}

// Filter selects entries: by source (SourceOf, exactly) and by reason
// (its class exactly, or a part of its text); empty fields select all.
type Filter struct {
	Source string `json:"source,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// Matches reports whether f selects e.
func (f Filter) Matches(e Entry) bool {
	if f.Source != "" && SourceOf(e.DeadLetter) != f.Source {
		return false
	}
	return f.Reason == "" || ReasonClass(e.DeadLetter.Reason) == f.Reason || strings.Contains(e.DeadLetter.Reason, f.Reason)
}

// MaskedPayload is e's original as text with phone numbers, e-mail
// addresses and ID numbers masked (ingest.MaskText); bytes that are not
// UTF-8 (a mail in GBK) show as U+FFFD.
func (e Entry) MaskedPayload() string { return ingest.MaskText(e.Payload()) }

// MaskedExcerpt is the start of MaskedPayload, at most n runes and "…"
// when cut, for a list.
func (e Entry) MaskedExcerpt(n int) string {
	r := []rune(e.Payload())
	if len(r) <= n {
		return ingest.MaskText(string(r))
	}
	return ingest.MaskExcerpt(string(r[:n]) + "…")
}

// Payload is e's original as text, unmasked; bytes that are not UTF-8
// show as U+FFFD.
func (e Entry) Payload() string {
	if utf8.Valid(e.Original) {
		return string(e.Original)
	}
	return strings.ToValidUTF8(string(e.Original), "\uFFFD")
}

// MaskedKey is e's key as text, masked as MaskedPayload (keys are often a
// customer's phone number).
func (e Entry) MaskedKey() string {
	return ingest.MaskText(strings.ToValidUTF8(string(e.Key), "\uFFFD"))
}

// Write writes messages to the broker and blocks until they are
// acknowledged (bus.Producer.Write).
type Write func(ctx context.Context, msgs ...bus.Message) error

// Store is the followed dead letters and their replays. It is safe for
// concurrent use.
type Store struct {
	cfg   Config
	write Write
	marks webform.Ledger
	now   func() time.Time

	mu       sync.Mutex
	entries  map[string]Entry
	bytes    int64
	total    int
	bySource map[string]int
	byReason map[string]int
}

// New returns an empty Store bounded by cfg (provisioned) that replays
// through write and keeps replay marks in marks (the shared ledger);
// Follow must be the handler of a bus.Follower of bus.TopicDLQ for it to
// learn dead letters.
func New(cfg Config, write Write, marks webform.Ledger) *Store {
	return &Store{cfg: cfg, write: write, marks: marks, now: time.Now, entries: map[string]Entry{},
		bySource: map[string]int{}, byReason: map[string]int{}}
}

// entryID is the id of the dead letter at partition and offset of
// complaints.dlq.
func entryID(partition int, offset int64) string { return fmt.Sprintf("%d-%d", partition, offset) }

// Follow is the bus.Handler that stores a followed dead letter, once per
// id. A record it cannot read is kept with that as its reason: the dead
// letter topic is never itself dead-lettered.
func (s *Store) Follow(_ context.Context, m bus.Message) error {
	e := Entry{ID: entryID(m.Partition, m.Offset)}
	if err := json.Unmarshal(m.Value, &e.DeadLetter); err != nil || e.V != bus.DeadLetterVersion {
		e.DeadLetter = bus.DeadLetter{Reason: fmt.Sprintf("死信无法解析（版本 %d）: %v", e.V, err), Original: m.Value,
			OriginalSize: len(m.Value), At: m.Time.UTC()}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.entries[e.ID]; ok {
		return nil
	}
	s.total++
	s.bySource[SourceOf(e.DeadLetter)]++
	s.byReason[ReasonClass(e.DeadLetter.Reason)]++
	s.entries[e.ID] = e
	s.bytes += int64(len(e.Original))
	s.evict()
	return nil
}

// evict drops the oldest entries beyond the bounds; s.mu is held.
func (s *Store) evict() {
	if len(s.entries) <= s.cfg.MaxEntries && s.bytes <= s.cfg.MaxBytes {
		return
	}
	all := slices.SortedFunc(maps.Values(s.entries), newestFirst)
	for len(all) > 0 && (len(s.entries) > s.cfg.MaxEntries || s.bytes > s.cfg.MaxBytes) {
		oldest := all[len(all)-1]
		all = all[:len(all)-1]
		delete(s.entries, oldest.ID)
		s.bytes -= int64(len(oldest.Original))
	}
}

// newestFirst orders entries newest first, then by id.
func newestFirst(a, b Entry) int {
	if c := b.At.Compare(a.At); c != 0 {
		return c
	}
	return cmp.Compare(b.ID, a.ID)
}

// Page is what List answers.
type Page struct {
	// Entries are the kept entries the filter selects, newest first, at
	// most the limit.
	Entries []Entry `json:"-"`
	// Matching counts the kept entries the filter selects.
	Matching int `json:"matching"`
	// Total counts every dead letter read, Kept those in memory.
	Total int `json:"total"`
	Kept  int `json:"kept"`
	// BySource and ByReason count every dead letter read by SourceOf and
	// ReasonClass.
	BySource map[string]int `json:"by_source"`
	ByReason map[string]int `json:"by_reason"`
}

// List returns the kept entries f selects, newest first, at most limit
// (all for limit <= 0), with the counts.
func (s *Store) List(f Filter, limit int) Page {
	s.mu.Lock()
	p := Page{Total: s.total, Kept: len(s.entries), BySource: maps.Clone(s.bySource), ByReason: maps.Clone(s.byReason)}
	var all []Entry
	for _, e := range s.entries {
		if f.Matches(e) {
			all = append(all, e)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(all, newestFirst)
	p.Matching = len(all)
	if limit > 0 && len(all) > limit {
		all = all[:limit]
	}
	for i := range all {
		all[i].Replayed = s.replayOf(all[i].ID)
	}
	p.Entries = all
	return p
}

// Get returns the kept entry id.
func (s *Store) Get(id string) (Entry, bool) {
	s.mu.Lock()
	e, ok := s.entries[id]
	s.mu.Unlock()
	if ok {
		e.Replayed = s.replayOf(id)
	}
	return e, ok
}

// markKey is the ledger key of an entry's replay mark.
func markKey(id string) string { return "dlq.replayed:" + id }

// replayOf is the first replay mark of entry id in the ledger.
func (s *Store) replayOf(id string) *Replay {
	for _, m := range s.marks.Entries(markKey(id)) {
		var r Replay
		if json.Unmarshal(m.Value, &r) == nil {
			return &r
		}
	}
	return nil
}

// The statuses of a replayed entry.
const (
	StatusReplayed = "replayed"
	// StatusAlready is an entry replayed before: nothing is sent again.
	StatusAlready = "already"
	// StatusUnknown is an id no kept entry has.
	StatusUnknown = "unknown"
	// StatusRefused is an entry that cannot be replayed (Entry.Replayable).
	StatusRefused = "refused"
	// StatusFailed is an entry whose replay failed; it may be tried again.
	StatusFailed = "failed"
)

// StatusLabels say the statuses of a replayed entry to people.
var StatusLabels = map[string]string{
	StatusReplayed: "已重放", StatusAlready: "此前已重放，未再发送",
	StatusUnknown: "不存在", StatusRefused: "无法重放", StatusFailed: "重放失败，可重试",
}

// Outcome is what became of one entry of a replay.
type Outcome struct {
	ID     string  `json:"id"`
	Topic  string  `json:"topic,omitempty"`
	Status string  `json:"status"`
	Detail string  `json:"detail,omitempty"`
	Replay *Replay `json:"replayed,omitempty"`
}

// ErrTooMany is the error of a replay of more than MaxReplay entries.
var ErrTooMany = fmt.Errorf("一次最多重放 %d 条", MaxReplay)

// Select is the ids of the kept entries f selects that have not been
// replayed, oldest first: what a replay by filter sends.
func (s *Store) Select(f Filter) []string {
	p := s.List(f, 0)
	var ids []string
	for _, e := range slices.Backward(p.Entries) {
		if e.Replayed == nil && e.Replayable() == "" {
			ids = append(ids, e.ID)
		}
	}
	return ids
}

// Replay sends the entries ids back to their topics of origin, in order,
// as by, and marks each on the ledger once its broker acknowledged it:
// an entry replayed before is not sent again (StatusAlready). It returns
// an outcome per id, and an error only for more than MaxReplay ids. It
// blocks until the writes and marks are acknowledged or ctx ends.
func (s *Store) Replay(ctx context.Context, by string, ids []string) ([]Outcome, error) {
	if len(ids) > MaxReplay {
		return nil, ErrTooMany
	}
	out := make([]Outcome, 0, len(ids))
	for _, id := range ids {
		out = append(out, s.replayOne(ctx, by, id))
	}
	return out, nil
}

// replayOne replays the entry id (see Replay).
func (s *Store) replayOne(ctx context.Context, by, id string) Outcome {
	e, ok := s.Get(id)
	switch {
	case !ok:
		return Outcome{ID: id, Status: StatusUnknown, Detail: "没有这条死信（不存在，或已超出本副本保留的条数）"}
	case e.Replayed != nil:
		return Outcome{ID: id, Topic: e.Topic, Status: StatusAlready, Detail: "已重放过，不再重放", Replay: e.Replayed}
	case e.Replayable() != "":
		return Outcome{ID: id, Topic: e.Topic, Status: StatusRefused, Detail: e.Replayable()}
	}
	headers := maps.Clone(e.Headers)
	if headers == nil {
		headers = map[string]string{}
	}
	headers[HeaderReplayOf] = id
	m := bus.Message{Topic: e.Topic, Key: e.Key, Value: e.Original, Headers: headers}
	if err := s.write(ctx, m); err != nil {
		return Outcome{ID: id, Topic: e.Topic, Status: StatusFailed, Detail: fmt.Sprintf("写回 %s 失败: %v", e.Topic, err)}
	}
	r := Replay{By: by, At: s.now().UTC()}
	b, err := json.Marshal(r)
	if err == nil {
		err = s.marks.Append(ctx, markKey(id), b)
	}
	if err != nil {
		// The record is back on its topic; without the mark another
		// replay may send it again, which the pipeline's ids make harmless.
		return Outcome{ID: id, Topic: e.Topic, Status: StatusReplayed, Detail: fmt.Sprintf("已写回，但重放记录未保存: %v", err), Replay: &r}
	}
	return Outcome{ID: id, Topic: e.Topic, Status: StatusReplayed, Replay: &r}
}
