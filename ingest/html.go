package ingest

import (
	"regexp"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// HTML reaches tousu only where its source says it is HTML: an e-mail's
// text/html part, a webhook field the source's configuration declares as
// HTML. The adapter that receives it renders it as text with HTMLToText
// and notes that in Extra under ExtraTextFromHTML; every envelope carries
// plain text, and later stages never guess whether text is markup.

// ExtraTextFromHTML is the Extra key set to "true" when the envelope's
// description was rendered from HTML.
const ExtraTextFromHTML = "text_from_html"

// HTMLToText renders HTML as plain text: scripts, styles and the head are
// dropped, block elements and <br> become line breaks, list items get a
// leading "- ", table cells are separated by a tab, runs of white space
// inside text collapse to one space (except in <pre>), and link targets
// that differ from their text follow it in parentheses.
func HTMLToText(s string) string {
	z := html.NewTokenizer(strings.NewReader(s))
	var out []byte
	skip := 0 // depth inside script/style/head/title
	pre := 0  // depth inside pre
	var href string
	linkStart := 0
	endsWith := func(set string) bool { return len(out) == 0 || strings.IndexByte(set, out[len(out)-1]) >= 0 }
	newline := func(n int) {
		// Make the text end with n line breaks (none at the very start).
		for len(out) > 0 && (out[len(out)-1] == ' ' || out[len(out)-1] == '\t') {
			out = out[:len(out)-1]
		}
		if len(out) == 0 {
			return
		}
		have := 0
		for i := len(out) - 1; i >= 0 && out[i] == '\n' && have < n; i-- {
			have++
		}
		for ; have < n; have++ {
			out = append(out, '\n')
		}
	}
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return TidyText(string(out))
		case html.TextToken:
			if skip > 0 {
				continue
			}
			t := string(z.Text())
			if pre == 0 {
				t = CollapseSpace(t)
				if strings.HasPrefix(t, " ") && endsWith(" \t\n") {
					t = t[1:]
				}
			}
			out = append(out, t...)
		case html.StartTagToken, html.SelfClosingTagToken, html.EndTagToken:
			name, hasAttr := z.TagName()
			a := atom.Lookup(name)
			end := tt == html.EndTagToken
			switch a {
			case atom.Script, atom.Style, atom.Head, atom.Title, atom.Noscript, atom.Template:
				if tt == html.StartTagToken {
					skip++
				} else if end && skip > 0 {
					skip--
				}
				continue
			}
			if skip > 0 {
				continue
			}
			switch a {
			case atom.Br:
				out = append(out, '\n')
			case atom.P, atom.Div, atom.Blockquote, atom.Section, atom.Article, atom.Header, atom.Footer,
				atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6, atom.Ul, atom.Ol, atom.Dl, atom.Table, atom.Hr, atom.Form:
				newline(2)
			case atom.Tr, atom.Dt, atom.Dd, atom.Center, atom.Address, atom.Caption:
				newline(1)
			case atom.Pre:
				newline(2)
				if tt == html.StartTagToken {
					pre++
				} else if end && pre > 0 {
					pre--
				}
			case atom.Li:
				newline(1)
				if !end {
					out = append(out, "- "...)
				}
			case atom.Td, atom.Th:
				if !end && !endsWith("\n") {
					out = append(out, '\t')
				}
			case atom.A:
				if !end && hasAttr {
					href = ""
					for more := true; more; {
						var k, v []byte
						k, v, more = z.TagAttr()
						if string(k) == "href" {
							href = strings.TrimSpace(string(v))
						}
					}
					linkStart = len(out)
				} else if end && href != "" {
					text := ""
					if linkStart <= len(out) {
						text = strings.TrimSpace(string(out[linkStart:]))
					}
					target := strings.TrimPrefix(href, "mailto:")
					if (strings.HasPrefix(href, "http") || strings.HasPrefix(href, "mailto:")) && text != target && text != href {
						out = append(out, " ("+target+")"...)
					}
					href = ""
				}
			case atom.Img:
				for more := hasAttr; more; {
					var k, v []byte
					k, v, more = z.TagAttr()
					if alt := strings.TrimSpace(string(v)); string(k) == "alt" && alt != "" {
						out = append(out, "["+alt+"]"...)
					}
				}
			}
		}
	}
}

var spaceRun = regexp.MustCompile(`[ \t\r\n\f\x{00a0}]+`)

// CollapseSpace replaces every run of spaces, tabs, line breaks and
// no-break spaces in s by one space.
func CollapseSpace(s string) string {
	return spaceRun.ReplaceAllString(s, " ")
}

var blankLines = regexp.MustCompile(`\n{3,}`)

// TidyText normalises line endings, trims trailing blanks on every line,
// squeezes more than one empty line into one, and trims the whole text.
func TidyText(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t\u00a0\u3000")
	}
	s = strings.Join(lines, "\n")
	s = blankLines.ReplaceAllString(s, "\n\n")
	return strings.TrimSpace(s)
}
