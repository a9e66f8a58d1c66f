package normalize

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
	"golang.org/x/text/width"
)

// CleanText turns customer text into what agents read and the index
// searches: full-width digits and Latin letters made half-width (Chinese
// punctuation stays full-width), control characters removed, spaces
// collapsed, at most one blank line between paragraphs. It never reads
// markup: envelopes carry plain text, since the channels that receive HTML
// render it (ingest.HTMLToText), so "<password>" in a complaint stays.
func CleanText(s string) string {
	// Composed after the control characters are gone, since one between
	// a letter and its combining mark keeps them apart.
	s = norm.NFC.String(strings.Map(narrowAlnum, s))
	return tidyWhitespace(s)
}

// narrowAlnum maps full-width digits, Latin letters and the ideographic
// space to their half-width forms and drops control characters other than
// newline and tab.
func narrowAlnum(r rune) rune {
	switch {
	case r >= '０' && r <= '９', r >= 'Ａ' && r <= 'Ｚ', r >= 'ａ' && r <= 'ｚ':
		return width.LookupRune(r).Narrow()
	case r == '\u3000':
		return ' '
	case r == '\n' || r == '\t':
		return r
	case unicode.IsControl(r) || r == '\ufeff':
		return -1
	}
	return r
}

// tidyWhitespace trims every line, collapses runs of spaces and tabs to one
// space and keeps at most one empty line in a row.
func tidyWhitespace(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	var b strings.Builder
	blank := 0
	for _, line := range strings.Split(s, "\n") {
		line = strings.Join(strings.Fields(line), " ")
		if line == "" {
			blank++
			continue
		}
		if b.Len() > 0 {
			if blank > 0 {
				b.WriteString("\n\n")
			} else {
				b.WriteString("\n")
			}
		}
		blank = 0
		b.WriteString(line)
	}
	return b.String()
}
