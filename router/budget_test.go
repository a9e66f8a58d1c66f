package router

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/normalize"
)

// attackCase is the case of the nine-post attack and its variants: a
// first complaint and n duplicates of text, each with attachments
// attachments, as AttachDuplicate builds it.
func attackCase(tb testing.TB, text string, n, attachments int) Case {
	tb.Helper()
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	comp := func(i int) normalize.Complaint {
		c := relatedComplaint(fmt.Sprint("webform:", i), t0.Add(time.Duration(i)*time.Second))
		c.Description = text
		c.Attachments = nil
		for j := range attachments {
			c.Attachments = append(c.Attachments, ingest.Attachment{Name: fmt.Sprintf("%d-%d.png", i, j), Type: "image/png", SHA256: strings.Repeat("a", 64)})
		}
		return c
	}
	first := comp(0)
	c := Case{V: SchemaVersion, ID: first.Reference, References: []string{first.Reference}, Complaints: []string{first.ID},
		Customer: first.Customer, Description: text, Attachments: first.Attachments, Status: StatusOpen, ReceivedAt: t0, UpdatedAt: t0}
	for i := 1; i <= n; i++ {
		var changed bool
		if c, changed = AttachDuplicate(c, comp(i), "近似重复"); !changed {
			tb.Fatalf("duplicate %d not attached", i)
		}
	}
	return c
}

// withHistory adds n history events with notes of note.
func withHistory(c Case, n int, note string) Case {
	for i := range n {
		c.History = append(c.History, Event{Action: fmt.Sprint("api:", i), Kind: ActionNote, Actor: "张三", At: c.ReceivedAt.Add(time.Duration(i) * time.Second), Note: note})
	}
	return c
}

// TestEncodeCaseFitsTheBudget: whatever a case holds, EncodeCase's
// encoding is within the budget, decodes to the case it returns, keeps the
// case's identity and first complaint, and keeps the counts exact: every
// list's length plus what Omitted counts is the original's.
func TestEncodeCaseFitsTheBudget(t *testing.T) {
	long := strings.Repeat("部", 200000)
	tests := []struct {
		name   string
		c      func(testing.TB) Case
		budget int
	}{
		{"nine posts of <", func(tb testing.TB) Case { return attackCase(tb, "宽带断网"+strings.Repeat("<", 19980), 8, 0) }, 128 << 10},
		{"nine posts of &", func(tb testing.TB) Case { return attackCase(tb, "宽带断网"+strings.Repeat("&", 19980), 8, 0) }, 128 << 10},
		{"line separators", func(tb testing.TB) Case { return attackCase(tb, strings.Repeat("\u2028", 6660), 30, 0) }, 128 << 10},
		{"control characters", func(tb testing.TB) Case { return attackCase(tb, strings.Repeat("\x01\"\\", 6660), 30, 0) }, 128 << 10},
		{"3000 contacts", func(tb testing.TB) Case { return attackCase(tb, "手机信号差，打电话总是断线", 3000, 0) }, 64 << 10},
		{"300 attachments each", func(tb testing.TB) Case { return attackCase(tb, "发票附件", 10, 300) }, 64 << 10},
		{"10000 history events", func(tb testing.TB) Case {
			return withHistory(attackCase(tb, "断网", 1, 0), 10000, "已电话联系客户<b>")
		}, 64 << 10},
		{"200000-rune fields", func(tb testing.TB) Case {
			c := withHistory(attackCase(tb, long, 2, 0), 3, long)
			c.Route = Route{Department: long, Queue: long, Owner: long}
			c.Assignee, c.Subject = long, long
			c.Explanation = append(c.Explanation, Explanation{Field: "route", Value: long, Reason: long})
			return c
		}, MinRecordBytes},
		{"small case unchanged", func(tb testing.TB) Case { return attackCase(tb, "断网", 2, 1) }, MinRecordBytes},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.c(t)
			before, _ := ingest.EncodeJSON(in)
			got, b, err := EncodeCase(in, tt.budget)
			if err != nil {
				t.Fatalf("EncodeCase: %v", err)
			}
			if len(b) > tt.budget {
				t.Fatalf("encoded in %d bytes, over the budget of %d", len(b), tt.budget)
			}
			var back Case
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatalf("encoding does not decode: %v", err)
			}
			if again, _ := ingest.EncodeJSON(got); string(again) != string(b) {
				t.Error("the encoding is not the returned case's")
			}
			if len(before) <= tt.budget && !reflect.DeepEqual(got, in) {
				t.Errorf("a case within the budget changed: omitted %+v", got.Omitted)
			}
			if after, _ := ingest.EncodeJSON(in); string(after) != string(before) {
				t.Error("the case passed in was modified")
			}
			if got.ID != in.ID || got.References[0] != in.References[0] || got.Complaints[0] != in.Complaints[0] || got.Duplicates != in.Duplicates || got.Urgency != in.Urgency {
				t.Errorf("identity or counts changed: id %s refs[0] %s duplicates %d urgency %d", got.ID, got.References[0], got.Duplicates, got.Urgency)
			}
			counts := []struct {
				what           string
				got, omitted   int
				want, omitted0 int
			}{
				{"contacts", len(got.Contacts), got.Omitted.Contacts, len(in.Contacts), in.Omitted.Contacts},
				{"history", len(got.History), got.Omitted.History, len(in.History), in.Omitted.History},
				{"references", len(got.References), got.Omitted.References, len(in.References), in.Omitted.References},
				{"attachments", len(got.Attachments), got.Omitted.Attachments, len(in.Attachments), in.Omitted.Attachments},
			}
			for _, n := range counts {
				if n.got+n.omitted != n.want+n.omitted0 {
					t.Errorf("%s: %d kept + %d omitted, want %d in all", n.what, n.got, n.omitted, n.want+n.omitted0)
				}
			}
			if len(got.Complaints) != len(got.References) {
				t.Errorf("%d complaint ids for %d references", len(got.Complaints), len(got.References))
			}
		})
	}
}

