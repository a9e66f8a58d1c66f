package router

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/normalize"
)

// mailFrom is an e-mail complaint of the customer with the address, with
// its Message-ID.
func mailFrom(id, address, messageID string, at time.Time) normalize.Complaint {
	c := normalize.Complaint{V: normalize.SchemaVersion, ID: id, Reference: ingest.ReferenceFor(id), Channel: ingest.ChannelEmail,
		ReceivedAt: at, Customer: normalize.Customer{Name: address, Email: address, Phone: "+8613912345678", Key: "email:" + address},
		Subject: "Re: 宽带故障", Description: "补充一下，宽带还是断"}
	if messageID != "" {
		c.Extra = map[string]string{ingest.ExtraMessageID: messageID}
	}
	return c
}

func TestAttachReply(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	first := mailFrom("email:1", "alice@example.com", "m1@alice.example", t0)
	base := Case{V: SchemaVersion, ID: first.Reference, Revision: 1, References: []string{first.Reference}, Complaints: []string{first.ID},
		MessageIDs: []string{"m1@alice.example"}, Customer: first.Customer, Status: StatusOpen, ReceivedAt: t0, UpdatedAt: t0,
		Route: Route{Department: "客服部", Owner: "张三"}}
	colleague := mailFrom("email:2", "bob@example.com", "m2@bob.example", t0.Add(time.Hour))
	again := mailFrom("email:3", "alice@example.com", "m3@alice.example", t0.Add(2*time.Hour))

	tests := []struct {
		name   string
		attach func(Case, normalize.Complaint, string) (Case, bool)
		comp   normalize.Complaint
		kind   string
		rule   string
		from   normalize.Customer // want Contact.From
		urgent bool
	}{
		{"reply from another address", AttachReply, colleague, ContactReply, "reply_other_address", colleague.Customer, true},
		{"repeat from the customer", AttachRepeat, again, ContactRepeat, "repeat_open", normalize.Customer{}, true},
		{"repeat from another address", AttachRepeat, colleague, ContactRepeat, "repeat_open", colleague.Customer, true},
		{"duplicate from the customer", AttachDuplicate, again, ContactDuplicate, "duplicate", normalize.Customer{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, changed := tt.attach(base, tt.comp, "why")
			if !changed || len(c.Contacts) != 1 {
				t.Fatalf("changed %v, contacts %+v", changed, c.Contacts)
			}
			got := c.Contacts[0]
			if got.Kind != tt.kind || got.From != tt.from || got.Reference != tt.comp.Reference || got.Text != tt.comp.Description {
				t.Errorf("contact %+v, want kind %s from %+v", got, tt.kind, tt.from)
			}
			if c.Customer != base.Customer {
				t.Errorf("the case's customer became %+v", c.Customer)
			}
			if want := []string{"m1@alice.example", normalize.MessageID(tt.comp)}; !slices.Equal(c.MessageIDs, want) {
				t.Errorf("message ids %q, want %q", c.MessageIDs, want)
			}
			if !slices.Equal(c.References, []string{first.Reference, tt.comp.Reference}) || !c.UpdatedAt.Equal(tt.comp.ReceivedAt) {
				t.Errorf("references %q, updated %v", c.References, c.UpdatedAt)
			}
			wantUrgency := 0
			if tt.urgent {
				wantUrgency = 1
			}
			if c.Urgency != wantUrgency {
				t.Errorf("urgency %d, want %d", c.Urgency, wantUrgency)
			}
			i := slices.IndexFunc(c.Explanation, func(x Explanation) bool { return x.Field == tt.kind })
			if i < 0 || c.Explanation[i].Rule != tt.rule || c.Explanation[i].Reason != "why" || c.Explanation[i].Value != tt.comp.Reference {
				t.Fatalf("explanation %+v", c.Explanation)
			}
			if tt.urgent {
				u := slices.IndexFunc(c.Explanation, func(x Explanation) bool { return x.Field == "urgency" })
				if u < 0 || c.Explanation[u].Rule != tt.rule || c.Explanation[u].Value != "1" || c.Explanation[u].Basis != BasisRepeatOpen ||
					c.Explanation[i].Basis != BasisRepeatOpen || !strings.Contains(c.Explanation[u].Reason, tt.comp.Reference) {
					t.Errorf("urgency explanation %+v", c.Explanation)
				}
			}
			if len(base.References) != 1 || len(base.Contacts) != 0 || len(base.MessageIDs) != 1 || base.Urgency != 0 || len(base.Explanation) != 0 {
				t.Errorf("the original case was modified: %+v", base)
			}
			// A redelivered complaint is attached once.
			twice, changed := tt.attach(c, tt.comp, "why")
			if changed || len(twice.Contacts) != 1 || twice.Urgency != c.Urgency || len(twice.MessageIDs) != 2 || len(twice.Explanation) != len(c.Explanation) {
				t.Errorf("attaching the same complaint again changed the case: %v %+v", changed, twice)
			}
		})
	}

	// The urge for a reply names the case and the reply.
	c, _ := AttachReply(base, colleague, "why")
	if n := UrgeNotice(c, colleague, "why"); n.Case != base.ID || n.Reference != colleague.Reference || n.Urgency != 1 || n.Route.Owner != "张三" {
		t.Errorf("urge notice %+v", n)
	}
}

