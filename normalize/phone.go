package normalize

import (
	"errors"
	"strings"
)

// ErrBadPhone is returned by PhoneE164 for text that is not a phone number.
var ErrBadPhone = errors.New("not a phone number")

// PhoneE164 returns a phone number in E.164 form. Numbers without a country
// code are taken as Chinese (+86): mobiles (1xx, 11 digits), landlines with
// their 0-prefixed area code (010-12345678), and 400/800 service numbers.
// Full-width digits, spaces, dashes, dots and parentheses are accepted; a
// leading 00 is read as +.
func PhoneE164(raw string) (string, error) {
	s := strings.Map(narrowAlnum, strings.TrimSpace(raw))
	plus := strings.HasPrefix(s, "+")
	var digits strings.Builder
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits.WriteRune(r)
		case r == ' ' || r == '-' || r == '.' || r == '(' || r == ')' || (r == '+' && i == 0):
		default:
			return "", ErrBadPhone
		}
	}
	d := digits.String()
	if !plus && strings.HasPrefix(d, "00") {
		d, plus = d[2:], true
	}
	if plus {
		if strings.HasPrefix(d, "86") {
			return chinese(d[2:], true)
		}
		if len(d) < 8 || len(d) > 15 || d[0] == '0' {
			return "", ErrBadPhone
		}
		return "+" + d, nil
	}
	if len(d) == 13 && strings.HasPrefix(d, "86") && d[2] == '1' {
		return chinese(d[2:], true)
	}
	if strings.HasPrefix(d, "0") {
		return chinese(d[1:], true)
	}
	return chinese(d, false)
}

// chinese formats a national Chinese number as +86…. Landline numbers (an
// area code and a local number, without the trunk 0) are accepted only when
// the caller saw a country code or a trunk 0, since a bare local number
// without its area code cannot be dialled from elsewhere.
func chinese(d string, landline bool) (string, error) {
	switch {
	case len(d) == 11 && d[0] == '1' && d[1] >= '3':
		return "+86" + d, nil // mobile
	case len(d) == 10 && (strings.HasPrefix(d, "400") || strings.HasPrefix(d, "800")):
		return "+86" + d, nil // service numbers
	case landline && len(d) >= 9 && len(d) <= 11 && d[0] != '0':
		return "+86" + d, nil // area code + local number
	}
	return "", ErrBadPhone
}

// MaskPhone hides the middle of a phone number for logs and for roles that
// may not see it: +8613812345678 becomes +86138****5678.
func MaskPhone(p string) string {
	r := []rune(p)
	if len(r) <= 4 {
		return strings.Repeat("*", len(r))
	}
	keepEnd := 4
	keepStart := len(r) - keepEnd - 4
	if keepStart < 0 {
		keepStart = 0
	}
	if keepStart > 6 {
		keepStart = 6
	}
	return string(r[:keepStart]) + strings.Repeat("*", len(r)-keepStart-keepEnd) + string(r[len(r)-keepEnd:])
}
