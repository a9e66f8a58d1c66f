package app

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/tousu/tousu/normalize"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/services/bus"
	"github.com/tousu/tousu/services/stages/stagetest"
	"github.com/tousu/tousu/sinks/caseindex"
)

// withThread sets the thread the normalizer would find for case.
func withThread(c normalize.Complaint, cs router.Case, state normalize.CaseState) normalize.Complaint {
	c.Thread = &normalize.Thread{Case: cs.ID, Customer: cs.Customer.Key, State: state, By: normalize.ThreadBySubject, Ref: cs.ID}
	return c
}

// TestRouterStageRepliesFromAnotherAddress: a reply keyed by the case's
// customer joins the open case once and urges its owner; a reply the
// router cannot attach (the case finished, or not held) goes back keyed by
// its sender, whose router opens a case linked to the answered one.
func TestRouterStageRepliesFromAnotherAddress(t *testing.T) {
	const text = "小区电梯坏了一个星期，物业一直说在修，老人上下楼很困难"
	p := newTestPipeline(t, t.TempDir(), 2, nil)
	first := stagetest.Complaint(1, 1, text, 0)
	p.run(t, []normalize.Complaint{first})
	cases, _ := p.w.Cases(t)
	cs := cases[first.Reference]

	reply := withThread(stagetest.ReplyComplaint(2, 1, "回复："+cs.ID, "", time.Hour), cs, normalize.CaseOpen)
	p.run(t, []normalize.Complaint{reply}, []normalize.Complaint{reply}) // the second is a redelivery
	cases, n := p.w.Cases(t)
	got := cases[cs.ID]
	if len(cases) != 1 || n != 2 || got.Urgency != 1 || len(got.Contacts) != 1 || got.Contacts[0].Kind != router.ContactReply ||
		got.Contacts[0].From.Key != reply.Customer.Key || !slices.Contains(got.References, reply.Reference) {
		t.Fatalf("after the reply: %d case messages, cases %+v", n, cases)
	}
	if urges := p.w.Notices(t); len(urges) != 1 || urges[0].Kind != router.NoticeUrge || urges[0].Case != cs.ID {
		t.Errorf("notices %+v, want one urge", urges)
	}

	// The case is resolved; a reply the normalizer still saw open is sent
	// on to its sender's router.
	resolve := router.Action{V: router.ActionVersion, ID: "a1", Case: cs.ID, Customer: cs.Customer.Key, Kind: router.ActionResolve, Actor: "1001", At: stagetest.T0.Add(2 * time.Hour)}
	if err := p.route([]bus.Message{stagetest.ActionMessage(t, resolve)}); err != nil {
		t.Fatal(err)
	}
	late := withThread(stagetest.ReplyComplaint(3, 1, "回复："+cs.ID, "", 3*time.Hour), cs, normalize.CaseOpen)
	// A reply to a case no router holds is sent on too.
	unknown := withThread(stagetest.ReplyComplaint(4, 1, "回复：TS0000000000", "", 3*time.Hour), router.Case{ID: "TS0000000000", Customer: normalize.Customer{Key: "phone:+8613900000099"}}, normalize.CaseOpen)
	p.run(t, []normalize.Complaint{late, unknown})
	cases, _ = p.w.Cases(t)
	for _, tc := range []struct {
		c      normalize.Complaint
		linked string
	}{{late, cs.ID}, {unknown, "TS0000000000"}} {
		opened, ok := cases[tc.c.Reference]
		if !ok || !slices.Equal(opened.LinkedCases, []string{tc.linked}) || opened.Customer.Key != tc.c.Customer.Key {
			t.Errorf("reply %s: case %+v, want its own case linked to %s", tc.c.ID, opened, tc.linked)
		}
	}
	if c := cases[cs.ID]; len(c.Contacts) != 1 || c.Status != router.StatusResolved {
		t.Errorf("the resolved case took a reply: %+v", c)
	}
}

// stubIndex answers searches from a list of cases, or fails.
type stubIndex struct {
	caseindex.Index
	cases []router.Case
	err   error
}

func (x stubIndex) Search(_ context.Context, q caseindex.Query) (caseindex.Result, error) {
	if x.err != nil {
		return caseindex.Result{}, x.err
	}
	for _, c := range x.cases {
		if id := q.Filters["message_id"]; id != "" && slices.Contains(c.MessageIDs, id) ||
			q.Filters["reference"] != "" && slices.Contains(c.References, q.Filters["reference"]) {
			return caseindex.Result{Total: 1, Hits: []router.Case{c}}, nil
		}
	}
	return caseindex.Result{}, nil
}

func TestThreadFinder(t *testing.T) {
	owner := router.Case{ID: "TS1111111111", References: []string{"TS1111111111"}, MessageIDs: []string{"m1@example.com"},
		Customer: normalize.Customer{Key: "email:zhangsan@example.com"}, Status: router.StatusOpen}
	resolved := owner
	resolved.Status = router.StatusResolved
	colleague := stagetest.ReplyComplaint(2, 1, "Re: 宽带", "m1@example.com", 0)
	own := colleague
	own.Customer.Key = owner.Customer.Key
	bySubject := stagetest.ReplyComplaint(2, 2, "回复：受理编号ts1111111111", "", 0)
	tests := []struct {
		name  string
		index stubIndex
		c     normalize.Complaint
		want  *normalize.Thread
		key   string
	}{
		{"In-Reply-To names the case's mail", stubIndex{cases: []router.Case{owner}}, colleague,
			&normalize.Thread{Case: owner.ID, Customer: owner.Customer.Key, State: normalize.CaseOpen, By: normalize.ThreadByInReplyTo, Ref: "m1@example.com"}, owner.Customer.Key},
		{"subject quotes the reference", stubIndex{cases: []router.Case{owner}}, bySubject,
			&normalize.Thread{Case: owner.ID, Customer: owner.Customer.Key, State: normalize.CaseOpen, By: normalize.ThreadBySubject, Ref: owner.ID}, owner.Customer.Key},
		{"a finished case stays with the sender", stubIndex{cases: []router.Case{resolved}}, colleague,
			&normalize.Thread{Case: owner.ID, Customer: owner.Customer.Key, State: normalize.CaseResolved, By: normalize.ThreadByInReplyTo, Ref: "m1@example.com"}, colleague.Customer.Key},
		{"the case's own customer: no thread", stubIndex{cases: []router.Case{owner}}, own, nil, owner.Customer.Key},
		{"no case found", stubIndex{}, colleague, nil, colleague.Customer.Key},
		{"index down: no thread, no error", stubIndex{err: errors.New("connection refused")}, colleague, nil, colleague.Customer.Key},
		{"not e-mail", stubIndex{cases: []router.Case{owner}}, stagetest.Complaint(2, 3, "Re: TS1111111111", 0), nil, "phone:+8613900000002"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newThreadFinder(tt.index, zap.NewNop(), nil)
			c := tt.c
			c.Thread = f.find(context.Background(), c)
			if (c.Thread == nil) != (tt.want == nil) || c.Thread != nil && *c.Thread != *tt.want {
				t.Errorf("thread %+v, want %+v", c.Thread, tt.want)
			}
			if k := normalize.PartitionKey(c); k != tt.key {
				t.Errorf("partition key %q, want %q", k, tt.key)
			}
		})
	}
}
