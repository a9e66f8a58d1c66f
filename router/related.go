package router

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/normalize"
)

// Where the rules on related complaints come from. Only the telecom branch
// rules define repeat and batch complaints; no seed defines a duplicate
// contact or the batch threshold, so those are configurable defaults.
const (
	BasisDuplicate    = "默认值（种子文件未规定，可配置）：同一客户在时间窗内提交的近似相同投诉并入原工单，受理编号指向原工单"
	BasisRepeatOpen   = "《分公司投诉处理管理办法（试行）》一、㈡2⑴：如果客户投诉的问题正在处理中，客户再次投诉……由其向相关处理部门发工单催办提醒"
	BasisRepeatClosed = "《分公司投诉处理管理办法（试行）》一、㈡2⑵：如果客户对之前投诉问题的处理结果表示不满，再次投诉：受理人员需要重新生成一张投诉工单，需要询问客户的不满的原因"
	BasisBatch        = "《分公司投诉处理管理办法（试行）》一、㈡3：判定为批量投诉的……进行紧急处理……同时对相应工单进行标识；批量投诉定义标准种子文件未给出，人数、时间窗与相似度为默认值（可配置）"
)

// Contact is a later complaint attached to a case.
type Contact struct {
	Complaint  string         `json:"complaint"`
	Reference  string         `json:"reference"`
	Kind       string         `json:"kind"` // ContactDuplicate, ContactRepeat or ContactReply
	Channel    ingest.Channel `json:"channel"`
	ReceivedAt time.Time      `json:"received_at"`
	Subject    string         `json:"subject,omitempty"`
	Text       string         `json:"text"`
	// From is who sent the complaint when that is not the case's customer
	// (their customer keys differ): a colleague answering all, or the
	// customer writing from a second mailbox. It is empty when the case's
	// customer sent it. Like Case.Customer, its phone is masked for roles
	// that may not see contacts.
	From normalize.Customer `json:"from,omitzero"`
	// Consent is the consent that came with the complaint, as
	// Case.Consent.
	Consent *ingest.Consent `json:"consent,omitempty"`
	// Warnings are the complaint's, as Case.Warnings; they go with its
	// text when that is dropped.
	Warnings []string `json:"warnings,omitempty"`
}

// hasText reports whether the contact still has its subject, text or
// warnings.
func (x *Contact) hasText() bool {
	return x.Text != "" || x.Subject != "" || len(x.Warnings) > 0
}

// dropText drops the contact's subject, text and warnings.
func (x *Contact) dropText() {
	x.Subject, x.Text, x.Warnings = "", "", nil
}

// The kinds of Contact.
const (
	ContactDuplicate = "duplicate" // a near-identical complaint (AttachDuplicate)
	ContactRepeat    = "repeat"    // a repeat complaint, 重复投诉 (AttachRepeat)
	ContactReply     = "reply"     // an e-mail reply from another address (AttachReply)
)

// MaxMessageIDs bounds Case.MessageIDs: a case keeps the Message-ID of its
// first e-mail complaint and those of the latest ones, so that a long
// thread does not grow the case without limit. A reply naming only a
// forgotten Message-ID is still found by the reference in its subject or
// the root of its References header, which is usually the first mail.
const MaxMessageIDs = 50

// withMessageID returns ids with the Message-ID of an e-mail complaint
// added (once), bounded by MaxMessageIDs: the first id and the latest are
// kept. A Message-ID longer than normalize.MaxMessageIDBytes is not kept.
// It never writes into the array of ids.
func withMessageID(ids []string, comp normalize.Complaint) []string {
	return addMessageID(ids, normalize.MessageID(comp))
}

// addMessageID returns ids with the Message-ID id added (once), bounded
// by MaxMessageIDs as withMessageID says: the customer's and the
// router's own (Notifier) alike. It never writes into the array of ids.
func addMessageID(ids []string, id string) []string {
	if id == "" || len(id) > normalize.MaxMessageIDBytes || slices.Contains(ids, id) {
		return ids
	}
	return keepEnds(append(slices.Clip(ids), id), 1, MaxMessageIDs, nil)
}

// MaxSourceLabelBytes bounds a work-order number Case.WorkOrders keeps and
// the Case.BusinessType: a longer cell of a hotline export is no number or
// type an agent would type, and the search index bounds what it is asked
// for alike. A longer one is not kept.
const MaxSourceLabelBytes = 200

