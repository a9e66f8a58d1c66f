package normalize

import (
	"strings"
	"unicode"

	"golang.org/x/net/html"
	"golang.org/x/text/unicode/norm"
	"golang.org/x/text/width"
)

// CleanText turns customer text into what agents read and the index
// searches: HTML reduced to its text, full-width digits and Latin letters
// made half-width (Chinese punctuation stays full-width), control characters
// removed, spaces collapsed, at most one blank line between paragraphs.
func CleanText(s string) string {
	if looksLikeHTML(s) {
		s = htmlToText(s)
	}
	s = norm.NFC.String(s)
	s = strings.Map(narrowAlnum, s)
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

func looksLikeHTML(s string) bool {
	i := strings.IndexByte(s, '<')
	if i < 0 {
		return false
	}
	lower := strings.ToLower(s[i:])
	for _, tag := range []string{"<html", "<body", "<p", "<br", "<div", "<span", "<table", "<!doctype", "<font", "<b>", "<a "} {
		if strings.Contains(lower, tag) {
			return true
		}
	}
	return false
}

// htmlToText keeps the text of an HTML document, with a line break after
// block elements and <br>, and drops scripts and styles.
func htmlToText(s string) string {
	z := html.NewTokenizer(strings.NewReader(s))
	var b strings.Builder
	skip := 0
	for {
		switch z.Next() {
		case html.ErrorToken:
			return b.String()
		case html.TextToken:
			if skip == 0 {
				b.Write(z.Text())
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			name, _ := z.TagName()
			switch string(name) {
			case "script", "style", "head", "title":
				skip++
			case "br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote":
				b.WriteByte('\n')
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			switch string(name) {
			case "script", "style", "head", "title":
				if skip > 0 {
					skip--
				}
			case "p", "div", "li", "tr", "table", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote":
				b.WriteByte('\n')
			}
		}
	}
}
