package normalize

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tousu/tousu/ingest"
)

// DedupeConfig configures duplicate, repeat and batch detection. The seeds
// fix none of these numbers (the telecom branch rules name 重复投诉 and
// 批量投诉 but leave the 批量投诉定义标准 to each organisation), so every
// default below is a configurable default. Zero fields take the defaults.
//
//	normalize:
//	  dedupe:
//	    duplicate_window: 24h
//	    duplicate_similarity: 0.8
//	    repeat_similarity: 0.5
//	    repeat_window_days: 90
//	    batch_window: 2h
//	    batch_similarity: 0.6
//	    batch_min_customers: 5
type DedupeConfig struct {
	// Disabled turns all detection off: every complaint opens a case.
	Disabled bool `yaml:"disabled"`
	// DuplicateWindow is how far apart two near-identical complaints of one
	// customer may be received to be one contact (default 24h).
	DuplicateWindow time.Duration `yaml:"duplicate_window"`
	// DuplicateSimilarity is the text similarity (0..1, Jaccard of
	// character bigrams) from which two complaints are near-identical
	// (default 0.8).
	DuplicateSimilarity float64 `yaml:"duplicate_similarity"`
	// RepeatSimilarity is the similarity from which a customer's complaint
	// is about the same matter as one of their earlier cases (default 0.5).
	// Quoting the case's reference number is always the same matter.
	RepeatSimilarity float64 `yaml:"repeat_similarity"`
	// RepeatWindowDays is how long a case is remembered for repeat
	// detection after its last activity (default 90).
	RepeatWindowDays int `yaml:"repeat_window_days"`
	// MaxCasesPerCustomer bounds the cases remembered per customer, the
	// most recently active kept (default 20).
	MaxCasesPerCustomer int `yaml:"max_cases_per_customer"`

	// BatchDisabled turns batch detection off.
	BatchDisabled bool `yaml:"batch_disabled"`
	// BatchWindow is how close in time similar complaints of different
	// customers must be received to form a batch (default 2h).
	BatchWindow time.Duration `yaml:"batch_window"`
	// BatchSimilarity is the similarity from which two complaints of
	// different customers count towards one batch (default 0.6).
	BatchSimilarity float64 `yaml:"batch_similarity"`
	// BatchMinCustomers is how many different customers make a batch
	// (default 5).
	BatchMinCustomers int `yaml:"batch_min_customers"`
	// BatchMaxRemembered bounds the complaints batch detection remembers
	// (default 50000, about 100 MiB): beyond it the earliest are
	// forgotten before their BatchWindow ends, so that a flood of
	// complaints shortens the window instead of growing the memory.
	BatchMaxRemembered int `yaml:"batch_max_remembered"`
}

// The defaults of DedupeConfig.
const (
	DefaultDuplicateWindow     = 24 * time.Hour
	DefaultDuplicateSimilarity = 0.8
	DefaultRepeatSimilarity    = 0.5
	DefaultRepeatWindowDays    = 90
	DefaultMaxCasesPerCustomer = 20
	DefaultBatchWindow         = 2 * time.Hour
	DefaultBatchSimilarity     = 0.6
	DefaultBatchMinCustomers   = 5
	DefaultBatchMaxRemembered  = 50000
)

// DefaultDedupeConfig returns the defaults.
func DefaultDedupeConfig() DedupeConfig {
	c := DedupeConfig{}
	c.Provision()
	return c
}

// Provision fills every zero field with its default.
func (c *DedupeConfig) Provision() {
	setDefault(&c.DuplicateWindow, DefaultDuplicateWindow)
	setDefault(&c.DuplicateSimilarity, DefaultDuplicateSimilarity)
	setDefault(&c.RepeatSimilarity, DefaultRepeatSimilarity)
	setDefault(&c.RepeatWindowDays, DefaultRepeatWindowDays)
	setDefault(&c.MaxCasesPerCustomer, DefaultMaxCasesPerCustomer)
	setDefault(&c.BatchWindow, DefaultBatchWindow)
	setDefault(&c.BatchSimilarity, DefaultBatchSimilarity)
	setDefault(&c.BatchMinCustomers, DefaultBatchMinCustomers)
	setDefault(&c.BatchMaxRemembered, DefaultBatchMaxRemembered)
}

