package ingest

import (
	"net/mail"
	"strings"
)

// Phone number limits checked by CheckPhone: the digits left after removing
// separators, an international prefix (+ or 00) and the Chinese country
// code 86 that follows it.
const (
	MinPhoneDigits = 7
	MaxPhoneDigits = 15
)

// CheckPhone reports whether s looks like a phone number. Spaces
// (including the ideographic space), dashes, dots and parentheses are
// ignored, full-width digits (０-９) and a full-width plus count as their
// ASCII forms, and a leading + or 00 (international prefix) may be
// followed by the country code 86, which is not counted. What remains must
// be 7 to 15 digits. CheckPhone only checks the form; the normalizer turns
// the number into E.164. The error is a *FieldError for the field "phone"
// with a message a customer can read; the empty string is an error too, so
// callers check optional fields only when they are filled.
func CheckPhone(s string) error {
	digits, ok := ParsePhone(s)
	if !ok {
		return &FieldError{Field: "phone", Message: "手机号码只能包含数字、空格、短横线和括号"}
	}
	national := stripCountryCode(digits)
	if len(national) < MinPhoneDigits || len(national) > MaxPhoneDigits {
		return &FieldError{Field: "phone", Message: "请填写正确的手机号码（7 到 15 位数字）"}
	}
	return nil
}

// CheckEmail reports whether s is a bare e-mail address such as
// zhang@example.com: net/mail must parse it, it must carry no display name
// or angle brackets, and its domain must contain a dot. The error is a
// *FieldError for the field "email".
func CheckEmail(s string) error {
	bad := &FieldError{Field: "email", Message: "请填写正确的电子邮箱地址，例如 zhang@example.com"}
	s = strings.TrimSpace(s)
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Name != "" || addr.Address != s {
		return bad
	}
	at := strings.LastIndexByte(s, '@')
	domain := s[at+1:]
	if at <= 0 || !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") {
		return bad
	}
	return nil
}

// CheckFields returns the problems of e.Validate plus the form checks of
// CheckPhone and CheckEmail for a phone or e-mail that is filled in and has
// no other problem: at most one FieldError per field. Every channel that
// takes contact details from a customer uses it, so all of them accept the
// same input.
func CheckFields(e *Envelope) []FieldError {
	errs := e.Validate()
	failed := make(map[string]bool, len(errs))
	for _, fe := range errs {
		failed[fe.Field] = true
	}
	add := func(field, value string, check func(string) error) {
		if failed[field] || strings.TrimSpace(value) == "" {
			return
		}
		if err := check(value); err != nil {
			errs = append(errs, *err.(*FieldError))
		}
	}
	add("phone", e.Phone, CheckPhone)
	add("email", e.Email, CheckEmail)
	return errs
}

// PhoneDigits returns the digits of a phone number in order (full-width
// digits as ASCII), ignoring every other character. It is meant for
// comparisons such as "the last four digits" and for masking.
func PhoneDigits(s string) string {
	var b strings.Builder
	for _, r := range s {
		if d, ok := digit(r); ok {
			b.WriteByte(d)
		}
	}
	return b.String()
}

// ParsePhone returns the digits of a phone number with an international
// prefix marked by a leading "+" (00 becomes +), or false if s holds
// characters other than digits, one leading plus and separators (spaces,
// dashes, dots, parentheses, in their ASCII and full-width forms).
func ParsePhone(s string) (string, bool) {
	var b strings.Builder
	started := false
	for _, r := range strings.TrimSpace(s) {
		if d, ok := digit(r); ok {
			b.WriteByte(d)
			started = true
			continue
		}
		switch r {
		case ' ', '\t', '\u3000', '-', '－', '‐', '–', '—', '.', '(', ')', '（', '）':
		case '+', '＋':
			if started {
				return "", false
			}
			b.WriteByte('+')
			started = true
		default:
			return "", false
		}
	}
	out := b.String()
	if strings.HasPrefix(out, "00") {
		out = "+" + out[2:]
	}
	return out, true
}

// stripCountryCode removes a leading "+" and the Chinese country code 86
// that directly follows it.
func stripCountryCode(d string) string {
	if rest, ok := strings.CutPrefix(d, "+"); ok {
		return strings.TrimPrefix(rest, "86")
	}
	return d
}

// digit maps ASCII and full-width decimal digits to ASCII.
func digit(r rune) (byte, bool) {
	switch {
	case r >= '0' && r <= '9':
		return byte(r), true
	case r >= '０' && r <= '９':
		return byte('0' + (r - '０')), true
	}
	return 0, false
}
