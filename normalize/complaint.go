// Package normalize turns a raw envelope into the canonical complaint: clean
// text, a normalised customer identity, and duplicate suppression. It is pure
// code plus the small Seen interface for the state duplicate detection needs.
package normalize

import (
	"time"

	"github.com/tousu/tousu/ingest"
)

// SchemaVersion is the payload version of a Complaint.
const SchemaVersion = 1

// Customer is the complainant as normalised: phone in E.164, email in lower
// case. Key identifies the customer across channels (phone first, then
// email) and is the partition key of complaints.normalized.
type Customer struct {
	Name  string `json:"name,omitempty"`
	Phone string `json:"phone,omitempty"`
	Email string `json:"email,omitempty"`
	Key   string `json:"key"`
}

// Complaint is the canonical complaint, the payload of the
// complaints.normalized topic.
type Complaint struct {
	V           int                 `json:"v"`
	ID          string              `json:"id"`
	Reference   string              `json:"reference"`
	Channel     ingest.Channel      `json:"channel"`
	Source      string              `json:"source,omitempty"`
	SourceID    string              `json:"source_id,omitempty"`
	ReceivedAt  time.Time           `json:"received_at"`
	OccurredAt  time.Time           `json:"occurred_at,omitzero"`
	Customer    Customer            `json:"customer"`
	Subject     string              `json:"subject,omitempty"`
	Description string              `json:"description"`
	Attachments []ingest.Attachment `json:"attachments,omitempty"`
	Extra       map[string]string   `json:"extra,omitempty"`
	// Thread is set by the normalizer on an e-mail reply from an address
	// other than the customer's of the case it answers; the complaint is
	// then keyed by Thread.Customer rather than Customer.Key. Nil for
	// every other complaint.
	Thread *Thread `json:"thread,omitempty"`
}