// Validate checks the configuration, with defaults for its zero fields,
// and reports every problem by its key. It changes nothing.
func (c DedupeConfig) Validate() error {
	var errs []error
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"duplicate_window", c.DuplicateWindow}, {"batch_window", c.BatchWindow}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s: must not be negative, got %s", d.name, d.v))
		}
	}
	for _, s := range []struct {
		name string
		v    float64
	}{{"duplicate_similarity", c.DuplicateSimilarity}, {"repeat_similarity", c.RepeatSimilarity}, {"batch_similarity", c.BatchSimilarity}} {
		if s.v < 0 || s.v > 1 {
			errs = append(errs, fmt.Errorf("%s: must be between 0 and 1, got %v", s.name, s.v))
		}
	}
	for _, n := range []struct {
		name string
		v    int
	}{{"repeat_window_days", c.RepeatWindowDays}, {"max_cases_per_customer", c.MaxCasesPerCustomer}, {"batch_min_customers", c.BatchMinCustomers}, {"batch_max_remembered", c.BatchMaxRemembered}} {
		if n.v < 0 {
			errs = append(errs, fmt.Errorf("%s: must not be negative, got %d", n.name, n.v))
		}
	}
	if c.BatchMinCustomers == 1 {
		errs = append(errs, errors.New("batch_min_customers: a batch needs at least 2 customers"))
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	c.Provision() // a copy: compare the values in effect
	if c.RepeatSimilarity > c.DuplicateSimilarity {
		return fmt.Errorf("repeat_similarity: %v exceeds duplicate_similarity %v: a near-identical complaint must also be the same matter", c.RepeatSimilarity, c.DuplicateSimilarity)
	}
	return nil
}

func setDefault[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}

// RepeatWindow is RepeatWindowDays as a duration.
func (c DedupeConfig) RepeatWindow() time.Duration {
	return time.Duration(c.RepeatWindowDays) * 24 * time.Hour
}

// CaseState is what detection needs to know of a case's status: whether a
// new complaint can still be attached to it.
type CaseState string

// The states of a remembered case.
const (
	CaseOpen     CaseState = "open"     // open or in progress: attach
	CaseResolved CaseState = "resolved" // 已办结: a repeat opens a new, linked case
	CaseClosed   CaseState = "closed"   // closed otherwise: as resolved
)

// Finished reports whether no complaint can be attached to the case.
func (s CaseState) Finished() bool { return s == CaseResolved || s == CaseClosed }

// ComplaintRecord is what the history keeps of one complaint.
type ComplaintRecord struct {
	ID         string    `json:"id"`
	Reference  string    `json:"reference"`
	ReceivedAt time.Time `json:"received_at"`
	Sketch     Sketch    `json:"sketch"`
	Numbers    []string  `json:"numbers,omitempty"`
	// MessageID is the Message-ID of an e-mail complaint (without angle
	// brackets), so that a reply naming it in In-Reply-To or References
	// is recognised; empty for other channels and for records written
	// before it was kept.
	MessageID string `json:"message_id,omitempty"`
}

// Keys of Complaint.Extra that e-mail threading reads. The e-mail channel
// (ingest/imap) sets them: the message ids of the In-Reply-To and
// References headers, without angle brackets, separated by spaces. The
// complaint's own Message-ID is Extra[ingest.ExtraMessageID].
const (
	ExtraInReplyTo  = "in_reply_to"
	ExtraReferences = "references"
)

// MessageID returns the Message-ID (without angle brackets) of an e-mail
// complaint, Extra[ingest.ExtraMessageID], or "" for other channels.
func MessageID(c Complaint) string {
	if c.Channel != ingest.ChannelEmail {
		return ""
	}
	return c.Extra[ingest.ExtraMessageID]
}

// CaseRecord is what the history keeps of one case of a customer.
type CaseRecord struct {
	ID    string    `json:"id"`
	State CaseState `json:"state"`
	// References are the references of every complaint on the case; they
	// tell a complaint already handled, and a quoted one marks a repeat.
	References []string `json:"references"`
	// Complaints are the case's first complaint and its latest ones, at
	// most ComplaintsPerCase, for text comparison.
	Complaints   []ComplaintRecord `json:"complaints"`
	LastActivity time.Time         `json:"last_activity"`
}

// ComplaintsPerCase bounds the complaints a CaseRecord keeps for comparison.
const ComplaintsPerCase = 10

// CustomerHistory is what detection remembers of one customer: their recent
// cases. It is a value owned by whoever loaded it; History stores it.
type CustomerHistory struct {
	Key   string       `json:"key"`
	Cases []CaseRecord `json:"cases"`
}

