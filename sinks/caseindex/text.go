package caseindex

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Text search. Query.Text is what an agent types into the one search box;
// both backends read it as this file says, and the contract suite holds
// them to it.
//
// A text is made of terms: each Han (or kana) character is a term, and so
// is each run of Latin letters and digits ("5G", "ADSL", "10086", "ORD12345"),
// compared without regard to case or full width (ＡＤＳＬ is adsl).
// Punctuation and spaces are no terms. Both backends make the same terms:
// Elasticsearch with its standard analyzer, Bleve with the equivalent
// analyzer of its *_terms fields.
//
//   - Outside quotes the terms are matched loosely: a case matches when
//     its subject and description together hold all of them but at most
//     MissingTermsPercent per cent, rounded down (MinTerms): texts of up
//     to three terms need all of them, 信号很差 (four) any three, so it
//     finds 手机信号差了三天, in any order and apart.
//   - A part in double quotes ("信号差", also ＂信号差＂ or “信号差”) is an
//     exact phrase: subject or description must hold its terms next to
//     each other in its order, punctuation, spaces and line breaks between
//     them aside, so "信号差" finds 手机信号，差得很 but not 信号很差. A
//     quote left open runs to the end of the text.
//   - A case matches when it holds every quoted phrase and, when there is
//     text outside quotes, the terms of that text as above. A part
//     without terms (only punctuation and spaces) is left out; a text
//     with no terms at all (！？, or "") matches nothing, while an empty
//     text (or only spaces) does not filter: every case matches, as
//     without q.
//   - Besides, the whole text without its quote marks finds the case
//     whose reference, work-order number or business type it equals
//     (TextKeywords), so an agent can paste a 受理编号 or 工单号 into the
//     box.
//
// Sorted by relevance (the default when there is a text) a case holding
// the text outside quotes as an exact phrase comes before cases holding
// only its terms; within each, the backend's scoring of the terms orders
// them (both use BM25-like scores, so the order of equal matches may
// differ between backends).

// MissingTermsPercent is how many per cent of the terms outside quotes a
// case may lack and still match (rounded down; see MinTerms).
// Elasticsearch is given it as minimum_should_match "-25%", which it
// computes the same way.
const MissingTermsPercent = 25

// MinTerms is how many of n terms outside quotes a case must hold:
// n minus MissingTermsPercent per cent of n, rounded down.
func MinTerms(n int) int {
	return n - n*MissingTermsPercent/100
}

// TextKeywords are the names of the filters whose values the whole text
// also finds a case by.
var TextKeywords = []string{"reference", "work_order", "business_type"}

// PhraseBoost is how much more an exact phrase of the terms outside quotes
// weighs in the relevance order than the terms alone, so that such cases
// come first.
const PhraseBoost = 100

// Text is Query.Text taken apart for the backends. A part without terms
// (only punctuation and spaces) is left out, so a stray mark does not
// change what a text finds; when no part is left, the text matches
// nothing.
type Text struct {
	// Phrases are the quoted parts, trimmed.
	Phrases []string
	// Terms is the text outside quotes, its parts joined by a space and
	// trimmed; empty when there is none.
	Terms string
	// Whole is the text without its quote marks, trimmed.
	Whole string
}

// quoteMarks open and close a phrase, in any pairing: the ASCII and
// full-width double quotes and the Chinese ones an input method types.
const quoteMarks = "\"＂“”"

// ParseText takes a search text apart into its quoted phrases and the
// rest.
func ParseText(s string) Text {
	var t Text
	var outside, whole []string
	inQuote := false
	for {
		i := strings.IndexAny(s, quoteMarks)
		part := s
		if i >= 0 {
			part = s[:i]
		}
		if p := strings.TrimSpace(part); hasTerms(p) {
			whole = append(whole, p)
			if inQuote {
				t.Phrases = append(t.Phrases, p)
			} else {
				outside = append(outside, p)
			}
		}
		if i < 0 {
			break
		}
		inQuote = !inQuote
		_, n := utf8.DecodeRuneInString(s[i:])
		s = s[i+n:]
	}
	t.Terms = strings.Join(outside, " ")
	t.Whole = strings.Join(whole, " ")
	return t
}

// hasTerms reports whether s holds a term: a letter (Han characters are
// letters) or a digit.
func hasTerms(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsNumber(r) }) >= 0
}
