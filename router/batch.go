package router

import (
	"time"

	"github.com/tousu/tousu/normalize"
)

// BatchCandidateVersion is the payload version of a BatchCandidate.
const BatchCandidateVersion = 1

// BatchCandidate is a complaint that opened a case, offered to batch
// detection (批量投诉): the payload of the complaints.batch topic, keyed by
// the case's pack. Routers own customers by partition and so see only some
// of the complaints; the batcher reads every candidate and finds the
// similar complaints of different customers.
type BatchCandidate struct {
	V int `json:"v"`
	// Entry is the complaint as batch detection remembers it: its case,
	// customer, received time and text sketch.
	Entry normalize.BatchEntry `json:"entry"`
	// Pack, Category and Excerpt describe the matter for the batch notice.
	Pack     string `json:"pack,omitempty"`
	Category string `json:"category,omitempty"`
	Excerpt  string `json:"excerpt,omitempty"`
}

// NewBatchCandidate is the candidate of complaint comp, which opened case c
// and has the fingerprint fp.
func NewBatchCandidate(c Case, comp normalize.Complaint, fp normalize.Fingerprint) BatchCandidate {
	return BatchCandidate{
		V:     BatchCandidateVersion,
		Entry: normalize.BatchEntry{Complaint: comp.ID, Customer: comp.Customer.Key, Case: c.ID, ReceivedAt: comp.ReceivedAt, Sketch: fp.Sketch},
		Pack:  c.Pack, Category: c.Category, Excerpt: excerpt(comp.Description),
	}
}

// FlagBatchAction is the action flagging the case of e as part of batch,
// sent by batch detection (actor "batch") at the time at the batch formed
// or e joined it. Its id names the batch and the case, so it applies once.
func FlagBatchAction(e normalize.BatchEntry, batch, reason string, at time.Time) Action {
	return Action{V: ActionVersion, ID: "batch:" + batch + ":" + e.Case, Case: e.Case, Customer: e.Customer,
		Kind: ActionFlagBatch, Actor: "batch", At: at, Batch: batch, Reason: reason}
}

// BatchNotice announces a batch incident once, when it forms: its cases,
// how many different customers filed them, and the matter as the
// candidate that formed it describes it (at its received time).
func BatchNotice(batch string, cases []string, customers int, formedBy BatchCandidate, reason string) Notice {
	return Notice{V: NoticeVersion, ID: "batch:" + batch, Kind: NoticeBatch, At: formedBy.Entry.ReceivedAt, Batch: batch,
		Cases: cases, Customers: customers, Category: formedBy.Category, Excerpt: formedBy.Excerpt, Reason: reason, Basis: BasisBatch}
}