// TestEncodeCaseTrimsOldestFirst: what goes first is the oldest contacts'
// texts; the latest contact keeps its text while older ones can go.
func TestEncodeCaseTrimsOldestFirst(t *testing.T) {
	c := attackCase(t, "宽带断网"+strings.Repeat("<", 19980), 8, 0)
	got, b, err := EncodeCase(c, 128<<10)
	if err != nil {
		t.Fatal(err)
	}
	last := got.Contacts[len(got.Contacts)-1]
	if last.Text != c.Contacts[len(c.Contacts)-1].Text || got.Contacts[0].Text != "" || got.Omitted.ContactTexts == 0 || got.Omitted.Contacts != 0 {
		t.Errorf("in %d bytes: first contact's text %d bytes, last %d bytes, omitted %+v; want the oldest texts dropped first",
			len(b), len(got.Contacts[0].Text), len(last.Text), got.Omitted)
	}
	if got.Description != c.Description {
		t.Error("the first complaint's description was cut while contact texts could go")
	}
	if _, _, err := EncodeCase(c, 100); err == nil {
		t.Error("a case fitted to 100 bytes")
	}
}

// TestHistoryBounded: a case keeps its latest MaxHistory events and counts
// the others.
func TestHistoryBounded(t *testing.T) {
	e := miniEngine(t)
	received := at(t, "2025-09-30 10:00")
	c := e.Open(reachable("宽带断网", received), received)
	for i := range MaxHistory + 7 {
		a := act(c, fmt.Sprint("note:", i), ActionNote, "张三", received.Add(time.Duration(i)*time.Second))
		a.Note = fmt.Sprint("第", i, "次联系")
		c = apply(t, e, c, a)
	}
	if len(c.History) != MaxHistory || c.Omitted.History != 7 || c.History[0].Action != "note:7" {
		t.Errorf("history of %d events from %s, %d omitted; want %d from note:7, 7 omitted", len(c.History), c.History[0].Action, c.Omitted.History, MaxHistory)
	}
}

// FuzzEncodeCase: whatever the text of a customer's repeated complaints
// and notes, the case encodes within the budget, its encoding decodes and
// the count of contacts stays exact.
func FuzzEncodeCase(f *testing.F) {
	const budget = 8 << 10
	f.Add("宽带断网"+strings.Repeat("<", 500), uint8(9), uint8(40))
	f.Add(strings.Repeat("\u2028\x01\"", 100), uint8(30), uint8(0))
	f.Fuzz(func(t *testing.T, text string, dups, notes uint8) {
		c := withHistory(attackCase(t, text, int(dups), 1), int(notes), text)
		c.Route.Department, c.Subject = text, text
		got, b, err := EncodeCase(c, budget)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > budget {
			t.Fatalf("encoded in %d bytes, over %d", len(b), budget)
		}
		var back Case
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if len(got.Contacts)+got.Omitted.Contacts != len(c.Contacts)+c.Omitted.Contacts || got.Duplicates != int(dups) {
			t.Fatalf("contacts %d + %d omitted, duplicates %d; want %d, %d", len(got.Contacts), got.Omitted.Contacts, got.Duplicates, len(c.Contacts)+c.Omitted.Contacts, dups)
		}
	})
}
