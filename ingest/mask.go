package ingest

import (
	"strings"
	"unicode/utf8"
)

// MaskPhone hides the middle of a phone number for logs: 13800138000 and
// +86 138 0013 8000 both become 138****8000. Numbers too short to keep
// anything private are fully masked; the result never holds more than
// seven of the digits.
func MaskPhone(s string) string {
	digits, ok := ParsePhone(s)
	if !ok {
		digits = PhoneDigits(s)
	}
	return maskNational(stripCountryCode(digits))
}

// maskNational masks the digits of a national phone number as MaskPhone
// does: the first three and the last four stay.
func maskNational(d string) string {
	if len(d) < 8 {
		return "****"
	}
	return d[:3] + "****" + d[len(d)-4:]
}

// MaskEmail hides the local part of an e-mail address but its first
// character: zhang.san@example.com becomes z***@example.com. A string
// without a local part and an @ becomes ***.
func MaskEmail(s string) string {
	at := strings.LastIndexByte(s, '@')
	if at <= 0 {
		return "***"
	}
	return maskLocal(s[:at]) + s[at:]
}

// MaskName keeps the first character of a name, the surname of most
// Chinese names, and replaces the rest by one or two stars: 张三 becomes
// 张*, 欧阳娜娜 欧**, and a long name with spaces in it no more. A name of
// one character becomes *.
func MaskName(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	first, n := utf8.DecodeRuneInString(s)
	if n == len(s) {
		return "*"
	}
	// At most two stars, whatever follows: a masked name tells neither
	// its length nor where its words break.
	return string(first) + strings.Repeat("*", min(utf8.RuneCountInString(s[n:]), 2))
}

// MaskText returns free text (a complaint, an agent's note) with the
// personal numbers and addresses it holds masked and everything else left
// byte for byte as it was, so that order numbers, amounts and dates stay
// readable:
//
//   - e-mail addresses as MaskEmail does (z***@example.com);
//   - mobile numbers (11 digits 1[3-9]…, after an optional +86, 86 or 0086)
//     and landlines with their area code (0 then 9 to 11 digits, such as
//     010-12345678 or 0755 8888 8888) as MaskPhone does (138****8000);
//   - ID card numbers, 18 characters whose birth date is a date and whose
//     check character (0-9 or X) is right, or the old 15 digits whose
//     birth date is a date: the first three and the last four stay
//     (110***********002X);
//   - bank card numbers, 16 to 19 digits that start with 3, 4, 5, 6 or 9
//     (UnionPay, Visa, Mastercard, JCB, the old domestic 9 cards) and pass
//     the Luhn check: the first four and the last four stay
//     (6222********0123). The check keeps nine in ten other numbers of
//     that length (order numbers) readable; the 20 digits and more of most
//     order numbers are never masked.
//
// A number is a run of digits (ASCII or full-width) that no other digit
// touches; its groups may be joined by up to three spaces, dashes, dots or
// parentheses (138 0013 8000, (010)1234-5678) when every group after the
// first has at least three digits, so dates (2026-03-11) and amounts
// (1380.00) never join a number. A group that touches a * is the rest of
// a masked number and joins nothing, which makes MaskText idempotent.
// Numbers without an area code (8888 8888) and names in the text are not
// recognised.
func MaskText(s string) string {
	return maskNumbers(maskEmails(s, false), false)
}

// The placeholders RedactText puts in place of what it removes.
const (
	RedactedEmail  = "［邮箱已删除］"
	RedactedNumber = "［号码已删除］"
)

// RedactText is MaskText for erasure: it finds the same e-mail addresses
// and personal numbers, and replaces each whole, not masked, by
// RedactedEmail or RedactedNumber, so that none of its characters remain
// to be searched for. Everything else stays byte for byte; RedactText is
// idempotent.
func RedactText(s string) string {
	return maskNumbers(maskEmails(s, true), true)
}

// MaskExcerpt is MaskText for the start of a text cut short and ended
// with "…", such as an alert's excerpt of a complaint: the word the cut
// went through (digits, ASCII letters and what numbers and addresses are
// written with) is dropped first, since a number or an address cut in two
// is no longer recognised and would show its first digits.
func MaskExcerpt(s string) string {
	if body, ok := strings.CutSuffix(s, "…"); ok {
		s = strings.TrimRightFunc(body, inWord) + "…"
	}
	return MaskText(s)
}

// inWord reports whether r may be part of a number or an e-mail address.
func inWord(r rune) bool {
	return isDigit(r) || isSeparator(r) || r == '@' || r == '＋' || r == 'Ｘ' || r == 'ｘ' || r < utf8.RuneSelf && isLocal(byte(r))
}

