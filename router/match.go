package router

import (
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/tousu/tousu/normalize"
)

// subject is what conditions look at: the complaint, its prepared text and
// the decisions made so far.
type subject struct {
	c     normalize.Complaint
	lower string // cleaned, lower-cased subject and description
	flat  string // lower with all white space removed
	// customerKnown is false when explaining text without a customer: then
	// no_contact never holds.
	customerKnown bool
	received      time.Time
	loc           *time.Location

	contactType, category, grade string
	valid                        bool
}

func newSubject(c normalize.Complaint, received time.Time, loc *time.Location, customerKnown bool) *subject {
	lower := ClassifierText(c.Subject, c.Description)
	return &subject{c: c, lower: lower, flat: compact(lower), customerKnown: customerKnown, received: received, loc: loc}
}

// compact removes white space.
func compact(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, s)
}

// letters counts the letters and digits of s.
func letters(s string) int {
	n := 0
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			n++
		}
	}
	return n
}

// match reports whether the condition holds for s, and the keyword or
// pattern that made a text condition hold (for the explanation).
func (cc *compiledCondition) match(s *subject) (bool, string) {
	c := cc.Condition
	if len(c.Channels) > 0 && !slices.Contains(c.Channels, string(s.c.Channel)) {
		return false, ""
	}
	if len(c.Sources) > 0 && !slices.Contains(c.Sources, s.c.Source) {
		return false, ""
	}
	for field, values := range c.Extra {
		v := s.c.Extra[field]
		if v == "" || (!slices.Contains(values, "*") && !slices.Contains(values, v)) {
			return false, ""
		}
	}
	for field, values := range c.NotExtra {
		v := s.c.Extra[field]
		if slices.Contains(values, v) || (v != "" && slices.Contains(values, "*")) {
			return false, ""
		}
	}
	if c.NoContact != nil {
		if !s.customerKnown {
			return false, ""
		}
		none := s.c.Customer.Phone == "" && s.c.Customer.Email == ""
		if none != *c.NoContact {
			return false, ""
		}
	}
	if c.ShorterThan > 0 && letters(s.lower) >= c.ShorterThan {
		return false, ""
	}
	if p := c.OccurredOlderThan; p != nil {
		if s.c.OccurredAt.IsZero() || !olderThan(s.c.OccurredAt, s.received, *p, s.loc) {
			return false, ""
		}
	}
	if len(c.ContactTypes) > 0 && !slices.Contains(c.ContactTypes, s.contactType) {
		return false, ""
	}
	if len(c.Categories) > 0 && !slices.Contains(c.Categories, s.category) {
		return false, ""
	}
	if len(c.Grades) > 0 && !slices.Contains(c.Grades, s.grade) {
		return false, ""
	}
	if c.Valid != nil && *c.Valid != s.valid {
		return false, ""
	}
	for _, k := range cc.not {
		if strings.Contains(s.flat, k) {
			return false, ""
		}
	}
	for _, k := range cc.all {
		if !strings.Contains(s.flat, k) {
			return false, ""
		}
	}
	var why []string
	if len(cc.all) > 0 {
		why = append(why, "同时含有"+quote(strings.Join(cc.all, "」「")))
	}
	if len(cc.keywords) > 0 || len(cc.regexps) > 0 {
		hit := ""
		for _, k := range cc.keywords {
			if strings.Contains(s.flat, k) {
				hit = "含关键词" + quote(k)
				break
			}
		}
		if hit == "" {
			for _, re := range cc.regexps {
				if loc := re.FindStringIndex(s.lower); loc != nil {
					hit = "文中出现" + quote(s.lower[loc[0]:loc[1]])
					break
				}
			}
		}
		if hit == "" {
			return false, ""
		}
		why = append(why, hit)
	}
	return true, strings.Join(why, "；")
}

func quote(s string) string { return "「" + s + "」" }

// olderThan reports whether from lies more than p before to, counted in
// calendar terms in loc.
func olderThan(from, to time.Time, p Period, loc *time.Location) bool {
	f := from.In(loc)
	var limit time.Time
	switch p.Unit {
	case "days":
		limit = f.AddDate(0, 0, p.Amount)
	case "months":
		limit = f.AddDate(0, p.Amount, 0)
	case "years":
		limit = f.AddDate(p.Amount, 0, 0)
	}
	return to.After(limit)
}
