// Package router decides what a complaint is and what happens to it: it
// applies a policy pack (contact type, category, validity, grade, deadlines
// on the official working-day calendar, routing, escalation) and keeps the
// case. The seam is the Policy interface; Engine implements it from a YAML
// policy pack (see pack.go), Keywords is the walking skeleton's placeholder.
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

// Deadline is one named clock of a case. A clock that could not be computed
// (the calendar does not cover the year it runs into) has no Due and says
// why in Error; it never holds a guessed time.
type Deadline struct {
	Name  string    `json:"name"` // e.g. "reply"
	Due   time.Time `json:"due,omitzero"`
	Basis string    `json:"basis"` // the rule it comes from: document and clause
	// Title is the clock's human name, e.g. 答复用户.
	Title string `json:"title,omitempty"`
	// Amount and Unit are the clock's length, e.g. 15 working_days.
	Amount int    `json:"amount,omitempty"`
	Unit   string `json:"unit,omitempty"`
	// Start is the event that starts the clock (received, resolved…) and
	// StartedAt when it happened; zero while the clock is pending.
	Start     string    `json:"start,omitempty"`
	StartedAt time.Time `json:"started_at,omitzero"`
	// Stop is the event that stops the clock (resolved, closed…).
	Stop string `json:"stop,omitempty"`
	// Default marks a length the seeds do not fix: a configurable default.
	Default bool   `json:"default,omitempty"`
	Error   string `json:"error,omitempty"`
	// StoppedAt is when the clock stopped: the event it waits for
	// happened (the case was resolved or closed). A stopped clock raises
	// no more alerts; Met says whether it stopped before its due time.
	StoppedAt time.Time `json:"stopped_at,omitzero"`
	Met       bool      `json:"met,omitempty"`
	// Extended is how far extend actions (延期) moved Due, added up, in
	// ExtendedUnit, the unit of the pack's bound (Clock.Extendable).
	Extended     int    `json:"extended,omitempty"`
	ExtendedUnit string `json:"extended_unit,omitempty"`
	// PausedAt is when a pause action stopped the clock while the case
	// waits for the customer (暂停中); zero while it runs. A paused clock
	// raises no alerts; a resume action adds the working time it was
	// paused to Due.
	PausedAt time.Time `json:"paused_at,omitzero"`
}

// Paused reports whether a pause action stopped the clock and no resume
// action restarted it yet.
func (d Deadline) Paused() bool { return !d.PausedAt.IsZero() && d.StoppedAt.IsZero() }

// Validity is the verdict on whether a complaint is a valid (有效) one.
// An invalid complaint is kept, searchable and answerable.
type Validity struct {
	Valid  bool   `json:"valid"`
	Reason string `json:"reason,omitempty"`
	Basis  string `json:"basis,omitempty"`
	// Barred lists the claims a rule bars while the complaint itself
	// stays valid (the rule's reason and its basis), e.g. a fine reported
	// after its month.
	Barred []string `json:"barred,omitempty"`
}

// Route is where a case goes. Owner is the agent responsible for it; under
// 首问责任制 the first agent who takes the case stays its owner when it is
// passed on, so Owner is set once and never replaced by a transfer.
type Route struct {
	Department string `json:"department,omitempty" yaml:"department"`
	Queue      string `json:"queue,omitempty" yaml:"queue"`
	Owner      string `json:"owner,omitempty" yaml:"owner"`
}

// Escalation is a case's escalation ladder: the alerts it raises and the
// level it has reached.
type Escalation struct {
	// Level is the highest level among the alerts already due.
	Level int `json:"level"`
	// Alerts are every alert the case's running clocks and grade schedule,
	// in time order. An escalator raises each when At has passed.
	Alerts []Alert `json:"alerts,omitempty"`
}

// Alert is one rung of an escalation ladder.
type Alert struct {
	At     time.Time `json:"at"`
	Level  int       `json:"level"`
	Clock  string    `json:"clock,omitempty"` // empty for a grade's immediate alert
	Step   string    `json:"step"`            // "50%", "breach", "breach+1d", "grade 重大"
	Notify []string  `json:"notify"`
	Basis  string    `json:"basis,omitempty"`
	// RaisedAt is when the escalator raised the alert; zero while it
	// waits. An alert of a stopped clock is never raised.
	RaisedAt time.Time `json:"raised_at,omitzero"`
}

// Explanation records who decided one field of a case and why: a rule
// (with the clause it comes from), the statistical model (with its
// confidence), the pack's default or the input itself.
type Explanation struct {
	Field      string  `json:"field"` // contact_type, category, validity, grade, clock:<name>, route, escalation
	Value      string  `json:"value"`
	By         string  `json:"by"` // rule, model, default, input, note
	Rule       string  `json:"rule,omitempty"`
	Reason     string  `json:"reason,omitempty"`
	Basis      string  `json:"basis,omitempty"`
	Confidence float64 `json:"confidence,omitempty"`
}

