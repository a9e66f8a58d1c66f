package normalize

import "testing"

func TestPartitionKey(t *testing.T) {
	sender := Customer{Key: "email:colleague@example.org"}
	thread := func(state CaseState) *Thread {
		return &Thread{Case: "TS1111111111", Customer: "phone:+8613912345678", State: state, By: ThreadBySubject, Ref: "TS1111111111"}
	}
	tests := []struct {
		name   string
		thread *Thread
		want   string
	}{
		{"no thread: the sender", nil, sender.Key},
		{"an open case: its customer", thread(CaseOpen), "phone:+8613912345678"},
		{"a resolved case: the sender", thread(CaseResolved), sender.Key},
		{"a closed case: the sender", thread(CaseClosed), sender.Key},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := PartitionKey(Complaint{Customer: sender, Thread: tt.thread}); got != tt.want {
				t.Errorf("PartitionKey = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestReplyReason(t *testing.T) {
	tests := []struct {
		name     string
		customer Customer
		thread   Thread
		want     string
	}{
		{"subject, e-mail sender", Customer{Email: "colleague@example.org"}, Thread{By: ThreadBySubject, Ref: "TS1111111111"},
			"an e-mail from colleague@example.org, not the case's customer, quotes its reference TS1111111111 in the subject"},
		{"header, phone only", Customer{Phone: "+8613912345678"}, Thread{By: ThreadByInReplyTo, Ref: "m1@example.com"},
			"an e-mail from 139****5678, not the case's customer, names its mail <m1@example.com> in the In-Reply-To header"},
		{"unknown sender", Customer{}, Thread{By: ThreadByReferences, Ref: "m2@example.com"},
			"an e-mail from another sender, not the case's customer, names its mail <m2@example.com> in the References header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ReplyReason(Complaint{Customer: tt.customer, Thread: &tt.thread}); got != tt.want {
				t.Errorf("ReplyReason =\n%q, want\n%q", got, tt.want)
			}
		})
	}
}
