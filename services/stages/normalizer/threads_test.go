package normalizer

import (
	"context"
	"errors"
	"slices"
	"testing"

	"go.uber.org/zap"

	"github.com/tousu/tousu/normalize"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/services/stages/stagetest"
	"github.com/tousu/tousu/sinks/caseindex"
)

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
