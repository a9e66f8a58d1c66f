// Package router decides what a complaint is and what happens to it: it
// applies a policy (category, validity, grade, deadlines, routing) and keeps
// the case. The full policy engine replaces Keywords in its own issue; the
// seam is the Policy interface.
package router

import (
	"time"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/normalize"
)

// SchemaVersion is the payload version of a Case.
const SchemaVersion = 1

// Status is where a case stands in its life.
type Status string

// The statuses a case can have.
const (
	StatusOpen       Status = "open"        // 已受理
	StatusInProgress Status = "in_progress" // 处理中
	StatusResolved   Status = "resolved"    // 已办结
	StatusClosed     Status = "closed"      // 已关闭
)

// Deadline is one named clock of a case.
type Deadline struct {
	Name  string    `json:"name"` // e.g. "reply"
	Due   time.Time `json:"due"`
	Basis string    `json:"basis"` // the rule it comes from: document and clause
}

// Decision records why the policy decided as it did.
type Decision struct {
	Category   string  `json:"category"`
	Reason     string  `json:"reason"`
	Confidence float64 `json:"confidence"`
}

// Case is what agents work on: one or more complaints with the policy's
// verdict. It is the payload of the cases topic, keyed by ID. Revision grows
// with every change; an index never replaces a higher revision by a lower.
type Case struct {
	V           int                 `json:"v"`
	ID          string              `json:"id"`
	Revision    int64               `json:"revision"`
	References  []string            `json:"references"`
	Complaints  []string            `json:"complaints"` // complaint ids
	Channel     ingest.Channel      `json:"channel"`
	Source      string              `json:"source,omitempty"`
	Customer    normalize.Customer  `json:"customer"`
	Subject     string              `json:"subject,omitempty"`
	Description string              `json:"description"`
	Attachments []ingest.Attachment `json:"attachments,omitempty"`
	Category    string              `json:"category"`
	Decision    Decision            `json:"decision"`
	Status      Status              `json:"status"`
	ReceivedAt  time.Time           `json:"received_at"`
	UpdatedAt   time.Time           `json:"updated_at"`
	Deadlines   []Deadline          `json:"deadlines,omitempty"`
	// Deadline is the earliest open deadline, the one queues sort by.
	Deadline time.Time `json:"deadline,omitzero"`
}