// maskEmails masks the local part of every e-mail address in s: the
// ASCII letters, digits (full-width ones too) and ._%+- before an @ that
// a domain (ASCII letters, digits, dots and dashes) with a dot follows. Each @ is looked at on its own, so
// a@b.cn@c.cn masks both local parts, and a masked one (z***@) is no
// longer one. With redact, each whole address becomes RedactedEmail.
func maskEmails(s string, redact bool) string {
	var b strings.Builder
	written := 0
	for at := strings.IndexByte(s, '@'); at >= 0; {
		l := at
		for l > written {
			r, size := utf8.DecodeLastRuneInString(s[written:l])
			if !isDigit(r) && (r >= utf8.RuneSelf || !isLocal(byte(r))) {
				break
			}
			l -= size
		}
		r := at + 1
		for r < len(s) {
			c, size := utf8.DecodeRuneInString(s[r:])
			if !isDigit(c) && (c >= utf8.RuneSelf || !isAlnum(byte(c)) && c != '.' && c != '-') {
				break
			}
			r += size
		}
		domain := strings.TrimRight(s[at+1:r], ".-")
		if l < at && strings.Contains(domain, ".") && domain[0] != '.' {
			b.WriteString(s[written:l])
			if redact {
				b.WriteString(RedactedEmail)
				written = at + 1 + len(domain)
			} else {
				b.WriteString(maskLocal(s[l:at]))
				written = at
			}
		}
		next := strings.IndexByte(s[at+1:], '@')
		if next < 0 {
			break
		}
		at += 1 + next
	}
	if written == 0 {
		return s
	}
	b.WriteString(s[written:])
	return b.String()
}

// maskLocal masks the local part of an e-mail address but its first
// character.
func maskLocal(local string) string {
	r, _ := utf8.DecodeRuneInString(local)
	return string(r) + "***"
}

func isLocal(c byte) bool {
	return isAlnum(c) || strings.IndexByte("._%+-", c) >= 0
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// maxNumberDigits is the longest number MaskText masks: a bank card.
const maxNumberDigits = 19

// group is a run of digits in a text: byte offsets and its ASCII digits,
// ending in X when an X directly follows the last digit.
type group struct {
	start, end int
	digits     string
}

// maskNumbers masks the phone, ID card and bank card numbers in s (see
// MaskText), the longest run of joined groups first; with redact, each
// becomes RedactedNumber.
func maskNumbers(s string, redact bool) string {
	var b strings.Builder
	written := 0
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if !isDigit(r) {
			i += n
			continue
		}
		gs := segmentAt(s, i)
		for a := 0; a < len(gs); {
			end, masked, phone := longestNumber(gs, a)
			if end < 0 {
				a++
				continue
			}
			start := gs[a].start
			if phone {
				start = withPlus(s, start)
			}
			b.WriteString(s[written:start])
			if redact {
				masked = RedactedNumber
			}
			b.WriteString(masked)
			written = gs[end].end
			a = end + 1
		}
		i = gs[len(gs)-1].end
	}
	if written == 0 {
		return s
	}
	b.WriteString(s[written:])
	return b.String()
}

// withPlus moves the start of a phone number in s back over a + that
// precedes it, unless a digit, an ASCII letter or one of ._%+- precedes
// the +: dropping it would join what precedes to the masked number.
func withPlus(s string, start int) int {
	p, size := utf8.DecodeLastRuneInString(s[:start])
	if p != '+' && p != '＋' {
		return start
	}
	if r, _ := utf8.DecodeLastRuneInString(s[:start-size]); isDigit(r) || r < utf8.RuneSelf && isLocal(byte(r)) {
		return start
	}
	return start - size
}

// segmentAt reads the groups of digits from byte i (a digit) on that
// separators join: up to three of them between two groups. A group that
// touches a * is a segment of its own.
func segmentAt(s string, i int) []group {
	g := groupAt(s, i)
	gs := []group{g}
	if touchesStar(s, g) {
		return gs
	}
	for !strings.HasSuffix(g.digits, "X") {
		k := g.end
		for seps := 0; seps < 3 && k < len(s); seps++ {
			r, n := utf8.DecodeRuneInString(s[k:])
			if !isSeparator(r) {
				break
			}
			k += n
		}
		if k == g.end || k == len(s) {
			break
		}
		r, _ := utf8.DecodeRuneInString(s[k:])
		if !isDigit(r) {
			break
		}
		next := groupAt(s, k)
		if touchesStar(s, next) {
			break
		}
		gs = append(gs, next)
		g = next
	}
	return gs
}

// groupAt reads the run of digits from byte i (a digit), with an X that
// directly follows it.
func groupAt(s string, i int) group {
	var b strings.Builder
	j := i
	for j < len(s) {
		r, n := utf8.DecodeRuneInString(s[j:])
		d, ok := digit(r)
		if !ok {
			break
		}
		b.WriteByte(d)
		j += n
	}
	if r, n := utf8.DecodeRuneInString(s[j:]); r == 'X' || r == 'x' || r == 'Ｘ' || r == 'ｘ' {
		b.WriteByte('X')
		j += n
	}
	return group{start: i, end: j, digits: b.String()}
}

