package imap

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/traditionalchinese"
)

// Charset labels that tousu decodes differently from the IANA registry,
// because senders mislabel: GBK and GB18030 text is routinely sent as
// "gb2312", so every GB label is decoded as GB18030 (a superset of GB2312
// and GBK); the Big5 variants as Big5.
var charsetOverrides = map[string]encoding.Encoding{
	"gb2312":      simplifiedchinese.GB18030,
	"csgb2312":    simplifiedchinese.GB18030,
	"gb_2312-80":  simplifiedchinese.GB18030,
	"gb_2312":     simplifiedchinese.GB18030,
	"chinese":     simplifiedchinese.GB18030,
	"euc-cn":      simplifiedchinese.GB18030,
	"x-euc-cn":    simplifiedchinese.GB18030,
	"gbk":         simplifiedchinese.GB18030,
	"x-gbk":       simplifiedchinese.GB18030,
	"csgbk":       simplifiedchinese.GB18030,
	"cp936":       simplifiedchinese.GB18030,
	"ms936":       simplifiedchinese.GB18030,
	"windows-936": simplifiedchinese.GB18030,
	"gb18030":     simplifiedchinese.GB18030,
	"csgb18030":   simplifiedchinese.GB18030,
	"big5":        traditionalchinese.Big5,
	"csbig5":      traditionalchinese.Big5,
	"x-big5":      traditionalchinese.Big5,
	"cn-big5":     traditionalchinese.Big5,
	"big5-hkscs":  traditionalchinese.Big5,
	"cp950":       traditionalchinese.Big5,
	"x-x-big5":    traditionalchinese.Big5,
}

// normLabel lower-cases a charset label and removes quotes, spaces and an
// RFC 2231 language suffix ("utf-8*zh").
func normLabel(label string) string {
	label = strings.ToLower(strings.Trim(strings.TrimSpace(label), `"'`))
	if i := strings.IndexByte(label, '*'); i >= 0 {
		label = label[:i]
	}
	return label
}

// isUTF8Label reports whether label names UTF-8 or one of its subsets.
func isUTF8Label(label string) bool {
	switch normLabel(label) {
	case "utf-8", "utf8", "us-ascii", "ascii", "ansi_x3.4-1968", "unicode-1-1-utf-8", "x-utf_8j":
		return true
	}
	return false
}

// decodeCharset converts b from the charset label to UTF-8. An empty label
// means "not declared". The result is always valid UTF-8: undecodable bytes
// become U+FFFD. ok is false when the label is unknown or the bytes do not
// fit it; the text is then a best guess (UTF-8 if valid, else GB18030, the
// most common legacy charset of Chinese mail).
func decodeCharset(label string, b []byte) (s string, ok bool) {
	label = normLabel(label)
	switch {
	case label == "" || isUTF8Label(label):
		if utf8.Valid(b) {
			return string(b), true
		}
		if label == "" || isASCIIlabel(label) || mostlyNotUTF8(b) {
			// Undeclared (or declared ASCII) 8-bit text, or "UTF-8" that
			// is mostly not: guess GB18030.
			return guessLegacy(b), false
		}
		return strings.ToValidUTF8(string(b), "\uFFFD"), false
	case isLatin1Label(label) && looksDoubleByte(b):
		// "iso-8859-1" on Chinese text: Latin-1 decodes any byte, so the
		// lie shows only in the bytes' pattern.
		if utf8.Valid(b) {
			return string(b), false
		}
		return guessLegacy(b), false
	}
	if enc, found := charsetOverrides[label]; found {
		return decodeWith(enc, b), true
	}
	r, err := charset.Reader(label, bytes.NewReader(b))
	if err != nil {
		if utf8.Valid(b) {
			return string(b), false
		}
		return guessLegacy(b), false
	}
	out, err := io.ReadAll(r)
	if err != nil {
		return strings.ToValidUTF8(string(out), "\uFFFD"), false
	}
	return strings.ToValidUTF8(string(out), "\uFFFD"), true
}

// mostlyNotUTF8 reports whether b, which is not valid UTF-8, has more
// invalid bytes than multi-byte UTF-8 characters: legacy text labelled
// UTF-8, not UTF-8 text with a stray byte or a character cut at its end.
func mostlyNotUTF8(b []byte) bool {
	good, bad := 0, 0
	for len(b) > 0 && utf8.FullRune(b) {
		r, n := utf8.DecodeRune(b)
		switch {
		case r == utf8.RuneError && n == 1:
			bad++
		case n > 1:
			good++
		}
		b = b[n:]
	}
	return bad > good
}

