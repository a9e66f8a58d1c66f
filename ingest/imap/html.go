package imap

import (
	"regexp"
	"strings"
	"sync"

	"github.com/microcosm-cc/bluemonday"
)

// displayPolicy is the bluemonday policy for the sanitised HTML kept for
// display: text formatting, lists, tables and links (no follow, no
// referrer, new tab); no scripts, styles, forms, frames or images (remote
// images would tell the sender when an agent opened the complaint).
var displayPolicy = sync.OnceValue(func() *bluemonday.Policy {
	p := bluemonday.NewPolicy()
	p.AllowElements("p", "br", "div", "span", "b", "i", "u", "s", "strong", "em", "small", "sub", "sup",
		"ul", "ol", "li", "dl", "dt", "dd", "blockquote", "pre", "code", "hr",
		"h1", "h2", "h3", "h4", "h5", "h6",
		"table", "thead", "tbody", "tfoot", "tr", "td", "th", "caption")
	p.AllowAttrs("href").OnElements("a")
	p.AllowAttrs("colspan", "rowspan").Matching(regexp.MustCompile(`^[0-9]{1,3}$`)).OnElements("td", "th")
	p.AllowURLSchemes("http", "https", "mailto", "tel")
	p.RequireParseableURLs(true)
	p.RequireNoFollowOnLinks(true)
	p.RequireNoReferrerOnLinks(true)
	p.AddTargetBlankToFullyQualifiedLinks(true)
	p.AddSpaceWhenStrippingTag(true)
	return p
})

// sanitizeHTML returns HTML safe to show in the agent console.
func sanitizeHTML(s string) string {
	return strings.TrimSpace(displayPolicy().Sanitize(s))
}
