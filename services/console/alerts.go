package console

// Alerts in the console (GET /console/alerts): the escalations, urges
// (催办) and batch notices (批量投诉) that concern the signed-in person
// (notices.Concerns), newest first, unread ones marked, with forms that
// mark one or all as read (POST /console/alerts/read).

import (
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
	"go.uber.org/zap"

	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/services/httpapi"
	"github.com/tousu/tousu/services/notices"
)

// AlertsDeps is what the alerts page needs.
type AlertsDeps struct {
	// Notices are the followed notices and their read marks.
	Notices *notices.Store
	// Templates renders the page.
	Templates *Templates
	// RequirePage, CheckCSRF and CSRFToken are the session's, as in
	// PagesDeps.
	RequirePage fiber.Handler
	CheckCSRF   fiber.Handler
	CSRFToken   func(c *fiber.Ctx) string
	// Logger logs what went wrong serving the page.
	Logger *zap.Logger
}

// Alerts serves the alerts page.
type Alerts struct {
	d AlertsDeps
}

// NewAlerts returns the alerts page over deps.
func NewAlerts(deps AlertsDeps) *Alerts {
	if deps.Logger == nil {
		deps.Logger = zap.NewNop()
	}
	return &Alerts{d: deps}
}

// Mount registers GET /console/alerts and POST /console/alerts/read
// behind RequirePage, the post also behind CheckCSRF.
func (a *Alerts) Mount(app fiber.Router) {
	app.Get(Path+"/alerts", a.d.RequirePage, a.list)
	app.Post(Path+"/alerts/read", a.d.RequirePage, a.d.CheckCSRF, a.markRead)
}

// Unread counts the alerts p has not read (the navigation's count).
func (a *Alerts) Unread(p httpapi.Principal) int { return a.d.Notices.Unread(readerOf(p)) }

// readerOf is who p is to the notices: a supervisor or an admin reads
// every notice, an agent those of their departments and cases, anyone
// else (ops) none.
func readerOf(p httpapi.Principal) notices.Reader {
	if !p.Role.MaySearch() {
		return notices.Reader{}
	}
	return notices.Reader{Name: p.Name, Departments: p.Departments, All: p.Scope() == nil}
}

// alertItem is a notice as the page shows it.
type alertItem struct {
	ID, Kind, Class, At string
	// Case and Link name the notice's case; Cases a batch's cases.
	Case, Link string
	Cases      []linkView
	// What says what happened, Detail the matter.
	What, Detail, Route, Notify string
	Read                        bool
}

// noticeKinds name the kinds of notices.
var noticeKinds = map[string]string{router.NoticeUrge: "催办", router.NoticeBatch: "批量投诉", router.NoticeEscalation: "预警"}

// alertItemOf is how the page shows the notice n.
func alertItemOf(it notices.Item) alertItem {
	n := it.Notice
	v := alertItem{ID: n.ID, Kind: noticeKinds[n.Kind], Class: n.Kind, At: when(n.At), Read: it.Read, Notify: strings.Join(n.Notify, "、")}
	if n.Case != "" {
		v.Case, v.Link = n.Case, caseLink(n.Case)
	}
	var route []string
	if n.Route.Department != "" {
		route = append(route, "部门 "+n.Route.Department)
	}
	if n.Route.Owner != "" {
		route = append(route, "负责人 "+n.Route.Owner)
	}
	v.Route = strings.Join(route, " · ")
	detail := []string{}
	if n.Category != "" {
		detail = append(detail, n.Category)
	}
	if n.Excerpt != "" {
		detail = append(detail, n.Excerpt)
	}
	v.Detail = strings.Join(detail, "：")
	switch n.Kind {
	case router.NoticeUrge:
		v.What = "客户再次来电催办（第 " + strconv.Itoa(n.Urgency) + " 次）"
		if n.Reference != "" {
			v.What += "，新受理编号 " + n.Reference
		}
	case router.NoticeBatch:
		v.What = "形成批量投诉 " + n.Batch + "：" + strconv.Itoa(len(n.Cases)) + " 件工单，" + strconv.Itoa(n.Customers) + " 位客户"
		for _, id := range n.Cases {
			v.Cases = append(v.Cases, linkView{ID: id, Link: caseLink(id)})
		}
	case router.NoticeEscalation:
		switch {
		case strings.HasPrefix(n.Step, "breach"):
			v.Kind, v.Class = "超时", "breach"
		case strings.HasPrefix(n.Step, "grade "):
			v.Kind = "升级"
		}
		v.What = "第 " + strconv.Itoa(n.Level) + " 级 · " + stepLabel(n.Step)
		if !n.Due.IsZero() {
			v.What += "，时限 " + when(n.Due)
		}
	}
	return v
}

// alertsData is the page's data.
type alertsData struct {
	Items  []alertItem
	Unread int
}

func (a *Alerts) list(c *fiber.Ctx) error {
	flash := ""
	if c.Query("read") != "" {
		flash = "已标为已读"
	}
	return a.render(c, fiber.StatusOK, flash)
}

// render renders the alerts of the signed-in person with status and a
// flash.
func (a *Alerts) render(c *fiber.Ctx, status int, flash string) error {
	items := a.d.Notices.For(readerOf(httpapi.PrincipalOf(c)))
	data := alertsData{Items: make([]alertItem, 0, len(items))}
	for _, it := range items {
		data.Items = append(data.Items, alertItemOf(it))
		if !it.Read {
			data.Unread++
		}
	}
	return a.d.Templates.Render(c, status, "alerts", Page{Title: "提醒", Nav: "alerts", User: httpapi.PrincipalOf(c),
		CSRF: a.d.CSRFToken(c), Flash: flash, Data: data})
}

// markRead marks the posted notice (id), or with all=1 every unread
// one, as read, then shows the list again.
func (a *Alerts) markRead(c *fiber.Ctx) error {
	var ids []string
	if c.FormValue("all") == "" {
		id := c.FormValue("id")
		if id == "" {
			return c.Redirect(Path+"/alerts", fiber.StatusSeeOther)
		}
		ids = []string{id}
	}
	if err := a.d.Notices.MarkRead(c.UserContext(), readerOf(httpapi.PrincipalOf(c)), ids); err != nil {
		a.d.Logger.Error("mark alerts read", zap.Error(err))
		return a.render(c, fiber.StatusServiceUnavailable, "暂时无法标为已读，请稍后重试")
	}
	return c.Redirect(Path+"/alerts?read=1", fiber.StatusSeeOther)
}