// History keeps customers' histories for duplicate and repeat detection.
//
// The pipeline partitions complaints.normalized by customer key, so one
// router instance owns a customer and is the only writer of its history;
// an implementation need not merge concurrent writers of one key, but must
// be safe for concurrent use. Load and Save block until done or ctx ends.
// Save stores all given histories atomically. A caller saves only after the
// cases its decisions produced were acknowledged by the broker, so a crash
// in between makes the complaints be decided again from the old history,
// which yields the same cases and revisions.
//
// A consumer of case actions marks a case resolved with Load, SetState and
// Save on the case's customer key (router.Case.Customer.Key).
type History interface {
	// Load returns the history of the customer with key; an unknown
	// customer has an empty history, not an error.
	Load(ctx context.Context, key string) (CustomerHistory, error)
	// Save stores histories, replacing the stored ones of their keys; an
	// empty history deletes the key.
	Save(ctx context.Context, hs ...CustomerHistory) error
}

// Anonymous reports whether a customer key stands for no known customer
// (a complaint without phone or email is its own customer): such a key has
// no history and takes part in no detection.
func Anonymous(key string) bool { return key == "" || strings.HasPrefix(key, "anonymous:") }

// Handled reports whether the complaint is already on one of the
// customer's cases (a redelivery).
func (h *CustomerHistory) Handled(c Complaint) bool {
	for _, cs := range h.Cases {
		if slices.Contains(cs.References, c.Reference) {
			return true
		}
	}
	return false
}

// Case returns the record of a case, or nil.
func (h *CustomerHistory) Case(id string) *CaseRecord {
	for i := range h.Cases {
		if h.Cases[i].ID == id {
			return &h.Cases[i]
		}
	}
	return nil
}

// Record notes that the complaint is on case caseID (opened by it or
// attached to it). A new case starts open.
func (h *CustomerHistory) Record(caseID string, c Complaint, fp Fingerprint) {
	if h.Key == "" {
		h.Key = c.Customer.Key
	}
	cs := h.Case(caseID)
	if cs == nil {
		h.Cases = append(h.Cases, CaseRecord{ID: caseID, State: CaseOpen})
		cs = &h.Cases[len(h.Cases)-1]
	}
	if !slices.Contains(cs.References, c.Reference) {
		cs.References = append(cs.References, c.Reference)
	}
	if c.ReceivedAt.After(cs.LastActivity) {
		cs.LastActivity = c.ReceivedAt
	}
	if slices.ContainsFunc(cs.Complaints, func(r ComplaintRecord) bool { return r.ID == c.ID }) {
		return
	}
	cs.Complaints = append(cs.Complaints, ComplaintRecord{ID: c.ID, Reference: c.Reference, ReceivedAt: c.ReceivedAt,
		Sketch: fp.Sketch, Numbers: fp.Numbers, MessageID: MessageID(c)})
	if n := len(cs.Complaints); n > ComplaintsPerCase {
		// Keep the first complaint, which states the matter, and the latest.
		cs.Complaints = append(cs.Complaints[:1], cs.Complaints[n-ComplaintsPerCase+1:]...)
	}
}

// SetState records a case's new state as of at; it reports whether the
// history knows the case.
func (h *CustomerHistory) SetState(caseID string, state CaseState, at time.Time) bool {
	cs := h.Case(caseID)
	if cs == nil {
		return false
	}
	cs.State = state
	if at.After(cs.LastActivity) {
		cs.LastActivity = at
	}
	return true
}

// Prune forgets the cases inactive for longer than the repeat window as of
// now and, beyond MaxCasesPerCustomer, the least recently active ones. It
// returns the ids of the cases it forgot.
func (h *CustomerHistory) Prune(cfg DedupeConfig, now time.Time) []string {
	cutoff := now.Add(-cfg.RepeatWindow())
	slices.SortStableFunc(h.Cases, func(a, b CaseRecord) int { return b.LastActivity.Compare(a.LastActivity) })
	var dropped []string
	keep := h.Cases[:0]
	for _, cs := range h.Cases {
		if cs.LastActivity.Before(cutoff) || (cfg.MaxCasesPerCustomer > 0 && len(keep) >= cfg.MaxCasesPerCustomer) {
			dropped = append(dropped, cs.ID)
			continue
		}
		keep = append(keep, cs)
	}
	clear(h.Cases[len(keep):])
	h.Cases = keep
	return dropped
}

