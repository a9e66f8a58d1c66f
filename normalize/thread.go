package normalize

import (
	"slices"
	"strings"

	"github.com/tousu/tousu/ingest"
)

// Thread is the case an e-mail reply from another address belongs to: a
// colleague answering all, or the customer writing from a second mailbox,
// answers a case whose customer key is not the sender's. The normalizer
// finds the case in the search index by the clues ReplyClues reads (a
// reference number in the subject, the Message-IDs the In-Reply-To and
// References headers name), sets Complaint.Thread and forwards the
// complaint keyed by Customer, the case's customer key, so the instance
// that owns the case's customer decides it. Complaint.Customer stays the
// sender.
type Thread struct {
	// Case is the id of the case the reply belongs to.
	Case string `json:"case"`
	// Customer is the case's customer key (router.Case.Customer.Key),
	// the key the complaint is partitioned by.
	Customer string `json:"customer"`
	// State is the case's state when the normalizer looked it up: an open
	// case takes the reply, a finished one (State.Finished) gets a new
	// case linked to it.
	State CaseState `json:"state"`
	// By says what matched: ThreadByInReplyTo, ThreadByReferences or
	// ThreadBySubject.
	By string `json:"by"`
	// Ref is what matched: the reference number (受理编号) in the subject
	// or the Message-ID (without angle brackets) the header names.
	Ref string `json:"ref"`
}

// The values of Thread.By: the header that names the Message-ID of one of
// the case's e-mail complaints, or the subject that quotes the case's
// reference number.
const (
	ThreadByInReplyTo  = "In-Reply-To"
	ThreadByReferences = "References"
	ThreadBySubject    = "subject"
)

// Bounds on what ReplyClues returns, so that a mail with a huge References
// header or a subject full of reference numbers costs a bounded number of
// index lookups.
const (
	MaxReplyRefs       = 5
	MaxReplyMessageIDs = 20
)

// MaxMessageIDBytes bounds the Message-IDs tousu looks cases up by: a
// longer one is no clue (ReplyClues leaves it out) and is not kept on a
// case (router.Case.MessageIDs). RFC 5322 limits a header line to 998
// characters, and the e-mail channel cuts a Message-ID at 500 bytes.
const MaxMessageIDBytes = 1000

// ReplyClues returns what tells which case an e-mail complaint answers,
// for looking the case up: refs are the reference numbers (受理编号, "TS"
// and ten Crockford base32 characters, as ingest.ReferenceFor makes them)
// the subject quotes as whole tokens ("Re: [TS0123456789] 宽带故障",
// "回复：受理编号TS0123456789", but not "XTS0123456789" or
// "TS01234567890"), case-insensitively, in upper case, each once, in the
// order they appear, at most MaxReplyRefs; messageIDs are the Message-IDs
// the In-Reply-To header names, then those of the References header from
// the nearest ancestor (the last) to the root (the first), each once, at
// most MaxReplyMessageIDs, leaving out any longer than MaxMessageIDBytes.
// When References is cut, its root (the mail that opened the thread,
// likely the case's first complaint) is kept as the last id. The
// complaint's own reference is left out of refs. A
// complaint of another channel has no clues. c is a normalized complaint:
// Normalize already made full-width letters and digits of the subject
// half-width.
func ReplyClues(c Complaint) (refs, messageIDs []string) {
	if c.Channel != ingest.ChannelEmail {
		return nil, nil
	}
	for _, r := range SubjectReferences(c.Subject) {
		if r == strings.ToUpper(c.Reference) {
			continue
		}
		if len(refs) == MaxReplyRefs {
			break
		}
		refs = append(refs, r)
	}
	for _, id := range replyIDsOf(c, MaxReplyMessageIDs) {
		if len(id.id) <= MaxMessageIDBytes {
			messageIDs = append(messageIDs, id.id)
		}
	}
	return refs, messageIDs
}

// referenceLen is the length of a reference number: "TS" and ten base32
// characters.
const referenceLen = 12

// SubjectReferences returns the reference numbers (受理编号) s quotes as
// whole tokens, in upper case, each once, in the order they appear. A
// token is "TS" and ten characters of the Crockford base32 alphabet of
// ingest.ReferenceFor (digits and letters other than I, L, O and U), in
// any case, with no ASCII letter or digit right before or after it; any
// other character, a Han character or a bracket or a space, delimits it.
// Invalid UTF-8 is no error: its bytes are delimiters.
func SubjectReferences(s string) []string {
	var out []string
	for i := 0; i+referenceLen <= len(s); i++ {
		if s[i]|0x20 != 't' || s[i+1]|0x20 != 's' || i > 0 && asciiAlnum(s[i-1]) {
			continue
		}
		end := i + referenceLen
		if end < len(s) && asciiAlnum(s[end]) {
			continue
		}
		ref := []byte(s[i:end])
		ok := true
		for j := range ref {
			ref[j] = upperASCII(ref[j])
			if j >= 2 && !crockford(ref[j]) {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		if r := string(ref); !slices.Contains(out, r) {
			out = append(out, r)
		}
		i = end - 1
	}
	return out
}

// asciiAlnum reports whether b is an ASCII letter or digit.
func asciiAlnum(b byte) bool {
	return b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z'
}

func upperASCII(b byte) byte {
	if b >= 'a' && b <= 'z' {
		return b - 'a' + 'A'
	}
	return b
}

// crockford reports whether the upper-case b is a character of the
// alphabet ingest.ReferenceFor encodes with.
func crockford(b byte) bool {
	return b >= '0' && b <= '9' || b >= 'A' && b <= 'Z' && b != 'I' && b != 'L' && b != 'O' && b != 'U'
}

// replyID is a Message-ID (without angle brackets) a reply's header names.
type replyID struct {
	header, id string // header is headerInReplyTo or headerReferences
}

// replyIDsOf returns the Message-IDs an e-mail complaint's In-Reply-To and
// References headers name (Extra[ExtraInReplyTo], Extra[ExtraReferences]),
// nearest first: In-Reply-To's in order, then References' from the last
// (the parent) to the first (the thread's root), each id once, where it
// first appears. With max > 0 at most max ids are returned, and when
// References is cut its root takes the last place. Other channels have
// none.
func replyIDsOf(c Complaint, max int) []replyID {
	if c.Channel != ingest.ChannelEmail {
		return nil
	}
	inReplyTo, references := strings.Fields(c.Extra[ExtraInReplyTo]), strings.Fields(c.Extra[ExtraReferences])
	var out []replyID
	seen := make(map[string]bool)
	add := func(header, id string) {
		if !seen[id] {
			seen[id] = true
			out = append(out, replyID{header, id})
		}
	}
	full := func() bool { return max > 0 && len(out) >= max }
	for _, id := range inReplyTo {
		if full() {
			return out
		}
		add(headerInReplyTo, id)
	}
	for i := len(references) - 1; i >= 0; i-- {
		if full() {
			// Cut: the root replaces the farthest ancestor kept, unless
			// it is already there or In-Reply-To filled every place.
			root := references[0]
			if !seen[root] && out[len(out)-1].header == headerReferences {
				out[len(out)-1] = replyID{headerReferences, root}
			}
			return out
		}
		add(headerReferences, references[i])
	}
	return out
}
