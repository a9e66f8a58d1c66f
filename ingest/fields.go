package ingest

import (
	"fmt"
	"net/mail"
	"regexp"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// Config is the contact rule of an installation, the same for every
// channel that takes phone numbers from customers (the web form, the JSON
// API, webhooks and hotline files). The tousu configuration reads it from
// the section "intake".
type Config struct {
	// DefaultAreaCode is the area code (区号, such as "010" or "0755") put
	// before a landline number given without one (62345678 becomes
	// 010-62345678). Empty means such numbers are refused with a message
	// asking for the area code, since nobody can call them back otherwise.
	DefaultAreaCode string `yaml:"default_area_code"`
}

// areaCode is the form of a Chinese area code with its trunk 0.
var areaCode = regexp.MustCompile(`^0[1-9][0-9]{1,2}$`)

// Validate checks the configuration.
func (c Config) Validate() error {
	if c.DefaultAreaCode != "" && !areaCode.MatchString(c.DefaultAreaCode) {
		return fmt.Errorf("default_area_code: %q is not an area code such as 010 or 0755", c.DefaultAreaCode)
	}
	return nil
}

// ExtraPhoneAreaCode is the Extra key naming the default area code intake
// put before the customer's landline number (see Config.Check).
const ExtraPhoneAreaCode = "phone_area_code_added"

// CompletePhone returns phone with the default area code before it when
// phone is a local landline number (7 or 8 digits, the first 2 to 9, no
// country or area code) and a default area code is set; else phone and
// false.
func (c Config) CompletePhone(phone string) (string, bool) {
	if c.DefaultAreaCode == "" || !localNumber(phone) {
		return phone, false
	}
	return c.DefaultAreaCode + "-" + strings.TrimSpace(phone), true
}

// Check completes e's phone number with the default area code where it
// needs one (recorded in Extra under ExtraPhoneAreaCode) and returns the
// problems of e.Validate.
func (c Config) Check(e *Envelope) []FieldError {
	if p, ok := c.CompletePhone(e.Phone); ok {
		e.Phone = p
		if e.Extra == nil {
			e.Extra = map[string]string{}
		}
		e.Extra[ExtraPhoneAreaCode] = c.DefaultAreaCode
	}
	return e.Validate()
}

// Messages of the phone rule, for customers.
const (
	msgPhoneChars    = "电话号码只能包含数字、空格、短横线和括号"
	msgPhoneAreaCode = "请填写带区号的固定电话，例如 010-62345678，或 11 位手机号码"
	msgPhoneMobile   = "手机号码应为 11 位数字，请检查是否漏填或多填"
	msgPhoneUnknown  = "无法识别的电话号码，请填写 11 位手机号码或带区号的固定电话，例如 010-62345678"
)

// PhoneE164 is the one rule for phone numbers: it returns the number in
// E.164 form (+8613800138000) when it is one a customer can be called back
// on, and a *FieldError for the field "phone" in words a customer can read
// otherwise. Intake accepts exactly the numbers it accepts, and the
// normalizer identifies customers by its result, so a number intake took
// is never lost on the way.
//
// Numbers without a country code are read as Chinese (mobiles, landlines
// with their area code, 400 and 800 numbers); others need + or 00 and
// their country code. Spaces (including the ideographic space), dashes,
// dots and parentheses are ignored, and full-width digits and plus signs
// count as their ASCII forms. A landline number without its area code is
// refused: Config.CompletePhone adds the installation's default first.
// Whether a number exists is not known; its form must be one that can.
func PhoneE164(s string) (string, error) {
	d, ok := ParsePhone(s)
	if !ok || d == "" || d == "+" {
		return "", &FieldError{Field: "phone", Message: msgPhoneChars}
	}
	if n, err := phonenumbers.Parse(d, "CN"); err == nil && phonenumbers.IsValidNumber(n) {
		return phonenumbers.Format(n, phonenumbers.E164), nil
	}
	national := stripCountryCode(d)
	switch {
	case strings.HasPrefix(d, "+") && !strings.HasPrefix(d, "+86"):
	case localNumber(national):
		return "", &FieldError{Field: "phone", Message: msgPhoneAreaCode}
	case len(national) > 2 && national[0] == '1' && national[1] >= '3' && len(national) != 11:
		return "", &FieldError{Field: "phone", Message: msgPhoneMobile}
	}
	return "", &FieldError{Field: "phone", Message: msgPhoneUnknown}
}

// localNumber reports whether s is a Chinese landline number without its
// area code: 7 or 8 digits, the first 2 to 9.
func localNumber(s string) bool {
	d, ok := ParsePhone(s)
	return ok && (len(d) == 7 || len(d) == 8) && d[0] >= '2' && d[0] <= '9'
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
