package router

import (
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"unicode/utf8"
)

// pattern is a condition's regular expression with what rules a text out
// before the expression runs: most complaints lack the words a pattern
// needs, and a backtracking search over the whole text costs far more
// than looking for a few strings.
type pattern struct {
	re *regexp.Regexp
	// literal is the expression itself when it is a plain string, found
	// with strings.Index; "" otherwise.
	literal string
	// needs are groups of strings: every match contains one string of
	// each group. Empty when the expression gives none (then it always
	// runs).
	needs [][]string
	// needRunes are the rune bits of literal (one group of one) or of
	// needs, group by group.
	needRunes [][]runeBits
}

// maxClassRunes is the largest character class whose runes are taken as
// needed strings; a larger class ([^。！？], [a-z]) tells little.
const maxClassRunes = 16

func newPattern(re *regexp.Regexp) pattern {
	p := pattern{re: re}
	// A regexp reads an invalid byte as U+FFFD, which the text then
	// does not contain: such patterns always run.
	if prefix, complete := re.LiteralPrefix(); complete && prefix != "" && !strings.ContainsRune(prefix, utf8.RuneError) {
		p.literal = prefix
		p.needRunes = [][]runeBits{{runeBitsOf(prefix)}}
		return p
	}
	if tree, err := syntax.Parse(re.String(), syntax.Perl); err == nil {
		p.needs = neededLiterals(tree.Simplify())
	}
	for _, group := range p.needs {
		p.needRunes = append(p.needRunes, runeBitsOfAll(group))
	}
	return p
}

// mayOccur reports whether a text of rune set s may hold a match: false
// only when, for one needed group, s rules out every string.
func (p pattern) mayOccur(s *runeSet) bool {
	for _, group := range p.needRunes {
		if !slices.ContainsFunc(group, s.mayHold) {
			return false
		}
	}
	return true
}

// possible reports whether text may hold a match: false only when it
// lacks every string of one of the needed groups.
func (p pattern) possible(text string) bool {
	for _, group := range p.needs {
		if !slices.ContainsFunc(group, func(s string) bool { return strings.Contains(text, s) }) {
			return false
		}
	}
	return true
}

// find is the leftmost match in text, nil when there is none; as
// re.FindStringIndex.
func (p pattern) find(text string) []int {
	if p.literal != "" {
		if i := strings.Index(text, p.literal); i >= 0 {
			return []int{i, i + len(p.literal)}
		}
		return nil
	}
	if !p.possible(text) {
		return nil
	}
	return p.re.FindStringIndex(text)
}

// findAll is every successive non-overlapping match in text; as
// re.FindAllStringIndex(text, -1).
func (p pattern) findAll(text string) [][]int {
	if p.literal != "" {
		var out [][]int
		for from := 0; ; {
			i := strings.Index(text[from:], p.literal)
			if i < 0 {
				return out
			}
			out = append(out, []int{from + i, from + i + len(p.literal)})
			from += i + len(p.literal)
		}
	}
	if !p.possible(text) {
		return nil
	}
	return p.re.FindAllStringIndex(text, -1)
}

// findAllSubmatch is every successive non-overlapping match in text with
// its submatches; as re.FindAllStringSubmatchIndex(text, -1).
func (p pattern) findAllSubmatch(text string) [][]int {
	if !p.possible(text) {
		return nil
	}
	return p.re.FindAllStringSubmatchIndex(text, -1)
}

// neededLiterals are groups of non-empty strings such that every match of
// re contains a string of each group; nil when re gives none (it may match
// without fixed text, or ignores case).
func neededLiterals(re *syntax.Regexp) [][]string {
	switch re.Op {
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 || len(re.Rune) == 0 || slices.Contains(re.Rune, utf8.RuneError) {
			return nil
		}
		return [][]string{{string(re.Rune)}}
	case syntax.OpCharClass:
		// Rune holds inclusive ranges lo, hi.
		var group []string
		for i := 0; i+1 < len(re.Rune); i += 2 {
			if int(re.Rune[i+1]-re.Rune[i])+1+len(group) > maxClassRunes {
				return nil
			}
			if re.Rune[i] <= utf8.RuneError && utf8.RuneError <= re.Rune[i+1] {
				return nil
			}
			for r := re.Rune[i]; r <= re.Rune[i+1]; r++ {
				group = append(group, string(r))
			}
		}
		if len(group) == 0 {
			return nil
		}
		return [][]string{group}
	case syntax.OpCapture, syntax.OpPlus:
		return neededLiterals(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min < 1 {
			return nil
		}
		return neededLiterals(re.Sub[0])
	case syntax.OpConcat:
		// A match holds a match of every part, so every part's groups.
		var groups [][]string
		for _, sub := range re.Sub {
			groups = append(groups, neededLiterals(sub)...)
		}
		return groups
	case syntax.OpAlternate:
		// A match is one of the alternatives: it holds a string of the
		// union of one group of each.
		var union []string
		for _, sub := range re.Sub {
			groups := neededLiterals(sub)
			if len(groups) == 0 {
				return nil
			}
			union = append(union, slices.MinFunc(groups, func(a, b []string) int { return len(a) - len(b) })...)
		}
		slices.Sort(union)
		return [][]string{slices.Compact(union)}
	}
	return nil
}