// businessType is the business type the source filed the complaint under,
// or "" when it is longer than MaxSourceLabelBytes.
func businessType(comp normalize.Complaint) string {
	if t := comp.Extra[ingest.ExtraBusinessType]; len(t) <= MaxSourceLabelBytes {
		return t
	}
	return ""
}

// withWorkOrder returns ids with the work-order number of a hotline
// complaint (its SourceID) added (once), bounded by MaxReferences: the
// first and the latest are kept. A number longer than MaxSourceLabelBytes
// is not kept. It never writes into the array of ids.
func withWorkOrder(ids []string, comp normalize.Complaint) []string {
	id := comp.SourceID
	if comp.Channel != ingest.ChannelHotline || id == "" || len(id) > MaxSourceLabelBytes || slices.Contains(ids, id) {
		return ids
	}
	return keepEnds(append(slices.Clip(ids), id), 1, MaxReferences, nil)
}

// Bounds on what attached contacts add to a case, so that a customer who
// sends the same complaint thousands of times does not grow the case past
// what the broker carries (Kafka's largest record is 1 MiB by default)
// and stall their partition. What goes is the oldest; the case's own
// first complaint stays, and the counts (Duplicates, Urgency) stay exact.
const (
	// MaxContacts bounds Contacts: the latest are kept.
	MaxContacts = 200
	// MaxContactTexts is how many of the latest contacts keep their
	// subject and text; older ones keep their reference, kind, channel,
	// time and sender.
	MaxContactTexts = 20
	// MaxReferences bounds References and Complaints: the case's own
	// first, then the latest.
	MaxReferences = 1000
	// MaxAttachments bounds Attachments: the first half of them (the
	// earliest, the first complaint's among them), then the latest.
	MaxAttachments = 200
	// MaxContactExplanations bounds the explanations attached contacts
	// add (duplicate, repeat, reply, urgency): the latest are kept.
	MaxContactExplanations = 40
)

// keepEnds returns s bounded to max elements: its first head and its
// latest ones, adding how many it dropped to *omitted (nil: not counted).
// It never writes into the array of s.
func keepEnds[T any](s []T, head, max int, omitted *int) []T {
	if len(s) <= max {
		return s
	}
	if omitted != nil {
		*omitted += len(s) - max
	}
	return append(slices.Clip(s[:head]), s[len(s)-(max-head):]...)
}

// contactFields are the explanation fields attaching contacts adds.
var contactFields = []string{ContactDuplicate, ContactRepeat, ContactReply, "urgency"}

// explainContact adds the explanations of an attached contact, keeping
// the latest MaxContactExplanations of their kind.
func explainContact(c Case, ex ...Explanation) Case {
	c.Explanation = append(slices.Clip(c.Explanation), ex...)
	n := 0
	for _, x := range c.Explanation {
		if slices.Contains(contactFields, x.Field) {
			n++
		}
	}
	if drop := n - MaxContactExplanations; drop > 0 {
		c.Omitted.Explanations += drop
		c.Explanation = slices.DeleteFunc(slices.Clone(c.Explanation), func(x Explanation) bool {
			if drop > 0 && slices.Contains(contactFields, x.Field) {
				drop--
				return true
			}
			return false
		})
	}
	return c
}

// The changes below return the case as changed and leave Revision alone:
// the router gives each case it writes the next revision. They copy what
// they change, so the case passed in is never modified.

// AttachDuplicate attaches a near-identical complaint of the same customer:
// its reference, id and attachments join the case, Duplicates grows and the
// explanation says why. A complaint already on the case changes nothing
// (false), so a redelivered one is attached once.
func AttachDuplicate(c Case, comp normalize.Complaint, reason string) (Case, bool) {
	if slices.Contains(c.Complaints, comp.ID) {
		return c, false
	}
	c = attach(c, comp, ContactDuplicate)
	c.Duplicates++
	return explainContact(c, Explanation{Field: ContactDuplicate, Value: comp.Reference, By: "rule", Rule: "duplicate", Reason: reason, Basis: BasisDuplicate}), true
}

// AttachRepeat attaches a repeat complaint (重复投诉) about the open case:
// like AttachDuplicate, and it raises Urgency by one. The caller urges the
// owner with UrgeNotice.
func AttachRepeat(c Case, comp normalize.Complaint, reason string) (Case, bool) {
	return attachUrging(c, comp, urgeRepeat, reason)
}

