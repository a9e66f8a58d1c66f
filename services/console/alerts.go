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

// mountAlerts registers GET /console/alerts and POST
// /console/alerts/read behind RequirePage, the post also behind
// CheckCSRF.
func (p *Pages) mountAlerts(app fiber.Router) {
	app.Get(Path+"/alerts", p.d.RequirePage, p.alerts)
	app.Post(Path+"/alerts/read", p.d.RequirePage, p.d.CheckCSRF, p.markRead)
}

// unread counts the alerts pr has not read (the navigation's count).
func (p *Pages) unread(pr httpapi.Principal) int { return p.d.Notices.Unread(readerOf(pr)) }

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
		v.What = "第 " + strconv.Itoa(n.Level) + " 级 · " + router.StepLabel(n.Step)
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

func (p *Pages) alerts(c *fiber.Ctx) error {
	flash := ""
	if c.Query("read") != "" {
		flash = "已标为已读"
	}
	return p.renderAlerts(c, fiber.StatusOK, flash)
}

// renderAlerts renders the alerts of the signed-in person with status
// and a flash.
func (p *Pages) renderAlerts(c *fiber.Ctx, status int, flash string) error {
	items := p.d.Notices.For(readerOf(httpapi.PrincipalOf(c)))
	data := alertsData{Items: make([]alertItem, 0, len(items))}
	for _, it := range items {
		data.Items = append(data.Items, alertItemOf(it))
		if !it.Read {
			data.Unread++
		}
	}
	return p.render(c, status, "alerts", "提醒", "alerts", flash, data)
}

// markRead marks the posted notice (id), or with all=1 every unread
// one, as read, then shows the list again.
func (p *Pages) markRead(c *fiber.Ctx) error {
	var ids []string
	if c.FormValue("all") == "" {
		id := c.FormValue("id")
		if id == "" {
			return c.Redirect(Path+"/alerts", fiber.StatusSeeOther)
		}
		ids = []string{id}
	}
	if err := p.d.Notices.MarkRead(c.UserContext(), readerOf(httpapi.PrincipalOf(c)), ids); err != nil {
		p.d.Logger.Error("mark alerts read", zap.Error(err))
		return p.renderAlerts(c, fiber.StatusServiceUnavailable, "暂时无法标为已读，请稍后重试")
	}
	return c.Redirect(Path+"/alerts?read=1", fiber.StatusSeeOther)
}
