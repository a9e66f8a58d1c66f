package normalize

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"unicode"
)

// SketchSize is the most shingle hashes a Sketch keeps: texts of up to
// about this many letters and digits are compared exactly, longer ones by
// an estimate whose error is about 0.03 near a similarity of 0.9.
const SketchSize = 256

// Sketch is the comparable form of a text: the SketchSize smallest hashes
// of its character bigrams (its letters and digits, lower-cased, in order;
// punctuation and spaces are left out), sorted ascending without repeats.
// Two sketches give the Jaccard similarity of the texts' bigram sets
// (exactly when the texts together have at most SketchSize bigrams), which
// is what makes Chinese text comparable without a word segmenter.
// In JSON a Sketch is a base64 string of 4 bytes per hash.
type Sketch []uint32

// SketchOf returns the sketch of text. A text with a single letter or digit
// has that letter as its only shingle; a text with none has an empty sketch,
// similar to nothing.
func SketchOf(text string) Sketch {
	var (
		buf       []uint32
		out       Sketch
		limit     = ^uint32(0) // hashes at or above it cannot enter the bottom k
		prev      rune
		havePrev  bool
		shingles  int
		lastAlone rune
	)
	flush := func() {
		out = append(out, buf...)
		slices.Sort(out)
		out = slices.Compact(out)
		if len(out) > SketchSize {
			out = out[:SketchSize]
			limit = out[SketchSize-1]
		}
		buf = buf[:0]
	}
	for _, r := range text {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			continue
		}
		r = unicode.ToLower(r)
		if !havePrev {
			prev, havePrev, lastAlone = r, true, r
			continue
		}
		h := shingleHash(prev, r)
		prev = r
		shingles++
		if h >= limit {
			continue
		}
		if buf = append(buf, h); len(buf) >= 4*SketchSize {
			flush()
		}
	}
	if shingles == 0 && havePrev {
		buf = append(buf, shingleHash(lastAlone, 0))
	}
	flush()
	if len(out) == 0 {
		return nil
	}
	return slices.Clip(out)
}

// shingleHash mixes two runes (21 bits each) into a well spread 32-bit hash
// (splitmix64's finaliser).
func shingleHash(a, b rune) uint32 {
	return uint32(mix64(uint64(a)<<21|uint64(b)) >> 32)
}

func mix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// Similarity is the Jaccard similarity of the texts behind two sketches,
// from 0 (nothing in common) to 1 (the same bigrams). An empty sketch is
// similar to nothing. It estimates from the SketchSize smallest hashes of
// the union, so it is exact for short texts and cheap for long ones.
func Similarity(a, b Sketch) float64 {
	if len(a) == 0 || len(b) == 0 {
		return 0
	}
	i, j, union, both := 0, 0, 0, 0
	for union < SketchSize && (i < len(a) || j < len(b)) {
		switch {
		case j >= len(b) || i < len(a) && a[i] < b[j]:
			i++
		case i >= len(a) || b[j] < a[i]:
			j++
		default:
			i++
			j++
			both++
		}
		union++
	}
	return float64(both) / float64(union)
}

// MarshalText implements encoding.TextMarshaler: base64 of the hashes, 4
// big-endian bytes each.
func (s Sketch) MarshalText() ([]byte, error) {
	raw := make([]byte, 4*len(s))
	for i, h := range s {
		binary.BigEndian.PutUint32(raw[4*i:], h)
	}
	out := make([]byte, base64.RawStdEncoding.EncodedLen(len(raw)))
	base64.RawStdEncoding.Encode(out, raw)
	return out, nil
}

// UnmarshalText implements encoding.TextUnmarshaler. It rejects text that
// is not a sketch: bad base64, a length that is not a multiple of 4 bytes,
// hashes out of order, or more than SketchSize of them.
func (s *Sketch) UnmarshalText(text []byte) error {
	raw := make([]byte, base64.RawStdEncoding.DecodedLen(len(text)))
	n, err := base64.RawStdEncoding.Decode(raw, text)
	if err != nil {
		return fmt.Errorf("sketch: %w", err)
	}
	raw = raw[:n]
	if len(raw)%4 != 0 || len(raw)/4 > SketchSize {
		return fmt.Errorf("sketch: %d bytes is not a sketch of at most %d hashes", len(raw), SketchSize)
	}
	out := make(Sketch, len(raw)/4)
	for i := range out {
		out[i] = binary.BigEndian.Uint32(raw[4*i:])
		if i > 0 && out[i] <= out[i-1] {
			return fmt.Errorf("sketch: hashes out of order at %d", i)
		}
	}
	if len(out) == 0 {
		out = nil
	}
	*s = out
	return nil
}

// numbersOf lists the distinct runs of ASCII digits in text, sorted: order
// numbers, amounts, dates, device numbers. CleanText has already made
// full-width digits ASCII.
func numbersOf(text string) []string {
	var out []string
	for i := 0; i < len(text); {
		if text[i] < '0' || text[i] > '9' {
			i++
			continue
		}
		j := i
		for j < len(text) && text[j] >= '0' && text[j] <= '9' {
			j++
		}
		out = append(out, text[i:j])
		i = j
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// numbersAgree reports whether two texts can be about the same matter as
// far as their numbers tell: when both name numbers, one text's numbers
// must include the other's. "多收了30元" and "多收了50元" disagree; "多收了30元"
// and "多收了30元，第2次了" agree.
func numbersAgree(a, b []string) bool {
	if len(a) == 0 || len(b) == 0 {
		return true
	}
	return subset(a, b) || subset(b, a)
}

// subset reports whether every element of the sorted a is in the sorted b.
func subset(a, b []string) bool {
	j := 0
	for _, x := range a {
		for j < len(b) && b[j] < x {
			j++
		}
		if j >= len(b) || b[j] != x {
			return false
		}
	}
	return true
}

// Fingerprint is what detection compares of a complaint: the sketch of its
// subject and description, the numbers in them, and the text in upper
// case for spotting a reference number the customer quotes.
type Fingerprint struct {
	Sketch  Sketch
	Numbers []string
	upper   string
}

// FingerprintOf returns the fingerprint of a normalized complaint.
func FingerprintOf(c Complaint) Fingerprint {
	text := c.Description
	if c.Subject != "" {
		text = c.Subject + "\n" + text
	}
	return Fingerprint{Sketch: SketchOf(text), Numbers: numbersOf(text), upper: strings.ToUpper(text)}
}

// mentions returns the first of refs the fingerprinted text quotes.
func (f Fingerprint) mentions(refs []string) string {
	for _, r := range refs {
		if r != "" && strings.Contains(f.upper, r) {
			return r
		}
	}
	return ""
}
