// Package console is the agents' and supervisors' web application: pages
// rendered on the server from the templates embedded in the binary, in
// Simplified Chinese, under /console/. It reads cases from the case index
// and sends actions through the same path as the console API
// (httpapi.CaseActions), and asks httpapi.Principal what the signed-in
// person may see and do. Pages render the principal the request carries
// (httpapi.PrincipalOf); Sessions signs people in and admits the pages'
// requests (RequirePage, CheckCSRF, CSRFToken).
//
// A Console is safe for concurrent use once mounted.
package console

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/filesystem"
	"go.uber.org/zap"

	"github.com/tousu/tousu/services/httpapi"
)

// Path is where the console's pages live.
const Path = "/console"

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Page is what every page's template gets: the page's own data and the
// frame around it.
type Page struct {
	// Title is the page's title, shown in the tab and as its heading.
	Title string
	// Nav names the navigation entry of the page ("queue", "search"…).
	Nav string
	// User is who is signed in; empty Name on the sign-in page.
	User httpapi.Principal
	// CSRF is the token forms of the page post back.
	CSRF string
	// Flash is a one-line message shown above the page (an action sent, an
	// error).
	Flash string
	// Data is the page's own data.
	Data any
	// Unread counts the alerts the signed-in person has not read, for
	// the navigation (Templates.CountUnread).
	Unread int
}

// Templates renders the console's pages. Each page is a template file
// defining "content", rendered inside templates/layout.html; a file whose
// name starts with "_" is no page but defines templates every page may
// use (a list of cases).
type Templates struct {
	pages map[string]*template.Template
	// unread counts a person's unread alerts; nil: none.
	unread func(httpapi.Principal) int
}

// CountUnread makes every page rendered for a signed-in person show the
// unread alerts unread counts (Alerts.Unread). Call it before serving.
func (t *Templates) CountUnread(unread func(httpapi.Principal) int) { t.unread = unread }

// funcs are the helpers templates may call.
var funcs = template.FuncMap{
	"path": func(parts ...string) string { return Path + "/" + strings.Join(parts, "/") },
}

// LoadTemplates parses every page template with the layout.
func LoadTemplates() (*Templates, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	shared, err := fs.Glob(templateFS, "templates/_*.html")
	if err != nil {
		return nil, err
	}
	t := &Templates{pages: map[string]*template.Template{}}
	for _, name := range names {
		page := strings.TrimSuffix(strings.TrimPrefix(name, "templates/"), ".html")
		if page == "layout" || strings.HasPrefix(page, "_") {
			continue
		}
		tpl, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, append([]string{"templates/layout.html", name}, shared...)...)
		if err != nil {
			return nil, fmt.Errorf("console: template %s: %w", page, err)
		}
		t.pages[page] = tpl
	}
	return t, nil
}

// Render writes page (a template's name without .html) with p as an HTML
// answer with status; an unknown page is an error.
func (t *Templates) Render(c *fiber.Ctx, status int, page string, p Page) error {
	tpl, ok := t.pages[page]
	if !ok {
		return fmt.Errorf("console: no page %q", page)
	}
	if t.unread != nil && p.User.Name != "" {
		p.Unread = t.unread(p.User)
	}
	var buf bytes.Buffer
	if err := tpl.ExecuteTemplate(&buf, "layout", p); err != nil {
		return fmt.Errorf("console: render %s: %w", page, err)
	}
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Status(status).Send(buf.Bytes())
}

// MountStatic serves the console's embedded assets (style sheet, scripts)
// under Path/static/, cacheable: their names change when they do.
func MountStatic(app fiber.Router, logger *zap.Logger) {
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		logger.Error("console assets", zap.Error(err)) // cannot happen: the directory is embedded
		return
	}
	app.Use(Path+"/static", filesystem.New(filesystem.Config{Root: http.FS(sub), MaxAge: 3600}))
}