// touchesStar reports whether a * directly precedes or follows g.
func touchesStar(s string, g group) bool {
	before, _ := utf8.DecodeLastRuneInString(s[:g.start])
	after, _ := utf8.DecodeRuneInString(s[g.end:])
	return before == '*' || before == '＊' || after == '*' || after == '＊'
}

// isDigit reports whether r is an ASCII or a full-width digit.
func isDigit(r rune) bool {
	_, ok := digit(r)
	return ok
}

// isSeparator reports whether r may stand between the groups of one
// number.
func isSeparator(r rune) bool {
	switch r {
	case ' ', '\u00a0', '\u3000', '-', '－', '‐', '–', '—', '.', '(', ')', '（', '）':
		return true
	}
	return false
}

// longestNumber finds the longest run of groups from gs[a] that is a
// personal number: the index of its last group, its masked form and
// whether it is a phone number; -1 when none is.
func longestNumber(gs []group, a int) (end int, masked string, phone bool) {
	if len(gs[a].digits) < 3 && gs[a].digits != "86" {
		// Too short to be a number; only a country code of two digits
		// starts one.
		return -1, "", false
	}
	last, total := a, len(gs[a].digits)
	for last+1 < len(gs) && len(gs[last+1].digits) >= 3 && total+len(gs[last+1].digits) <= maxNumberDigits {
		last++
		total += len(gs[last].digits)
	}
	for e := last; e >= a; e-- {
		var d strings.Builder
		for _, g := range gs[a : e+1] {
			d.WriteString(g.digits)
		}
		if m, p, ok := classify(d.String()); ok {
			return e, m, p
		}
	}
	return -1, "", false
}

// classify returns the masked form of d, the ASCII digits of a number (an
// ID card's may end in X), and whether it is a phone number; ok is false
// when d is no personal number.
func classify(d string) (masked string, phone, ok bool) {
	if strings.HasSuffix(d, "X") {
		if validID18(d) {
			return keepEnds(d, 3, 4), false, true
		}
		return "", false, false
	}
	if n, ok := mobile(d); ok {
		return maskNational(n), true, true
	}
	switch {
	case len(d) >= 10 && len(d) <= 12 && d[0] == '0' && d[1] != '0':
		return maskNational(d), true, true
	case validID18(d), validID15(d):
		return keepEnds(d, 3, 4), false, true
	case len(d) >= 16 && len(d) <= maxNumberDigits && strings.IndexByte("34569", d[0]) >= 0 && luhn(d):
		return keepEnds(d, 4, 4), false, true
	}
	return "", false, false
}

// mobile returns the 11 digits of a mainland mobile number, after an
// optional country code 86 or 0086.
func mobile(d string) (string, bool) {
	for _, prefix := range []string{"0086", "86"} {
		if rest, ok := strings.CutPrefix(d, prefix); ok && len(rest) == 11 {
			d = rest
			break
		}
	}
	if len(d) != 11 || d[0] != '1' || d[1] < '3' {
		return "", false
	}
	return d, true
}

// validID18 reports whether d is an 18-character ID card number: a birth
// date at 7-14 and the right check character.
func validID18(d string) bool {
	if len(d) != 18 || !allDigits(d[:17]) || !strings.HasPrefix(d[6:], "19") && !strings.HasPrefix(d[6:], "20") || !validMonthDay(d[10:14]) {
		return false
	}
	weights := [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for i, w := range weights {
		sum += int(d[i]-'0') * w
	}
	return d[17] == "10X98765432"[sum%11]
}

// validID15 reports whether d is an old 15-digit ID card number: a birth
// date (YYMMDD) at 7-12.
func validID15(d string) bool {
	return len(d) == 15 && allDigits(d) && validMonthDay(d[8:12])
}

// validMonthDay reports whether MMDD is a month and a day that can be in
// it.
func validMonthDay(mmdd string) bool {
	m := int(mmdd[0]-'0')*10 + int(mmdd[1]-'0')
	d := int(mmdd[2]-'0')*10 + int(mmdd[3]-'0')
	days := [13]int{0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}
	return m >= 1 && m <= 12 && d >= 1 && d <= days[m]
}

// luhn reports whether the digits pass the Luhn check of card numbers.
func luhn(d string) bool {
	sum := 0
	for i := range len(d) {
		n := int(d[len(d)-1-i] - '0')
		if i%2 == 1 {
			if n *= 2; n > 9 {
				n -= 9
			}
		}
		sum += n
	}
	return sum%10 == 0
}

func allDigits(s string) bool {
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// keepEnds keeps the first head and the last tail characters of d and
// masks the others.
func keepEnds(d string, head, tail int) string {
	return d[:head] + strings.Repeat("*", len(d)-head-tail) + d[len(d)-tail:]
}
