package router

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/normalize"
)

// memRecords are the router's records in memory, as a router call keeps
// them: RouteComplaint and ApplyAction read them, make changes them.
type memRecords struct {
	cases     map[string]Case
	histories map[string]normalize.CustomerHistory
}

func newMemRecords() *memRecords {
	return &memRecords{cases: map[string]Case{}, histories: map[string]normalize.CustomerHistory{}}
}

func (m *memRecords) Case(id string) (Case, bool, error) {
	c, ok := m.cases[id]
	return c, ok, nil
}

func (m *memRecords) History(key string) (normalize.CustomerHistory, error) {
	return m.histories[key], nil
}

// make makes the changes of one decision, as the router stage does.
func (m *memRecords) make(tb testing.TB, ch Changes) {
	tb.Helper()
	for _, c := range []*Case{ch.Opened, ch.Updated} {
		if c != nil {
			m.cases[c.ID] = *c
		}
	}
	if hc := ch.History; hc != nil {
		h := m.histories[hc.Customer]
		hc.Apply(&h)
		m.histories[hc.Customer] = h
	}
}

// snapshot is the records as JSON, to tell whether a decision changed them.
func (m *memRecords) snapshot(tb testing.TB) string {
	tb.Helper()
	b, err := json.Marshal([]any{m.cases, m.histories})
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// routeOn routes c on m and makes its changes; the call itself must change
// nothing.
func routeOn(tb testing.TB, m *memRecords, e *Engine, dedupe normalize.DedupeConfig, c normalize.Complaint) Routed {
	tb.Helper()
	before := m.snapshot(tb)
	r, err := RouteComplaint(Arrival{Complaint: c, Records: m, Dedupe: dedupe, Policy: e, Now: c.ReceivedAt})
	if err != nil {
		tb.Fatalf("RouteComplaint(%s): %v", c.ID, err)
	}
	if m.snapshot(tb) != before {
		tb.Fatalf("RouteComplaint(%s) changed the records it read", c.ID)
	}
	m.make(tb, r.Changes)
	return r
}

// dedupeWith is the default detection configuration changed by edit
// (nil: unchanged).
func dedupeWith(edit func(*normalize.DedupeConfig)) normalize.DedupeConfig {
	d := normalize.DefaultDedupeConfig()
	if edit != nil {
		edit(&d)
	}
	return d
}

// The customers of the scenarios.
const (
	wangKey = "phone:+8613912345678" // 王女士, who calls and writes
	liKey   = "email:li.ming@example.com"
)

var routeT0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// complaintOf is a complaint of the customer with key, received at
// routeT0+after.
func complaintOf(id, key string, after time.Duration, text string) normalize.Complaint {
	cust := normalize.Customer{Key: key}
	if strings.HasPrefix(key, "phone:") {
		cust.Phone = strings.TrimPrefix(key, "phone:")
	}
	return normalize.Complaint{V: normalize.SchemaVersion, ID: id, Reference: ingest.ReferenceFor(id), Channel: ingest.ChannelAPI,
		ReceivedAt: routeT0.Add(after), Customer: cust, Subject: "宽带故障", Description: text}
}

// replyOf is an e-mail from 李明, not the case's customer, answering case
// of customer caseKey, which the normalizer found in state.
func replyOf(id string, after time.Duration, caseID, caseKey string, state normalize.CaseState) normalize.Complaint {
	c := complaintOf(id, liKey, after, "我是王女士的同事，她家宽带到今天还是不通，麻烦尽快派人上门")
	c.Channel = ingest.ChannelEmail
	c.Customer = normalize.Customer{Name: "李明", Email: "li.ming@example.com", Key: liKey}
	c.Subject = "Re: [" + caseID + "] 宽带故障"
	c.Thread = &normalize.Thread{Case: caseID, Customer: caseKey, State: state, By: normalize.ThreadBySubject, Ref: caseID}
	return c
}

// routeWant is what a test expects of the last complaint's decision.
type routeWant struct {
	outcome Outcome
	opened  string   // the case it opened
	linked  []string // the opened case's linked cases
	updated string   // the case it changed
	urgency int      // the changed case's urgency
	dups    int      // the changed case's duplicates
	urges   int      // urge notices
	batch   bool     // offered to batch detection
	noted   string   // "customer/case" the history notes it on
	forward normalize.CaseState
	missing string
}

func TestRouteComplaint(t *testing.T) {
	e := miniEngine(t)
	first := complaintOf("api:w1", wangKey, 0, "光猫LOS灯一直红，宽带从昨晚断到现在，报修电话打了三次都没人上门")
	// The same complaint sent again ten minutes later, with a typo.
	dup := complaintOf("api:w2", wangKey, 10*time.Minute, "光猫LOS灯一直红，宽带从昨晚断到现在，保修电话打了三次都没人上门")
	// Two days later, quoting the reference of the first complaint.
	repeat := complaintOf("api:w3", wangKey, 48*time.Hour, "上周投诉的宽带断网（受理编号"+first.Reference+"）还是没修好，光猫依旧红灯，再不处理就找工信部")
	other := complaintOf("api:w4", wangKey, time.Hour, "话费账单多扣了３０元流量费，我没开过流量包，要求退还")
	hotline := func(id string) normalize.Complaint {
		c := complaintOf(id, "anonymous:"+id, time.Hour, "来电未留号码。小区基站信号差，晚上８点后打不出电话，已３天")
		c.Channel = ingest.ChannelHotline
		return c
	}
	caseID := first.Reference
	resolve := func(m *memRecords) {
		c := m.cases[caseID]
		c.Status = StatusResolved
		m.cases[caseID] = c
		m.make(t, Changes{History: &HistoryChange{Customer: wangKey, Case: caseID, State: normalize.CaseResolved, At: routeT0.Add(24 * time.Hour)}})
	}
	reply := replyOf("email:l1", time.Hour, caseID, wangKey, normalize.CaseOpen)
	// A reply forwarded by the router of a resolved case to the sender's.
	forwarded := replyOf("email:l2", 30*time.Hour, caseID, wangKey, normalize.CaseResolved)
	noted := func(key, id string) string { return key + "/" + id }

	tests := []struct {
		name   string
		before []normalize.Complaint
		setup  func(*memRecords)
		dedupe func(*normalize.DedupeConfig)
		comp   normalize.Complaint
		want   routeWant
	}{
		{name: "a new matter opens a case", comp: first,
			want: routeWant{outcome: OutcomeNew, opened: caseID, batch: true, noted: noted(wangKey, caseID)}},
		{name: "duplicate by fingerprint joins the case", before: []normalize.Complaint{first}, comp: dup,
			want: routeWant{outcome: OutcomeDuplicate, updated: caseID, dups: 1, noted: noted(wangKey, caseID)}},
		{name: "repeat within the window raises urgency and urges", before: []normalize.Complaint{first}, comp: repeat,
			want: routeWant{outcome: OutcomeRepeat, updated: caseID, urgency: 1, urges: 1, noted: noted(wangKey, caseID)}},
		{name: "repeat after resolution opens a linked case", before: []normalize.Complaint{first}, setup: resolve, comp: repeat,
			want: routeWant{outcome: OutcomeRepeatFinished, opened: repeat.Reference, linked: []string{caseID}, batch: true, noted: noted(wangKey, repeat.Reference)}},
		{name: "another matter of the same customer", before: []normalize.Complaint{first}, comp: other,
			want: routeWant{outcome: OutcomeNew, opened: other.Reference, batch: true, noted: noted(wangKey, other.Reference)}},
		{name: "redelivery of a handled complaint", before: []normalize.Complaint{first, dup}, comp: dup,
			want: routeWant{outcome: OutcomeRedelivered}},
		{name: "the history names a case the router does not hold", before: []normalize.Complaint{first},
			setup: func(m *memRecords) { delete(m.cases, caseID) }, comp: dup,
			want: routeWant{outcome: OutcomeNew, opened: dup.Reference, batch: true, noted: noted(wangKey, dup.Reference), missing: caseID}},
		{name: "reply from another address to an open case", before: []normalize.Complaint{first}, comp: reply,
			want: routeWant{outcome: OutcomeReply, updated: caseID, urgency: 1, urges: 1, noted: noted(wangKey, caseID)}},
		{name: "reply redelivered", before: []normalize.Complaint{first, reply}, comp: reply,
			want: routeWant{outcome: OutcomeRedelivered}},
		{name: "reply to a case finished since the lookup is forwarded", before: []normalize.Complaint{first}, setup: resolve, comp: reply,
			want: routeWant{outcome: OutcomeReplyForwarded, forward: normalize.CaseResolved}},
		{name: "reply to a case the router does not hold is forwarded", comp: reply,
			want: routeWant{outcome: OutcomeReplyForwarded, forward: normalize.CaseClosed}},
		{name: "forwarded reply opens a case linked to the one it answers", comp: forwarded,
			want: routeWant{outcome: OutcomeNew, opened: forwarded.Reference, linked: []string{caseID}, batch: true, noted: noted(liKey, forwarded.Reference)}},
		{name: "reply with detection disabled notes no history", before: []normalize.Complaint{first},
			dedupe: func(d *normalize.DedupeConfig) { d.Disabled = true }, comp: reply,
			want: routeWant{outcome: OutcomeReply, updated: caseID, urgency: 1, urges: 1}},
		{name: "anonymous complaints are never related", before: []normalize.Complaint{hotline("hotline:1")}, comp: hotline("hotline:2"),
			want: routeWant{outcome: OutcomeNew, opened: hotline("hotline:2").Reference}},
		{name: "anonymous complaint redelivered", before: []normalize.Complaint{hotline("hotline:1")}, comp: hotline("hotline:1"),
			want: routeWant{outcome: OutcomeRedelivered}},
		{name: "detection disabled: a duplicate opens a case", before: []normalize.Complaint{first},
			dedupe: func(d *normalize.DedupeConfig) { d.Disabled = true }, comp: dup,
			want: routeWant{outcome: OutcomeNew, opened: dup.Reference}},
		{name: "batch detection disabled: no candidate", dedupe: func(d *normalize.DedupeConfig) { d.BatchDisabled = true }, comp: first,
			want: routeWant{outcome: OutcomeNew, opened: caseID, noted: noted(wangKey, caseID)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dedupe := dedupeWith(tt.dedupe)
			m := newMemRecords()
			for _, c := range tt.before {
				routeOn(t, m, e, dedupe, c)
			}
			if tt.setup != nil {
				tt.setup(m)
			}
			r := routeOn(t, m, e, dedupe, tt.comp)
			checkRouted(t, r, tt.comp, tt.want)
		})
	}
}

// checkRouted compares a decision with what the test wants of it.
func checkRouted(tb testing.TB, r Routed, comp normalize.Complaint, want routeWant) {
	tb.Helper()
	got := routeWant{outcome: r.Outcome, urges: len(r.Notices), batch: r.Candidate != nil, missing: r.Missing}
	if r.Opened != nil {
		got.opened, got.linked = r.Opened.ID, r.Opened.LinkedCases
	}
	if r.Updated != nil {
		got.updated, got.urgency, got.dups = r.Updated.ID, r.Updated.Urgency, r.Updated.Duplicates
	}
	if hc := r.History; hc != nil {
		got.noted = hc.Customer + "/" + hc.Case
		if hc.Complaint == nil || hc.Complaint.ID != comp.ID {
			tb.Errorf("history change %+v does not note complaint %s", hc, comp.ID)
		}
	}
	if r.Forward != nil {
		got.forward = r.Forward.Thread.State
		if r.Forward.ID != comp.ID || comp.Thread.State == got.forward {
			tb.Errorf("forwarded %s with thread %+v; want %s, the caller's complaint unchanged", r.Forward.ID, r.Forward.Thread, comp.ID)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		tb.Errorf("routed %+v\nwant   %+v", got, want)
	}
	for _, n := range r.Notices {
		if n.Kind != NoticeUrge || n.Case != r.Updated.ID || n.Reference != comp.Reference || n.Urgency != r.Updated.Urgency {
			tb.Errorf("notice %+v, want the urge of %s on the changed case", n, comp.Reference)
		}
	}
	if c := r.Candidate; c != nil && (c.Entry.Case != r.Opened.ID || c.Entry.Complaint != comp.ID || c.Entry.Customer != comp.Customer.Key) {
		tb.Errorf("batch candidate %+v, want complaint %s on case %s", c.Entry, comp.ID, r.Opened.ID)
	}
}

// TestRouteComplaintInOrder: complaints decided one after another against
// the records their predecessors changed attach to the first case, and the
// case records every contact.
func TestRouteComplaintInOrder(t *testing.T) {
	e := miniEngine(t)
	dedupe := normalize.DefaultDedupeConfig()
	first := complaintOf("api:w1", wangKey, 0, "光猫LOS灯一直红，宽带从昨晚断到现在，报修电话打了三次都没人上门")
	steps := []struct {
		comp normalize.Complaint
		want Outcome
	}{
		{first, OutcomeNew},
		{complaintOf("api:w2", wangKey, 10*time.Minute, "光猫LOS灯一直红，宽带从昨晚断到现在，保修电话打了三次都没人上门"), OutcomeDuplicate},
		{replyOf("email:l1", time.Hour, first.Reference, wangKey, normalize.CaseOpen), OutcomeReply},
		{complaintOf("api:w3", wangKey, 48*time.Hour, "受理编号"+first.Reference+"的宽带故障还没人管，第三次投诉了"), OutcomeRepeat},
		{first, OutcomeRedelivered},
	}
	m := newMemRecords()
	for _, s := range steps {
		if r := routeOn(t, m, e, dedupe, s.comp); r.Outcome != s.want {
			t.Errorf("%s: %s, want %s", s.comp.ID, r.Outcome, s.want)
		}
	}
	c := m.cases[first.Reference]
	if len(m.cases) != 1 || len(c.Contacts) != 3 || c.Duplicates != 1 || c.Urgency != 2 {
		t.Errorf("%d cases; case %s has %d contacts, %d duplicates, urgency %d; want 1 case, 3 contacts, 1 duplicate, urgency 2",
			len(m.cases), c.ID, len(c.Contacts), c.Duplicates, c.Urgency)
	}
	if h := m.histories[wangKey]; len(h.Cases) != 1 || len(h.Cases[0].References) != 4 {
		t.Errorf("history %+v, want one case with 4 references", h.Cases)
	}
}

// TestAnswerToOurMail: the customer's answer to a mail tousu wrote on the
// case (its In-Reply-To names our Message-ID) joins the case as a reply,
// not as a repeat complaint (重复投诉, which statistics count); the same
// customer writing again in their own thread is still a repeat.
func TestAnswerToOurMail(t *testing.T) {
	e := telecom(t)
	const ours = "tousu.case.0123456789abcdef@tousu.example.com"
	mail := func(id string, after time.Duration, text, inReplyTo, references string) normalize.Complaint {
		c := complaintOf(id, wangKey, after, text)
		c.Channel = ingest.ChannelEmail
		c.Customer.Email = "wang.li@163.com"
		c.Extra = map[string]string{ingest.ExtraMessageID: id + "@163.com", normalize.ExtraInReplyTo: inReplyTo, normalize.ExtraReferences: references}
		return c
	}
	for _, tt := range []struct {
		name      string
		inReplyTo string
		outcome   Outcome
		kind      string
	}{
		{"an answer to our reply", ours, OutcomeReply, ContactReply},
		{"a follow-up in the customer's own thread", "email-1@163.com", OutcomeRepeat, ContactRepeat},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := newMemRecords()
			first := routeOn(t, m, e, dedupeWith(nil), mail("email-1", 0, "宽带从3月1号起每晚断网，报修两次没人来，工单号BX0301-17", "", ""))
			c := m.cases[first.Opened.ID]
			c.MessageIDs = append(c.MessageIDs, ours) // the router's reply, as Notify adds it
			m.cases[c.ID] = c
			r := routeOn(t, m, e, dedupeWith(nil), mail("email-2", 26*time.Hour, "好的，明天上午我在家，师傅来之前先打电话", tt.inReplyTo, "email-1@163.com "+tt.inReplyTo))
			if r.Outcome != tt.outcome || r.Updated == nil || r.Updated.ID != c.ID {
				t.Fatalf("outcome %s, updated %v; want %s on case %s", r.Outcome, r.Updated, tt.outcome, c.ID)
			}
			if got := r.Updated.Contacts[len(r.Updated.Contacts)-1].Kind; got != tt.kind || len(r.Notices) != 1 || r.Updated.Urgency != 1 {
				t.Fatalf("contact kind %s, %d notices, urgency %d; want %s, an urge and urgency 1", got, len(r.Notices), r.Updated.Urgency, tt.kind)
			}
		})
	}
}