// LastActivity is the latest activity of any of the customer's cases.
func (h *CustomerHistory) LastActivity() time.Time {
	var t time.Time
	for _, cs := range h.Cases {
		if cs.LastActivity.After(t) {
			t = cs.LastActivity
		}
	}
	return t
}

// Kind is what a complaint is to the customer's earlier cases.
type Kind string

// The kinds of Outcome.
const (
	// KindNew: no earlier case of the customer is about the same matter.
	KindNew Kind = "new"
	// KindDuplicate: near-identical to a complaint of an open case received
	// within the duplicate window; attach it to that case.
	KindDuplicate Kind = "duplicate"
	// KindRepeat (重复投诉) about an open case: attach, raise urgency, urge
	// (催办) the owner.
	KindRepeat Kind = "repeat"
	// KindRepeatFinished (重复投诉) about a resolved or closed case: open a
	// new case linked to it.
	KindRepeatFinished Kind = "repeat_finished"
)

// Outcome is Decide's verdict on a complaint.
type Outcome struct {
	Kind Kind
	// Case is the earlier case: the one to attach to (duplicate, repeat)
	// or to link to (repeat_finished); empty for new.
	Case string
	// Match is the reference of the earlier complaint the text matched,
	// the earlier complaint a reply's In-Reply-To or References header
	// names, or the quoted reference.
	Match string
	// Similarity is the text similarity to Match (1 for a reply by header
	// or a quoted reference).
	Similarity float64
	// Reason explains the verdict in English, for the case's explanation.
	Reason string
	// Fingerprint is the complaint's, for History.Record.
	Fingerprint Fingerprint
}

// candidate is the best evidence that a complaint is about one case.
type candidate struct {
	cs        *CaseRecord
	sim       float64 // best similarity among complaints whose numbers agree
	match     string  // reference of that complaint, the replied-to one, or the quoted one
	quote     string  // the case's reference the text quotes, if any
	duplicate bool    // a near-identical complaint within the window
	apart     time.Duration
	// thread is the header (In-Reply-To, References) that names the
	// Message-ID of the case's complaint threadRef; empty if none does.
	thread, threadRef string
}

func (c candidate) sameMatter(cfg DedupeConfig) bool {
	return c.quote != "" || c.thread != "" || c.duplicate || c.sim >= cfg.RepeatSimilarity
}

// threadRank orders header evidence: In-Reply-To names the very mail
// answered, References any ancestor.
func (c candidate) threadRank() int {
	switch c.thread {
	case headerInReplyTo:
		return 2
	case headerReferences:
		return 1
	}
	return 0
}

// The headers a reply names earlier mail in.
const (
	headerInReplyTo  = ThreadByInReplyTo
	headerReferences = ThreadByReferences
)

// names returns the header of the first of ids that names the Message-ID
// of one of recs, and that complaint's reference; ids are in the order of
// replyIDsOf, so In-Reply-To comes before References, and in References
// the nearest ancestor first.
func names(ids []replyID, recs []ComplaintRecord) (header, ref string) {
	for _, id := range ids {
		for _, rec := range recs {
			if rec.MessageID == id.id {
				return id.header, rec.Reference
			}
		}
	}
	return "", ""
}

