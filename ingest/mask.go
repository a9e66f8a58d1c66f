package ingest

// MaskPhone hides the middle of a phone number for logs: 13800138000 and
// +86 138 0013 8000 both become 138****8000. Numbers too short to keep
// anything private are fully masked; the result never holds more than
// seven of the digits.
func MaskPhone(s string) string {
	digits, ok := ParsePhone(s)
	if !ok {
		digits = PhoneDigits(s)
	}
	d := stripCountryCode(digits)
	if len(d) < 8 {
		return "****"
	}
	return d[:3] + "****" + d[len(d)-4:]
}