func TestMessageIDs(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	first := mailFrom("email:0", "alice@example.com", "m0@x", t0)
	api := relatedComplaint("api:1", t0)
	api.Extra = map[string]string{ingest.ExtraMessageID: "not-a-mail@x"} // only e-mail has Message-IDs
	noID := mailFrom("email:n", "alice@example.com", "", t0)

	tests := []struct {
		name string
		c    normalize.Complaint
		want []string
	}{
		{"e-mail", first, []string{"m0@x"}},
		{"e-mail without Message-ID", noID, nil},
		{"another channel", api, nil},
	}
	e := miniEngine(t)
	for _, tt := range tests {
		t.Run("Open "+tt.name, func(t *testing.T) {
			if got := e.Open(tt.c, t0).MessageIDs; !slices.Equal(got, tt.want) {
				t.Errorf("MessageIDs = %q, want %q", got, tt.want)
			}
		})
	}

	c := e.Open(first, t0)
	var want []string
	for i := 1; i <= 3*MaxMessageIDs; i++ {
		comp := mailFrom(fmt.Sprintf("email:%d", i), "bob@example.com", fmt.Sprintf("m%d@x", i), t0.Add(time.Duration(i)*time.Minute))
		before := slices.Clone(c.MessageIDs)
		next, _ := AttachReply(c, comp, "why")
		if !slices.Equal(c.MessageIDs, before) {
			t.Fatalf("attaching %s modified the case passed in", comp.ID)
		}
		c = next
		want = append(want, comp.Extra[ingest.ExtraMessageID])
	}
	// The same mail delivered to a second mailbox: another complaint, the
	// same Message-ID, kept once.
	dup := mailFrom("email:copy", "bob@example.com", want[len(want)-1], t0.Add(time.Hour))
	c, _ = AttachDuplicate(c, dup, "same mail")
	c, _ = AttachRepeat(c, api, "by phone") // no Message-ID to keep
	long := mailFrom("email:long", "bob@example.com", strings.Repeat("x", normalize.MaxMessageIDBytes)+"@x", t0.Add(2*time.Hour))
	c, _ = AttachReply(c, long, "no filter could find it")
	want = append([]string{"m0@x"}, want[len(want)-MaxMessageIDs+1:]...)
	if !slices.Equal(c.MessageIDs, want) {
		t.Errorf("MessageIDs after %d replies = %q, want the first and the latest %d: %q", 3*MaxMessageIDs, c.MessageIDs, MaxMessageIDs-1, want)
	}
	if len(c.Contacts) != 3*MaxMessageIDs+3 {
		t.Errorf("%d contacts", len(c.Contacts))
	}
}

func TestReplyJSON(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	first := mailFrom("email:1", "alice@example.com", "", t0)
	base := Case{V: SchemaVersion, ID: first.Reference, Customer: first.Customer, Status: StatusOpen}
	own, _ := AttachRepeat(base, mailFrom("email:2", "alice@example.com", "", t0), "again")
	b, err := json.Marshal(own)
	if err != nil {
		t.Fatal(err)
	}
	for _, absent := range []string{`"from"`, `"message_ids"`} {
		if strings.Contains(string(b), absent) {
			t.Errorf("a case without %s writes it: %s", absent, b)
		}
	}
	reply, _ := AttachReply(base, mailFrom("email:3", "bob@example.com", "m3@bob.example", t0), "reply")
	if b, err = json.Marshal(reply); err != nil {
		t.Fatal(err)
	}
	var back Case
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(back.MessageIDs, []string{"m3@bob.example"}) || back.Contacts[0].From.Key != "email:bob@example.com" || back.Contacts[0].Kind != ContactReply {
		t.Errorf("round trip of %s: %+v", b, back)
	}
	if !strings.Contains(string(b), `"message_ids":["m3@bob.example"]`) || !strings.Contains(string(b), `"from":{"name":"bob@example.com"`) {
		t.Errorf("JSON %s", b)
	}
}
