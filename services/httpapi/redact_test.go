package httpapi

import (
	"reflect"
	"strings"
	"testing"

	"github.com/tousu/tousu/normalize"
	"github.com/tousu/tousu/router"
)

// TestRedactContacts: a role that may not see contacts gets the phones of
// the customer and of the other senders on the case (Contact.From) masked,
// in a copy; the case passed in, shared with other requests, is unchanged.
func TestRedactContacts(t *testing.T) {
	colleague := normalize.Customer{Name: "李四", Phone: "+8613912345678", Email: "li@example.com", Key: "phone:+8613912345678"}
	shared := router.Case{
		ID:       "TS1",
		Customer: normalize.Customer{Name: "张三", Phone: "+8613800138000", Key: "phone:+8613800138000"},
		Contacts: []router.Contact{
			{Complaint: "email:2", Kind: router.ContactRepeat, Text: "again"},
			{Complaint: "email:3", Kind: router.ContactReply, From: colleague, Text: "reply"},
			{Complaint: "email:4", Kind: router.ContactReply, From: normalize.Customer{Email: "wang@example.com", Key: "email:wang@example.com"}},
		},
	}
	snapshot := router.Case{Customer: shared.Customer, Contacts: append([]router.Contact(nil), shared.Contacts...)}

	tests := []struct {
		role                     Role
		customer, colleaguePhone string
	}{
		{RoleAgent, "138****8000", "139****5678"},
		{RoleIntake, "138****8000", "139****5678"},
		{RoleSupervisor, "+8613800138000", "+8613912345678"},
		{RoleAdmin, "+8613800138000", "+8613912345678"},
	}
	for _, tt := range tests {
		t.Run(string(tt.role), func(t *testing.T) {
			got := redact(shared, tt.role)
			if got.Customer.Phone != tt.customer || got.Contacts[1].From.Phone != tt.colleaguePhone {
				t.Errorf("customer phone %q, reply sender's phone %q; want %q, %q", got.Customer.Phone, got.Contacts[1].From.Phone, tt.customer, tt.colleaguePhone)
			}
			if got.Contacts[0].From != (normalize.Customer{}) || got.Contacts[2].From.Phone != "" || got.Contacts[2].From.Email != "wang@example.com" {
				t.Errorf("contacts without a sender's phone changed: %+v", got.Contacts)
			}
			if got.Contacts[1].From.Email != colleague.Email || got.Contacts[1].Text != "reply" || len(got.Contacts) != 3 {
				t.Errorf("more than the phone changed: %+v", got.Contacts[1])
			}
			if !tt.role.SeesContacts() && strings.Contains(got.Contacts[1].From.Phone, "12345678") {
				t.Errorf("%s sees the reply sender's full phone", tt.role)
			}
			if shared.Customer != snapshot.Customer || !reflect.DeepEqual(shared.Contacts, snapshot.Contacts) {
				t.Fatalf("redact modified the shared case: %+v", shared)
			}
		})
	}
}
