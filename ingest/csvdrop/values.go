package csvdrop

import (
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"golang.org/x/text/width"

	"github.com/tousu/tousu/ingest"
)

// Shanghai is the zone of times written without one: China Standard Time,
// UTC+8 (no daylight saving since 1991).
var Shanghai = time.FixedZone("CST", 8*3600)

// unguard removes what Excel users put around numbers to keep them text:
// a leading apostrophe, the formula form ="…", and a leading tab.
func unguard(s string) string {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, `="`) && strings.HasSuffix(s, `"`) && len(s) >= 3 {
		s = s[2 : len(s)-1]
	}
	s = strings.TrimPrefix(s, "'")
	return strings.TrimSpace(s)
}

// narrow folds full-width ASCII forms (digits, letters, punctuation and
// the ideographic space) to their ASCII forms.
func narrow(s string) string {
	if isASCII(s) {
		return s
	}
	return width.Narrow.String(strings.ReplaceAll(s, "\u3000", " "))
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// scientific matches a number Excel displays in scientific notation:
// 1.38001E+10. The digits it stood for are lost.
var scientific = regexp.MustCompile(`^[0-9](\.[0-9]+)?[eE]\+?[0-9]+$`)

func isScientific(s string) bool {
	return strings.ContainsAny(s, "eE") && scientific.MatchString(s)
}

// CleanSourceID returns the work-order number of a cell (full-width
// folded, Excel guards removed) and false when the cell holds a number
// Excel turned into scientific notation, which must not become an id:
// many different numbers share one such form.
func CleanSourceID(s string) (string, bool) {
	s = narrow(unguard(s))
	if isScientific(s) {
		return s, false
	}
	return s, true
}

// phoneSeparators split a cell that lists several numbers.
var phoneSeparators = func(r rune) bool {
	switch r {
	case '/', '／', '、', '､', ',', '，', ';', '；', '|', '\n':
		return true
	}
	return false
}

// SplitPhone returns the caller's number from a phone cell and the other
// numbers the cell lists. The first number that intake accepts (one
// ingest.PhoneE164 accepts once intake completed it with the default area
// code) wins; when none does, the whole (cleaned) cell is returned so that
// the check reports it. Full-width digits are folded to ASCII.
func SplitPhone(s string, intake ingest.Config) (phone string, others []string) {
	s = narrow(unguard(s))
	parts := strings.FieldsFunc(s, phoneSeparators)
	if len(parts) <= 1 {
		return s, nil
	}
	for i, p := range parts {
		p = strings.TrimSpace(p)
		full, _ := intake.CompletePhone(p)
		if _, err := ingest.PhoneE164(full); err == nil {
			for j, q := range parts {
				if q = strings.TrimSpace(q); j != i && q != "" {
					others = append(others, q)
				}
			}
			return p, others
		}
	}
	return s, nil
}

// chineseUnits fold 年月日时分秒 into separators.
var chineseUnits = strings.NewReplacer("年", "-", "月", "-", "日", " ", "号", " ", "时", ":", "点", ":", "分", ":", "秒", "")

// excelEpoch is day 0 of Excel's 1900 date system as it counts after
// 1900-03-01 (its phantom 1900-02-29 shifts the start by one day).
var excelEpoch = time.Date(1899, 12, 30, 0, 0, 0, 0, time.UTC)

// ParseTime reads a receive time as call-centre exports write it:
// 2025/1/6 12:09:38, 2025-01-06 12:09, 2025-01-06T12:09:38+08:00,
// 20250106, 20250106120938, 2025年1月6日 12时09分, full-width digits, and
// Excel date serials (45663.50694, five digits: 1927 to 2173). A time
// without a zone is in loc (Shanghai when nil). It reports false for
// anything else, including impossible dates such as 2025-02-30 and years
// before 1900.
func ParseTime(s string, loc *time.Location) (time.Time, bool) {
	if loc == nil {
		loc = Shanghai
	}
	s = narrow(unguard(s))
	if s == "" || len(s) > 64 {
		return time.Time{}, false
	}
	if isSerial(s) {
		return fromSerial(s, loc)
	}
	if n := len(s); digitsOnly(s) && (n == 8 || n == 12 || n == 14) {
		p := timeParts{y: s[0:4], mo: s[4:6], d: s[6:8]}
		if n >= 12 {
			p.h, p.mi = s[8:10], s[10:12]
		}
		if n == 14 {
			p.s = s[12:14]
		}
		return p.build(loc)
	}
	if !isASCII(s) {
		s = chineseUnits.Replace(s)
	}
	s = strings.Join(strings.Fields(strings.TrimRight(strings.TrimSpace(s), ":")), " ")
	p, ok := splitDateTime(s)
	if !ok {
		return time.Time{}, false
	}
	return p.build(loc)
}

// timeParts are the digit groups of a date and time.
type timeParts struct {
	y, mo, d, h, mi, s, frac, zone string
}

// scanner walks a date string.
type scanner struct {
	s string
	i int
}

// digits consumes min to max ASCII digits.
func (c *scanner) digits(min, max int) (string, bool) {
	j := c.i
	for j < len(c.s) && j-c.i < max && c.s[j] >= '0' && c.s[j] <= '9' {
		j++
	}
	if j-c.i < min {
		return "", false
	}
	out := c.s[c.i:j]
	c.i = j
	return out, true
}

// one consumes one byte of set.
func (c *scanner) one(set string) bool {
	if c.i < len(c.s) && strings.IndexByte(set, c.s[c.i]) >= 0 {
		c.i++
		return true
	}
	return false
}

// splitDateTime splits YYYY-M-D[( |T)H:MM[:SS[.frac]]][ ][Z|±HH[:]MM], with
// "-", "/" or "." between the date parts.
func splitDateTime(s string) (timeParts, bool) {
	var p timeParts
	var ok bool
	c := &scanner{s: s}
	if p.y, ok = c.digits(4, 4); !ok || !c.one("-/.") {
		return p, false
	}
	if p.mo, ok = c.digits(1, 2); !ok || !c.one("-/.") {
		return p, false
	}
	if p.d, ok = c.digits(1, 2); !ok {
		return p, false
	}
	if c.one(" T") {
		for c.one(" T") {
		}
		if p.h, ok = c.digits(1, 2); !ok || !c.one(":") {
			return p, false
		}
		if p.mi, ok = c.digits(1, 2); !ok {
			return p, false
		}
		if c.one(":") {
			if p.s, ok = c.digits(1, 2); !ok {
				return p, false
			}
			if c.one(".,") {
				if p.frac, ok = c.digits(1, 9); !ok {
					return p, false
				}
			}
		}
		c.one(" ")
		switch rest := s[c.i:]; {
		case rest == "Z":
			p.zone, c.i = rest, len(s)
		case len(rest) == 5 || len(rest) == 6 && rest[3] == ':':
			if rest[0] != '+' && rest[0] != '-' || !digitsOnly(strings.Replace(rest[1:], ":", "", 1)) {
				return p, false
			}
			p.zone, c.i = rest, len(s)
		}
	}
	return p, c.i == len(s)
}

func digitsOnly(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// isSerial matches an Excel date serial: five digits not starting with 0,
// optionally a fraction.
func isSerial(s string) bool {
	whole, frac, dot := strings.Cut(s, ".")
	return len(whole) == 5 && whole[0] != '0' && digitsOnly(whole) && (!dot || digitsOnly(frac))
}

func fromSerial(s string, loc *time.Location) (time.Time, bool) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 1 {
		return time.Time{}, false
	}
	days := math.Floor(v)
	secs := math.Round((v - days) * 86400)
	t := excelEpoch.AddDate(0, 0, int(days)).Add(time.Duration(secs) * time.Second)
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), 0, loc), true
}

func (p timeParts) build(loc *time.Location) (time.Time, bool) {
	num := func(s string) int {
		n, _ := strconv.Atoi(s)
		return n
	}
	year, month, day := num(p.y), num(p.mo), num(p.d)
	hour, minute, second := num(p.h), num(p.mi), num(p.s)
	if year < 1900 || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 59 {
		return time.Time{}, false
	}
	nanos := 0
	if p.frac != "" {
		nanos = num((p.frac + "000000000")[:9])
	}
	switch z := strings.ReplaceAll(p.zone, ":", ""); {
	case z == "":
	case z == "Z":
		loc = time.UTC
	default:
		hh, mm := num(z[1:3]), num(z[3:5])
		if hh > 14 || mm > 59 {
			return time.Time{}, false
		}
		offset := hh*3600 + mm*60
		if z[0] == '-' {
			offset = -offset
		}
		loc = time.FixedZone("", offset)
	}
	t := time.Date(year, time.Month(month), day, hour, minute, second, nanos, loc)
	if t.Day() != day || int(t.Month()) != month {
		return time.Time{}, false // 2025-02-30
	}
	return t, true
}