// AttachReply attaches an e-mail reply from an address other than the
// case's customer's (comp.Thread names the case; a colleague answering
// all, or the customer writing from a second mailbox) to the open case:
// like AttachRepeat, it joins the case as a contact of kind ContactReply
// with its sender in Contact.From, raises Urgency by one and says why
// (rule "reply_other_address"); the caller urges the owner with
// UrgeNotice. A complaint already on the case changes nothing (false).
func AttachReply(c Case, comp normalize.Complaint, reason string) (Case, bool) {
	return attachUrging(c, comp, urgeReply, reason)
}

// AttachAnswer attaches the customer's answer to tousu's own mail (an
// acknowledgement, an agent's reply: AnswersOurMail) to the open case as a
// contact of kind ContactReply, not a repeat complaint: it raises Urgency
// by one, so the owner reads it, but counts as no 重复投诉 and calls for no
// "joined" notice back.
func AttachAnswer(c Case, comp normalize.Complaint, reason string) (Case, bool) {
	return attachUrging(c, comp, urgeAnswer, reason)
}

// AnswersOurMail reports whether comp, an e-mail, answers one of the mails
// tousu wrote on the case (its In-Reply-To or References names one of the
// case's Message-IDs that are tousu's own; see Notifier).
func AnswersOurMail(c Case, comp normalize.Complaint) bool {
	_, ids := normalize.ReplyClues(comp)
	for _, id := range ids {
		if strings.HasPrefix(id, messageIDPrefix) && slices.Contains(c.MessageIDs, id) {
			return true
		}
	}
	return false
}

// urging is how a contact that urges the owner is explained.
type urging struct {
	kind, rule string
	what       string // names the contact in the urgency's reason
}

var (
	urgeRepeat = urging{kind: ContactRepeat, rule: "repeat_open", what: "重复投诉"}
	urgeReply  = urging{kind: ContactReply, rule: "reply_other_address", what: "另一邮箱的回复"}
	urgeAnswer = urging{kind: ContactReply, rule: "answer_to_our_mail", what: "客户对我方邮件的回信"}
)

// attachUrging attaches comp as a contact of u.kind, raises Urgency by one
// and explains both; a complaint already on the case changes nothing.
func attachUrging(c Case, comp normalize.Complaint, u urging, reason string) (Case, bool) {
	if slices.Contains(c.Complaints, comp.ID) {
		return c, false
	}
	c = attach(c, comp, u.kind)
	c.Urgency++
	return explainContact(c,
		Explanation{Field: u.kind, Value: comp.Reference, By: "rule", Rule: u.rule, Reason: reason, Basis: BasisRepeatOpen},
		Explanation{Field: "urgency", Value: fmt.Sprint(c.Urgency), By: "rule", Rule: u.rule, Reason: "催办次数加一：" + u.what + " " + comp.Reference, Basis: BasisRepeatOpen}), true
}

// attach adds comp to the case as a contact of the kind: its reference,
// id, attachments and Message-ID, and its sender in Contact.From when that
// is not the case's customer; within the bounds above.
func attach(c Case, comp normalize.Complaint, kind string) Case {
	c.References = keepEnds(append(slices.Clip(c.References), comp.Reference), 1, MaxReferences, &c.Omitted.References)
	c.Complaints = keepEnds(append(slices.Clip(c.Complaints), comp.ID), 1, MaxReferences, nil)
	c.Attachments = keepEnds(append(slices.Clip(c.Attachments), comp.Attachments...), MaxAttachments/2, MaxAttachments, &c.Omitted.Attachments)
	c.MessageIDs = withMessageID(c.MessageIDs, comp)
	c.WorkOrders = withWorkOrder(c.WorkOrders, comp)
	contact := Contact{
		Complaint: comp.ID, Reference: comp.Reference, Kind: kind, Channel: comp.Channel,
		ReceivedAt: comp.ReceivedAt, Subject: comp.Subject, Text: comp.Description,
		Consent: ingest.ConsentOf(comp.Extra), Warnings: ingest.Warnings(comp.Extra),
	}
	if comp.Customer.Key != c.Customer.Key {
		contact.From = comp.Customer
	}
	c.Contacts = keepEnds(append(slices.Clip(c.Contacts), contact), 0, MaxContacts, &c.Omitted.Contacts)
	if n := len(c.Contacts) - MaxContactTexts - 1; n >= 0 && c.Contacts[n].hasText() {
		c.Contacts = slices.Clone(c.Contacts) // the texts below are the caller's
		c.Contacts[n].dropText()
		c.Omitted.ContactTexts++
	}
	if comp.ReceivedAt.After(c.UpdatedAt) {
		c.UpdatedAt = comp.ReceivedAt
	}
	return c
}