// Decide says what complaint c is to the customer's history h: a duplicate
// of an open case, a repeat about an open or a finished case, or new. It is
// pure: the same history and complaint always give the same outcome, and
// times are the complaints' received times, never the clock.
//
// Same matter means the text quotes the case's reference, or the complaint
// is an e-mail answering one of the case's e-mail complaints (its
// In-Reply-To or References header, Extra[ExtraInReplyTo] and
// Extra[ExtraReferences], names that complaint's Message-ID), or the text
// is at least RepeatSimilarity similar to one of its complaints with
// numbers that agree (one text's order numbers, amounts and dates include
// the other's): a complaint that differs from another only in an order
// number is another matter. A reply by header is treated like a quoted
// reference: a repeat of an open case, or a new case linked to a finished
// one. Near-identical means at least DuplicateSimilarity similar, within
// DuplicateWindow. An open case wins over a finished one, then a duplicate
// over a repeat, then the higher similarity, then a reply by In-Reply-To
// over one by References over none, then the more recent case. A history
// of another customer, an anonymous customer, or disabled detection
// always gives new.
func Decide(cfg DedupeConfig, h CustomerHistory, c Complaint) Outcome {
	fp := FingerprintOf(c)
	out := Outcome{Kind: KindNew, Fingerprint: fp, Reason: "no earlier case of the customer is about the same matter"}
	if cfg.Disabled || Anonymous(c.Customer.Key) || h.Key != "" && h.Key != c.Customer.Key {
		return out
	}
	replies := replyIDsOf(c, 0)
	var best candidate // best.cs == nil: none yet
	for i := range h.Cases {
		cand := candidate{cs: &h.Cases[i]}
		var top struct {
			sim float64
			ref string
		}
		for _, r := range cand.cs.Complaints {
			if !numbersAgree(fp.Numbers, r.Numbers) {
				continue
			}
			sim := Similarity(fp.Sketch, r.Sketch)
			apart := c.ReceivedAt.Sub(r.ReceivedAt).Abs()
			if sim >= cfg.DuplicateSimilarity && apart <= cfg.DuplicateWindow &&
				(!cand.duplicate || sim > cand.sim || sim == cand.sim && apart < cand.apart) {
				cand.duplicate, cand.sim, cand.match, cand.apart = true, sim, r.Reference, apart
			}
			if sim > top.sim {
				top.sim, top.ref = sim, r.Reference
			}
		}
		if cand.quote = fp.mentions(cand.cs.References); cand.quote != "" && !cand.duplicate {
			cand.sim, cand.match = 1, cand.quote
		}
		if len(replies) > 0 {
			if cand.thread, cand.threadRef = names(replies, cand.cs.Complaints); cand.thread != "" && !cand.duplicate {
				cand.sim, cand.match = 1, cand.threadRef
			}
		}
		if !cand.duplicate && cand.quote == "" && cand.thread == "" {
			cand.sim, cand.match = top.sim, top.ref
		}
		if !cand.sameMatter(cfg) {
			continue
		}
		if best.cs == nil || better(cand, best) {
			best = cand
		}
	}
	if best.cs == nil {
		return out
	}
	out.Case, out.Match, out.Similarity = best.cs.ID, best.match, best.sim
	evidence := best.evidence()
	switch {
	case best.cs.State.Finished():
		out.Kind = KindRepeatFinished
		out.Reason = fmt.Sprintf("same customer, same matter as case %s, which is %s (%s): a new case linked to it", best.cs.ID, best.cs.State, evidence)
	case best.duplicate:
		out.Kind = KindDuplicate
		out.Reason = fmt.Sprintf("same customer, near-identical to open case %s (%s, received %s apart, within %s): attached", best.cs.ID, evidence, best.apart, cfg.DuplicateWindow)
	default:
		out.Kind = KindRepeat
		out.Reason = fmt.Sprintf("same customer complains again about open case %s (%s): attached, urgency raised, owner urged", best.cs.ID, evidence)
	}
	return out
}

// evidence says in English why the complaint is about the candidate's
// case: the text similarity of a duplicate, the header of a reply, the
// quoted reference, or the similarity of a repeat.
func (c candidate) evidence() string {
	similar := fmt.Sprintf("text %.2f similar to complaint %s", c.sim, c.match)
	var parts []string
	if c.duplicate {
		parts = append(parts, similar)
	}
	if c.thread != "" {
		parts = append(parts, fmt.Sprintf("the mail's %s header names the Message-ID of complaint %s", c.thread, c.threadRef))
	}
	if c.quote != "" {
		parts = append(parts, "the text quotes reference "+c.quote)
	}
	if len(parts) == 0 {
		parts = append(parts, similar)
	}
	return strings.Join(parts, "; ")
}

// better orders candidates: open first, then duplicates, then similarity,
// then replies by In-Reply-To, then by References, then recent activity,
// then case id for determinism.
func better(a, b candidate) bool {
	if af, bf := a.cs.State.Finished(), b.cs.State.Finished(); af != bf {
		return !af
	}
	if a.duplicate != b.duplicate {
		return a.duplicate
	}
	if a.sim != b.sim {
		return a.sim > b.sim
	}
	if ar, br := a.threadRank(), b.threadRank(); ar != br {
		return ar > br
	}
	if c := a.cs.LastActivity.Compare(b.cs.LastActivity); c != 0 {
		return c > 0
	}
	return cmp.Less(a.cs.ID, b.cs.ID)
}