// Decision records why the policy decided the category as it did.
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
	// CategoryUncertain marks a category the pack's model was not sure
	// enough of (below its abstain threshold): the case waits in the
	// 待确认分类 queue for an agent to choose, CategorySuggestions first;
	// a recategorize action clears it.
	CategoryUncertain   bool       `json:"category_uncertain,omitempty"`
	CategorySuggestions []string   `json:"category_suggestions,omitempty"`
	Status              Status     `json:"status"`
	ReceivedAt          time.Time  `json:"received_at"`
	UpdatedAt           time.Time  `json:"updated_at"`
	Deadlines           []Deadline `json:"deadlines,omitempty"`
	// Deadline is the earliest open deadline, the one queues sort by; a
	// paused clock's is not.
	Deadline time.Time `json:"deadline,omitzero"`

	// Pack names the policy pack that decided the case (name@version).
	Pack string `json:"pack,omitempty"`
	// ContactType is 查询, 咨询, 障碍申告 or 投诉; only 投诉 get complaint clocks.
	ContactType string   `json:"contact_type,omitempty"`
	Validity    Validity `json:"validity,omitzero"`
	Grade       string   `json:"grade,omitempty"`
	Route       Route    `json:"route,omitzero"`
	// PendingClocks wait for their start event (e.g. the 回访 clock starts
	// when the case is resolved); Engine.Start moves them to Deadlines.
	PendingClocks []Deadline    `json:"pending_clocks,omitempty"`
	Escalation    Escalation    `json:"escalation,omitzero"`
	Explanation   []Explanation `json:"explanation,omitempty"`

	// Contacts are the later complaints attached to the case (duplicates,
	// repeats and replies from other addresses), each with its own
	// reference and text; References and Complaints list them too.
	Contacts []Contact `json:"contacts,omitempty"`
	// MessageIDs are the Message-IDs (without angle brackets) of the
	// case's e-mail complaints, so that a reply naming one in its
	// In-Reply-To or References header finds the case in the index: the
	// first complaint's and the latest, at most MaxMessageIDs.
	MessageIDs []string `json:"message_ids,omitempty"`
	// WorkOrders are the hotline's work-order numbers (工单号, the
	// complaint's SourceID) of the case's hotline complaints, the first
	// and the latest, at most MaxReferences, so that an agent finds the
	// case by the number the hotline system shows.
	WorkOrders []string `json:"work_orders,omitempty"`
	// BusinessType is the business type (业务类型) the source filed the
	// case's first complaint under (Extra[ingest.ExtraBusinessType]).
	BusinessType string `json:"business_type,omitempty"`
	// Consent is the customer's consent to the processing of their
	// personal information that came with the case's first complaint
	// (the privacy notice's version and when): the web form's, or the
	// one a partner passed to the API. Nil when the channel collects none.
	Consent *ingest.Consent `json:"consent,omitempty"`
	// Warnings say what the channel could not read cleanly in the case's
	// first complaint although it kept it (ingest.Warnings: a mail header
	// line skipped, a charset guessed), in Chinese, for agents to check
	// the text against the original.
	Warnings []string `json:"warnings,omitempty"`
	// Duplicates counts the attached near-identical complaints.
	Duplicates int `json:"duplicates,omitempty"`
	// Urgency is raised by one for every repeat complaint (重复投诉) and
	// every reply from another address while the case is open; each
	// raise urges (催办) the owner.
	Urgency int `json:"urgency,omitempty"`
	// LinkedCases are earlier cases this one continues: the customer
	// complained again about the same matter after they were resolved.
	LinkedCases []string `json:"linked_cases,omitempty"`
	// Batch is the batch incident (批量投诉) the case belongs to.
	Batch string `json:"batch,omitempty"`

	// Assignee is the agent handling the case now; Route.Owner is the
	// first agent who took it and stays responsible (首问责任制).
	Assignee string `json:"assignee,omitempty"`
	// History lists what was done to the case, oldest first: agents'
	// actions and the escalator's alerts. An action already in it is
	// not applied again.
	History []Event `json:"history,omitempty"`
	// Omitted counts what was left out of the lists above to keep the
	// case within its bounds, so that the counts stay exact.
	Omitted Omitted `json:"omitted,omitzero"`
	// Erased is set once the case's personal information was erased
	// (Erase): when, why and by whom. Nil for every other case.
	Erased *Erasure `json:"erased,omitempty"`
}
