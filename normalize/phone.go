package normalize

import (
	"errors"
	"strings"

	"github.com/tousu/tousu/ingest"
)

// ErrBadPhone is returned by PhoneE164 for text that is not a phone number.
var ErrBadPhone = errors.New("not a phone number")

// PhoneE164 returns a phone number in E.164 form. Numbers without a country
// code are taken as Chinese (+86): mobiles (1xx, 11 digits), landlines with
// their 0-prefixed area code (010-12345678), and 400/800 service numbers.
// Separators and full-width digits are accepted as ingest.ParsePhone reads
// them; a leading 00 is read as +.
func PhoneE164(raw string) (string, error) {
	d, ok := ingest.ParsePhone(raw)
	if !ok {
		return "", ErrBadPhone
	}
	d, plus := strings.CutPrefix(d, "+")
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
