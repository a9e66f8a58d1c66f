package router

import (
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

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
	// runes are the runes of lower (and so of flat), which rule out most
	// keywords and needed strings of patterns without a search.
	runes *runeSet
	// day is the received day in loc (time.DateOnly), which conditions
	// with effective dates compare.
	day string
	// textDate is the latest date the text names (zero when none), for
	// time limits that read the text when occurred_at is unknown.
	textDate TextDate

	contactType, category, grade string
	valid                        bool
}

func newSubject(c normalize.Complaint, received time.Time, loc *time.Location, customerKnown bool) *subject {
	lower := ClassifierText(c.Subject, c.Description)
	s := &subject{c: c, lower: lower, flat: compact(lower), customerKnown: customerKnown, received: received, loc: loc,
		runes: runeSetOf(lower), day: received.In(loc).Format(time.DateOnly)}
	if c.OccurredAt.IsZero() {
		s.textDate, _ = OccurredInText(lower, received, loc)
	}
	return s
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
	if (c.EffectiveFrom != "" && s.day < c.EffectiveFrom) || (c.EffectiveUntil != "" && s.day >= c.EffectiveUntil) {
		return false, ""
	}
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
	var why []string
	if p := c.OccurredOlderThan; p != nil && len(p.Of) > 0 {
		d, ok := EventDateInText(s.lower, p.Of, s.received, s.loc)
		if !ok || !olderThan(d.To, s.received, *p, s.loc) {
			return false, ""
		}
		why = append(why, "起算日期取自文中"+quote(d.Words))
	} else if p != nil {
		occurred := s.c.OccurredAt
		if occurred.IsZero() && p.Text {
			occurred = s.textDate.To
		}
		if occurred.IsZero() || !olderThan(occurred, s.received, *p, s.loc) {
			return false, ""
		}
		if s.c.OccurredAt.IsZero() {
			why = append(why, "事发时间取自文中"+quote(s.textDate.Words))
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
	for i, k := range cc.not {
		if s.runes.mayHold(cc.notRunes[i]) && strings.Contains(s.flat, k) {
			return false, ""
		}
	}
	for i, k := range cc.all {
		if !s.runes.mayHold(cc.allRunes[i]) || !strings.Contains(s.flat, k) {
			return false, ""
		}
	}
	if len(cc.all) > 0 {
		why = append(why, "同时含有"+quote(strings.Join(cc.all, "」「")))
	}
	if len(cc.keywords) > 0 || len(cc.regexps) > 0 {
		hit := ""
		for i, k := range cc.keywords {
			if s.runes.mayHold(cc.keywordRunes[i]) && cc.findKeyword(s.flat, k) {
				hit = "含关键词" + quote(k)
				break
			}
		}
		if hit == "" {
			for _, re := range cc.regexps {
				if !re.mayOccur(s.runes) {
					continue
				}
				if loc := cc.findRegexp(s.lower, re); loc != nil {
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

// findKeyword reports whether the keyword k occurs in text at a place no
// unless context discounts.
func (cc *compiledCondition) findKeyword(text, k string) bool {
	if len(cc.unless) == 0 {
		return strings.Contains(text, k)
	}
	for from := 0; ; {
		i := strings.Index(text[from:], k)
		if i < 0 {
			return false
		}
		if !cc.discounted(text, from+i, from+i+len(k)) {
			return true
		}
		from += i + len(k)
	}
}

// findRegexp is the first match of re in text that no unless context
// discounts, nil when there is none.
func (cc *compiledCondition) findRegexp(text string, p pattern) []int {
	if len(cc.unless) == 0 {
		return p.find(text)
	}
	for _, loc := range p.findAll(text) {
		if !cc.discounted(text, loc[0], loc[1]) {
			return loc
		}
	}
	return nil
}

// discounted reports whether an unless context matches around text[i:j]:
// in the Before runes that end at i, or the After runes that start at j.
func (cc *compiledCondition) discounted(text string, i, j int) bool {
	for _, u := range cc.unless {
		before, after := runesBefore(text, i, u.Before), runesAfter(text, j, u.After)
		for _, re := range u.res {
			if (u.Before > 0 && re.MatchString(before)) || (u.After > 0 && re.MatchString(after)) {
				return true
			}
		}
	}
	return false
}

// runesBefore is the at most n runes of text that end at byte i.
func runesBefore(text string, i, n int) string {
	start := i
	for ; n > 0 && start > 0; n-- {
		_, size := utf8.DecodeLastRuneInString(text[:start])
		start -= size
	}
	return text[start:i]
}

// runesAfter is the at most n runes of text that start at byte j.
func runesAfter(text string, j, n int) string {
	end := j
	for ; n > 0 && end < len(text); n-- {
		_, size := utf8.DecodeRuneInString(text[end:])
		end += size
	}
	return text[j:end]
}

func quote(s string) string { return "「" + s + "」" }

// olderThan reports whether from lies more than p before to, counted in
// calendar terms in loc; calendar_months compares the months themselves.
func olderThan(from, to time.Time, p Period, loc *time.Location) bool {
	f := from.In(loc)
	var limit time.Time
	switch p.Unit {
	case "days":
		limit = f.AddDate(0, 0, p.Amount)
	case "months":
		limit = f.AddDate(0, p.Amount, 0)
	case "calendar_months":
		// Older than N calendar months: received in a later month than
		// the N-th after the one it happened in (0: not the same month).
		t := to.In(loc)
		return (t.Year()*12+int(t.Month()))-(f.Year()*12+int(f.Month())) > p.Amount
	case "years":
		limit = f.AddDate(p.Amount, 0, 0)
	}
	return to.After(limit)
}
