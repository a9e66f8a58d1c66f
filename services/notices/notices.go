// Package notices keeps, for every console replica, the notices of the
// alerts topic (bus.TopicAlerts: escalations, urges 催办 and batch
// incidents 批量投诉, router.Notice) and who has read which. Every console
// follows all partitions of the topic from the first retained offset (a
// bus.Follower with Follow as its handler) into memory, bounded to the
// last Retention and at most MaxNotices notices. Read marks are appended
// to a ledger shared by every replica (services/ledger, keyed by account),
// so a notice read on one replica is read on all.
//
// Which notices concern a person is the pure rule Concerns.
package notices

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/tousu/tousu/ingest/webform"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/services/bus"
)

// Retention is how long notices are kept in memory: as long as the ledger
// keeps the read marks.
const Retention = 7 * 24 * time.Hour

// MaxNotices bounds the notices kept in memory; beyond it the oldest go,
// down to nine tenths of it.
const MaxNotices = 10000

// maxIDsPerMark bounds the notice ids of one read mark, so that a mark
// stays a small record.
const maxIDsPerMark = 200

// Reader is who reads notices: an account's name and departments, All for
// a supervisor or an admin, who are concerned by every notice.
type Reader struct {
	Name        string
	Departments []string
	All         bool
}

// Concerns reports whether notice n concerns reader r: every notice
// concerns a supervisor or an admin; an urge or an escalation concerns
// the case's owner and the agents of the department it is routed to; a
// batch incident, which spans departments, concerns the supervisors only.
func Concerns(r Reader, n router.Notice) bool {
	switch {
	case r.All:
		return true
	case n.Kind == router.NoticeBatch || r.Name == "":
		return false
	}
	return n.Route.Owner == r.Name || n.Route.Department != "" && slices.Contains(r.Departments, n.Route.Department)
}

// Item is a notice with whether its reader has read it.
type Item struct {
	router.Notice
	Read bool
}

// mark is the value of a read mark in the ledger.
type mark struct {
	IDs []string `json:"ids"`
}

// readKey is the ledger key of an account's read marks.
func readKey(name string) string { return "notices.read:" + name }

// readIDs are the notice ids the read marks in entries name.
func readIDs(entries []webform.LedgerEntry) map[string]bool {
	read := map[string]bool{}
	for _, e := range entries {
		var m mark
		if json.Unmarshal(e.Value, &m) != nil {
			continue
		}
		for _, id := range m.IDs {
			read[id] = true
		}
	}
	return read
}

// Store is the followed notices and the read marks. It is safe for
// concurrent use.
type Store struct {
	marks webform.Ledger
	now   func() time.Time

	mu      sync.Mutex
	notices map[string]router.Notice
}

// New returns an empty Store that keeps read marks in marks (the shared
// ledger); Follow must be the handler of a bus.Follower of
// bus.TopicAlerts for it to learn notices.
func New(marks webform.Ledger) *Store {
	return &Store{marks: marks, now: time.Now, notices: map[string]router.Notice{}}
}

// Follow is the bus.Handler that stores a followed notice, once per id;
// it rejects a record it cannot read and ignores one older than
// Retention.
func (s *Store) Follow(_ context.Context, m bus.Message) error {
	var n router.Notice
	if err := json.Unmarshal(m.Value, &n); err != nil {
		return bus.Reject(fmt.Errorf("notices: decode notice: %w", err))
	}
	if n.V != router.NoticeVersion || n.ID == "" {
		return bus.Reject(fmt.Errorf("notices: notice version %d, id %q: not a notice of this version", n.V, n.ID))
	}
	if s.now().Sub(n.At) > Retention {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.notices[n.ID] = n
	if len(s.notices) > MaxNotices {
		// A tenth at once, not one: each drop sorts all 10,000, which
		// every notice beyond the bound paid before.
		s.dropOldest(len(s.notices) - MaxNotices*9/10)
	}
	return nil
}

// dropOldest drops the n oldest notices; s.mu is held.
func (s *Store) dropOldest(n int) {
	all := make([]router.Notice, 0, len(s.notices))
	for _, v := range s.notices {
		all = append(all, v)
	}
	slices.SortFunc(all, newestFirst)
	for _, v := range all[len(all)-n:] {
		delete(s.notices, v.ID)
	}
}

// newestFirst orders notices newest first, then by id.
func newestFirst(a, b router.Notice) int {
	if c := b.At.Compare(a.At); c != 0 {
		return c
	}
	return cmp.Compare(a.ID, b.ID)
}

// Prune drops the notices older than Retention at now and returns how
// many it dropped.
func (s *Store) Prune(now time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	before := len(s.notices)
	maps.DeleteFunc(s.notices, func(_ string, v router.Notice) bool { return now.Sub(v.At) > Retention })
	return before - len(s.notices)
}

// For returns the notices that concern r, newest first, each with whether
// r has read it.
func (s *Store) For(r Reader) []Item {
	read := readIDs(s.marks.Entries(readKey(r.Name)))
	s.mu.Lock()
	var out []Item
	for _, n := range s.notices {
		if Concerns(r, n) {
			out = append(out, Item{Notice: n, Read: read[n.ID]})
		}
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b Item) int { return newestFirst(a.Notice, b.Notice) })
	return out
}

// Unread counts the notices that concern r and r has not read.
func (s *Store) Unread(r Reader) int {
	n := 0
	for _, it := range s.For(r) {
		if !it.Read {
			n++
		}
	}
	return n
}

// MarkRead marks the notices ids (those of For, any other is ignored) as
// read by r on every replica; no ids marks every unread notice that
// concerns r.
func (s *Store) MarkRead(ctx context.Context, r Reader, ids []string) error {
	var unread []string
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	for _, it := range s.For(r) {
		if !it.Read && (len(ids) == 0 || want[it.ID]) {
			unread = append(unread, it.ID)
		}
	}
	for chunk := range slices.Chunk(unread, maxIDsPerMark) {
		b, err := json.Marshal(mark{IDs: chunk})
		if err != nil {
			return err
		}
		if err := s.marks.Append(ctx, readKey(r.Name), b); err != nil {
			return fmt.Errorf("notices: mark read for %s: %w", r.Name, err)
		}
	}
	return nil
}