func isLatin1Label(label string) bool {
	switch label {
	case "iso-8859-1", "iso8859-1", "latin1", "l1", "iso_8859-1", "windows-1252", "cp1252":
		return true
	}
	return false
}

// looksDoubleByte reports whether the 8-bit bytes of b come in runs of
// two or more, as in GBK, Big5 or UTF-8, and not alone between ASCII as
// in Western text (café, Grüße). It needs at least four of them.
func looksDoubleByte(b []byte) bool {
	high, alone := 0, 0
	for i, c := range b {
		if c < 0x80 {
			continue
		}
		high++
		if (i == 0 || b[i-1] < 0x80) && (i+1 == len(b) || b[i+1] < 0x80) {
			alone++
		}
	}
	return high >= 4 && alone*10 < high
}

func isASCIIlabel(label string) bool {
	switch label {
	case "us-ascii", "ascii", "ansi_x3.4-1968":
		return true
	}
	return false
}

func decodeWith(enc encoding.Encoding, b []byte) string {
	out, err := enc.NewDecoder().Bytes(b)
	if err != nil {
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	return strings.ToValidUTF8(string(out), "\uFFFD")
}

// guessLegacy decodes bytes that are not UTF-8 and carry no usable label
// as GB18030.
func guessLegacy(b []byte) string {
	return decodeWith(simplifiedchinese.GB18030, b)
}

// encodedWord matches one RFC 2047 encoded-word. Charset and encoding are
// matched case-insensitively by the callers.
var encodedWord = regexp.MustCompile(`=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=`)

// rawWordDecoder decodes the B or Q payload of one encoded-word without
// converting its charset, so that adjacent words of the same charset can be
// joined before conversion (senders split multi-byte characters across
// words).
var rawWordDecoder = &mime.WordDecoder{CharsetReader: func(_ string, r io.Reader) (io.Reader, error) { return r, nil }}

// decodeHeaderChecked decodes an unfolded header value to UTF-8 text: raw 8-bit
// bytes (sent without encoding, against the RFC) are decoded with fallback
// (the message's body charset, or a GB18030 guess), then RFC 2047
// encoded-words in any charset and casing are decoded. Adjacent
// encoded-words are joined without the whitespace between them, and their
// bytes are joined before charset conversion when they share a charset. An
// encoded-word that cannot be decoded is kept as it is. ok is false when
// anything was a guess: 8-bit bytes that do not fit fallback, a word in an
// unknown charset or with a broken payload.
func decodeHeaderChecked(v, fallback string) (s string, ok bool) {
	ok = true
	if !utf8.ValidString(v) {
		v, ok = decodeCharset(fallback, []byte(v))
	}
	if !strings.Contains(v, "=?") {
		return v, ok
	}
	locs := encodedWord.FindAllStringSubmatchIndex(v, -1)
	if locs == nil {
		return v, ok
	}
	var out strings.Builder
	var pending []byte // raw bytes of a run of words in pendingCS
	pendingCS := ""
	flush := func() {
		if pendingCS != "" {
			s, fits := decodeCharset(pendingCS, pending)
			ok = ok && fits
			out.WriteString(s)
		}
		pending, pendingCS = pending[:0], ""
	}
	last := 0
	for _, loc := range locs {
		between := v[last:loc[0]]
		word := v[loc[0]:loc[1]]
		cs := normLabel(v[loc[2]:loc[3]])
		raw, clean, err := decodeWordBytes(word)
		ok = ok && clean
		if err != nil {
			// Not decodable: keep it literally, like surrounding text.
			ok = false
			flush()
			out.WriteString(between)
			out.WriteString(word)
			last = loc[1]
			continue
		}
		if pendingCS != "" && strings.TrimSpace(between) == "" {
			// Whitespace between two encoded-words is not part of the text.
			if cs != pendingCS {
				flush()
			}
		} else {
			flush()
			out.WriteString(between)
		}
		pendingCS = cs
		pending = append(pending, raw...)
		last = loc[1]
	}
	flush()
	out.WriteString(v[last:])
	return out.String(), ok
}

// decodeHeader is decodeHeaderChecked without the verdict.
func decodeHeader(v, fallback string) string {
	s, _ := decodeHeaderChecked(v, fallback)
	return s
}

// checkHeader returns v unchanged, for fields decoded later (addresses),
// and whether decodeHeaderChecked would decode it without guessing.
func checkHeader(v, fallback string) (string, bool) {
	_, ok := decodeHeaderChecked(v, fallback)
	return v, ok
}

// errBadWord marks an encoded-word whose payload cannot be decoded.
var errBadWord = errors.New("malformed encoded-word")

// decodeWordBytes returns the bytes an encoded-word carries, in its own
// charset. Broken B and Q payloads are decoded as far as they go; clean is
// then false. The error says nothing could be decoded.
func decodeWordBytes(word string) (b []byte, clean bool, err error) {
	q := strings.Index(word[2:], "?") + 2 // the ? before the encoding letter
	if word[q+1] == 'b' || word[q+1] == 'B' {
		b, clean = lenientBase64([]byte(word[q+3 : len(word)-2]))
		if len(b) == 0 && len(word) > q+5 {
			return nil, false, errBadWord
		}
		return b, clean, nil
	}
	payload := bytes.ReplaceAll([]byte(word[q+3:len(word)-2]), []byte("_"), []byte(" "))
	b, clean = lenientQP(payload)
	if !clean && len(b) == len(payload) {
		return nil, false, errBadWord // nothing decodable
	}
	return b, clean, nil
}

// lenientQP decodes quoted-printable as far as it goes: "=XX" (hex in
// either case) is a byte, "=" before the line end (white space and stray
// CRs tolerated) is a soft line break, white space at a line's end is
// dropped, and any other "=" is kept as it is. ok is false when such an
// "=" was kept.
func lenientQP(in []byte) (out []byte, ok bool) {
	ok = true
	out = make([]byte, 0, len(in))
	for len(in) > 0 {
		var l []byte
		var nl bool
		l, in, nl = cutLine(in)
		l = bytes.TrimRight(l, " \t\r")
		soft := bytes.HasSuffix(l, []byte("="))
		if soft {
			l = l[:len(l)-1]
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if c != '=' {
				out = append(out, c)
				continue
			}
			if i+2 < len(l) && isHex(l[i+1]) && isHex(l[i+2]) {
				out = append(out, unhex(l[i+1])<<4|unhex(l[i+2]))
				i += 2
				continue
			}
			ok = false
			out = append(out, c)
		}
		if nl && !soft {
			out = append(out, '\n')
		}
	}
	return out, ok
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// looksBase64 reports whether data may be base64 at all: at most a tenth
// of its bytes other than white space lie outside the alphabet. Plain text
// sent with a base64 label (Chinese text above all, whose bytes are all
// outside it) is not, and is better read as it is.
func looksBase64(data []byte) bool {
	other, total := 0, 0
	for _, c := range data {
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			continue
		case 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/' || c == '=':
		default:
			other++
		}
		total++
	}
	return other*10 <= total
}

// lenientBase64 decodes standard base64 as far as possible: padding may be
// missing, padding in the middle (concatenated encodings) starts a new
// run, and a line with characters outside the alphabet is cleaned of them
// if what remains still has whole 4-character groups, else dropped (so the
// lines after it stay aligned; the last line is always kept). ok is false when anything was skipped or a
// dangling character dropped.
func lenientBase64(in []byte) (out []byte, ok bool) {
	ok = true
	out = make([]byte, 0, len(in)*3/4)
	run := make([]byte, 0, len(in))
	decodeRun := func() {
		if len(run)%4 == 1 {
			run = run[:len(run)-1] // a single char carries no whole byte
			ok = false
		}
		buf := make([]byte, base64.RawStdEncoding.DecodedLen(len(run)))
		n, err := base64.RawStdEncoding.Decode(buf, run)
		if err != nil {
			ok = false
		}
		out = append(out, buf[:n]...)
		run = run[:0]
	}
	isAlpha := func(c byte) bool {
		return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/'
	}
	line := make([]byte, 0, 80)
	for len(in) > 0 {
		var l []byte
		l, in, _ = cutLine(in)
		line, bad := line[:0], false
		if bytes.ContainsAny(bytes.TrimSpace(l), " \t") {
			// White space inside a line: prose (a signature, "Sent from
			// my phone") after or amid the encoding, not base64.
			ok = false
			continue
		}
		for _, c := range l {
			switch {
			case isAlpha(c), c == '=':
				line = append(line, c)
			case c == '\r' || c == ' ' || c == '\t':
			default:
				bad = true
			}
		}
		if bad {
			ok = false
			if len(line)%4 != 0 && len(in) > 0 {
				continue // misaligned by garbage: drop the line, keep the rest aligned
			}
		}
		for _, c := range line {
			if c == '=' {
				if len(run) > 0 {
					decodeRun()
				}
				continue
			}
			run = append(run, c)
		}
	}
	if len(run) > 0 {
		decodeRun()
	}
	return out, ok
}
