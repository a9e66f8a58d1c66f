package router

import "unicode/utf8"

// runeSet is a set of 4,096 bits, one for each hash of a rune: which runes
// a text may hold. A string with a rune whose bit is not set is not in the
// text, which a few bit tests tell for most of a pack's keywords, where
// strings.Contains scans the text (CJK keywords share their first bytes,
// so its byte search stops often).
type runeSet [64]uint64

// runeBit is the bit of r in a runeSet.
func runeBit(r rune) uint16 { return uint16(uint32(r) * 2654435761 >> 20) }

// runeSetOf is the set of the runes of text.
func runeSetOf(text string) *runeSet {
	var s runeSet
	for _, r := range text {
		b := runeBit(r)
		s[b>>6] |= 1 << (b & 63)
	}
	return &s
}

// runeBits are the bits of a string's runes, each once; nil for a string
// that is not valid UTF-8 (the runes of such a string inside a text need
// not be its own), which the set then never rules out.
type runeBits []uint16

// runeBitsOf returns the bits of k's runes.
func runeBitsOf(k string) runeBits {
	if !utf8.ValidString(k) {
		return nil
	}
	var out runeBits
	for _, r := range k {
		if b := runeBit(r); !containsBit(out, b) {
			out = append(out, b)
		}
	}
	return out
}

func containsBit(bits runeBits, b uint16) bool {
	for _, x := range bits {
		if x == b {
			return true
		}
	}
	return false
}

// mayHold reports whether a text of set s may contain a string of bits
// b: false only when one of its runes is not in the text.
func (s *runeSet) mayHold(b runeBits) bool {
	for _, x := range b {
		if s[x>>6]&(1<<(x&63)) == 0 {
			return false
		}
	}
	return true
}

// runeBitsOfAll returns the bits of each of ks.
func runeBitsOfAll(ks []string) []runeBits {
	out := make([]runeBits, len(ks))
	for i, k := range ks {
		out[i] = runeBitsOf(k)
	}
	return out
}
