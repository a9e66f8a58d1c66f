package router

import (
	"fmt"
	"slices"

	"github.com/tousu/tousu/ingest"
)

// Bounds on a case's records on the broker. A case grows with every
// contact and action; encoded, it must stay below the broker's largest
// record (1 MiB by default) or its partition stalls.
const (
	// DefaultMaxRecordBytes is the default budget of every record the
	// router writes (router.max_record_bytes): half the broker's default
	// largest record, leaving room for the router.state envelope, the
	// key and the headers.
	DefaultMaxRecordBytes = 512 << 10
	// MinRecordBytes is the smallest budget allowed: a case with its
	// lists emptied and its texts cut still needs a few KiB.
	MinRecordBytes = 32 << 10
	// MaxHistory bounds Case.History: the latest events are kept and
	// Omitted.History counts the others.
	MaxHistory = 500
	// minTrimmedText is what a text cut to fit a budget keeps at least, in
	// bytes.
	minTrimmedText = 256
)

// Omitted counts what was left out of a case to keep it within its bounds
// (MaxContacts, MaxReferences, MaxHistory… and the byte budget of
// EncodeCase), so that the counts stay exact when the lists do not: the
// case had len(Contacts)+Omitted.Contacts contacts, and so on.
type Omitted struct {
	// Contacts counts the oldest contacts dropped.
	Contacts int `json:"contacts,omitempty"`
	// ContactTexts counts the contacts whose subject, text and warnings
	// were dropped (they keep their reference, kind, channel, time and
	// sender).
	ContactTexts int `json:"contact_texts,omitempty"`
	// History counts the oldest history events dropped.
	History int `json:"history,omitempty"`
	// References counts the references (and their complaint ids) dropped
	// between the case's first and its latest.
	References int `json:"references,omitempty"`
	// Attachments counts the attachments dropped.
	Attachments int `json:"attachments,omitempty"`
	// Explanations counts the contacts' explanations dropped.
	Explanations int `json:"explanations,omitempty"`
	// Texts counts the texts cut short (ending in …) to fit the budget.
	Texts int `json:"texts,omitempty"`
}

// EncodeCase returns c fitted to budget bytes and its encoding
// (ingest.EncodeJSON). A case that encodes within budget is returned as it
// is. A larger one loses, oldest first and only as much as needed: its
// contacts' texts, its contacts, its history, its contacts' explanations,
// its references and complaint ids (never the first), its attachments
// (never the first); then its longest texts are cut. Omitted counts what
// went. It is pure and never modifies the case passed in. It fails only
// when the case cannot be made to fit (a budget below MinRecordBytes).
func EncodeCase(c Case, budget int) (Case, []byte, error) {
	b, err := ingest.EncodeJSON(c)
	if err != nil || len(b) <= budget {
		return c, b, err
	}
	c = c.cloneLists()
	for _, trim := range caseTrims {
		for len(b) > budget && trim(&c, len(b)-budget) {
			if b, err = ingest.EncodeJSON(c); err != nil {
				return c, nil, err
			}
		}
		if len(b) <= budget {
			return c, b, nil
		}
	}
	return c, nil, fmt.Errorf("case %s encodes in %d bytes even trimmed, over the budget of %d", c.ID, len(b), budget)
}

// caseTrims are the steps of EncodeCase, in order. Each removes at least
// excess encoded bytes if it can (estimating by the encoded size of what
// it removes) and reports whether it removed anything.
var caseTrims = []func(c *Case, excess int) bool{
	func(c *Case, excess int) bool { // contacts' texts, oldest first
		n := 0
		for i := range c.Contacts {
			if excess <= 0 {
				break
			}
			x := &c.Contacts[i]
			if !x.hasText() {
				continue
			}
			excess -= encodedSize(x.Text) + encodedSize(x.Subject) + encodedSize(x.Warnings)
			x.dropText()
			n++
		}
		c.Omitted.ContactTexts += n
		return n > 0
	},
	func(c *Case, excess int) bool {
		return dropOldest(&c.Contacts, 0, excess, &c.Omitted.Contacts)
	},
	func(c *Case, excess int) bool {
		return dropOldest(&c.History, 0, excess, &c.Omitted.History)
	},
	func(c *Case, excess int) bool { // contacts' explanations, oldest first
		n := 0
		c.Explanation = slices.DeleteFunc(c.Explanation, func(x Explanation) bool {
			if excess <= 0 || !slices.Contains(contactFields, x.Field) {
				return false
			}
			excess -= encodedSize(x)
			n++
			return true
		})
		c.Omitted.Explanations += n
		return n > 0
	},
	func(c *Case, excess int) bool { // references and their complaint ids
		var ids int
		dropped := dropOldest(&c.Complaints, 1, excess/2, &ids)
		return dropOldest(&c.References, 1, excess/2, &c.Omitted.References) || dropped
	},
	func(c *Case, excess int) bool {
		return dropOldest(&c.Attachments, 1, excess, &c.Omitted.Attachments)
	},
	func(c *Case, excess int) bool { // the longest text, cut
		p := c.longestText()
		if p == nil || len(*p) <= minTrimmedText {
			return false
		}
		*p = cutText(*p, max(minTrimmedText, min(len(*p)/2, len(*p)-excess)))
		c.Omitted.Texts++
		return true
	},
}

// dropOldest removes the elements of *s after its first keep, oldest
// first, until their encoded size reaches excess, adding how many to
// *count. It reports whether it removed any.
func dropOldest[T any](s *[]T, keep, excess int, count *int) bool {
	i := keep
	for ; i < len(*s) && excess > 0; i++ {
		excess -= encodedSize((*s)[i]) + 1 // and its comma
	}
	if i == keep {
		return false
	}
	*count += i - keep
	*s = slices.Delete(*s, keep, i)
	return true
}

// encodedSize is the size of v as EncodeJSON encodes it.
func encodedSize(v any) int {
	b, _ := ingest.EncodeJSON(v)
	return len(b)
}

// cutText returns s cut to at most n bytes on a character boundary, with
// … to show it was cut.
func cutText(s string, n int) string {
	return ingest.TruncateUTF8(s, n-len("…")) + "…"
}

// longestText returns the case's longest free text, the one EncodeCase
// cuts next, or nil when it has none.
func (c *Case) longestText() *string {
	texts := []*string{&c.Description, &c.Subject, &c.Assignee, &c.Source, &c.Category, &c.Batch,
		&c.Route.Department, &c.Route.Queue, &c.Route.Owner, &c.Decision.Reason, &c.Validity.Reason,
		&c.Customer.Name, &c.BusinessType}
	for i := range c.Contacts {
		texts = append(texts, &c.Contacts[i].Text, &c.Contacts[i].Subject)
	}
	for i := range c.History {
		texts = append(texts, &c.History[i].Note, &c.History[i].Detail, &c.History[i].Actor)
	}
	for i := range c.Explanation {
		texts = append(texts, &c.Explanation[i].Reason, &c.Explanation[i].Value)
	}
	var longest *string
	for _, p := range texts {
		if longest == nil || encodedSize(*p) > encodedSize(*longest) {
			longest = p
		}
	}
	return longest
}

// cloneLists copies the slices EncodeCase changes in place.
func (c Case) cloneLists() Case {
	c.Contacts = slices.Clone(c.Contacts)
	c.History = slices.Clone(c.History)
	c.Explanation = slices.Clone(c.Explanation)
	c.References = slices.Clone(c.References)
	c.Complaints = slices.Clone(c.Complaints)
	c.Attachments = slices.Clone(c.Attachments)
	return c
}