// LinkRepeat links a new case to the earlier, resolved case it repeats
// (重复投诉 after resolution): the agent asks why the customer is not
// satisfied with the result.
func LinkRepeat(c Case, earlier, reason string) Case {
	if slices.Contains(c.LinkedCases, earlier) {
		return c
	}
	c.LinkedCases = append(slices.Clip(c.LinkedCases), earlier)
	c.Explanation = append(slices.Clip(c.Explanation), Explanation{Field: "linked_case", Value: earlier, By: "rule", Rule: "repeat_resolved",
		Reason: reason + "；请询问客户对上次处理结果不满意的原因", Basis: BasisRepeatClosed})
	return c
}

// FlagBatch flags the case as part of a batch incident (批量投诉). A case
// already flagged with the batch changes nothing (false); a case keeps the
// first batch it was flagged with.
func FlagBatch(c Case, batch, reason string) (Case, bool) {
	if c.Batch != "" {
		return c, false
	}
	c.Batch = batch
	c.Explanation = append(slices.Clip(c.Explanation), Explanation{Field: "batch", Value: batch, By: "rule", Rule: "batch", Reason: reason, Basis: BasisBatch})
	return c, true
}

// NoticeVersion is the payload version of a Notice.
const NoticeVersion = 1

// The kinds of Notice.
const (
	NoticeUrge  = "urge"  // 催办: a repeat complaint about an open case
	NoticeBatch = "batch" // 批量投诉: a batch incident formed
	// NoticeEscalation is a rung of a case's escalation ladder: a warning
	// before a deadline, its breach, or a grade's immediate alert.
	NoticeEscalation = "escalation"
)

// Notice is an event the router raises on the alerts topic for people to
// act on, besides the escalation ladder's alerts: an urge (催办) to the
// owner of a case the customer complained about again, or a batch incident
// (批量投诉), raised once when it forms. ID is deterministic, so a
// consumer drops a notice delivered twice by its ID. Urges are keyed by
// case id, batches by batch id.
type Notice struct {
	V    int       `json:"v"`
	ID   string    `json:"id"`
	Kind string    `json:"kind"`
	At   time.Time `json:"at"`
	// Case, Reference (the new complaint's), Urgency and Route are set on
	// an urge.
	Case      string `json:"case,omitempty"`
	Reference string `json:"reference,omitempty"`
	Urgency   int    `json:"urgency,omitempty"`
	Route     Route  `json:"route,omitzero"`
	// Level, Clock, Step, Due and Notify are set on an escalation: the
	// rung's level, the clock it warns about (empty for a grade's
	// immediate alert), the step ("50%", "breach"), the clock's due time
	// and who is to be alerted (department head, quality director…).
	Level  int       `json:"level,omitempty"`
	Clock  string    `json:"clock,omitempty"`
	Step   string    `json:"step,omitempty"`
	Due    time.Time `json:"due,omitzero"`
	Notify []string  `json:"notify,omitempty"`
	// Batch, Cases and Customers are set on a batch.
	Batch     string   `json:"batch,omitempty"`
	Cases     []string `json:"cases,omitempty"`
	Customers int      `json:"customers,omitempty"`
	// Category and Excerpt describe the matter.
	Category string `json:"category,omitempty"`
	Excerpt  string `json:"excerpt,omitempty"`
	Reason   string `json:"reason"`
	Basis    string `json:"basis"`
}

// UrgeNotice is the urge (催办) for a repeat complaint attached to c.
func UrgeNotice(c Case, comp normalize.Complaint, reason string) Notice {
	return Notice{
		V: NoticeVersion, ID: "urge:" + c.ID + ":" + comp.ID, Kind: NoticeUrge, At: comp.ReceivedAt,
		Case: c.ID, Reference: comp.Reference, Urgency: c.Urgency, Route: c.Route,
		Category: c.Category, Excerpt: excerpt(comp.Description), Reason: reason, Basis: BasisRepeatOpen,
	}
}

// excerpt is the first 120 characters of a text.
func excerpt(s string) string {
	r := []rune(s)
	if len(r) <= 120 {
		return s
	}
	return string(r[:120]) + "…"
}
