package console

// This file holds what the agents' pages (queue.go, search.go, case.go)
// share: their dependencies, their routes, and how they show a case's
// clocks and rows.

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"go.uber.org/zap"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/router/calendar"
	"github.com/tousu/tousu/services/httpapi"
	"github.com/tousu/tousu/services/notices"
	"github.com/tousu/tousu/services/privacy"
	"github.com/tousu/tousu/sinks/caseindex"
)

// PagesDeps is what the agents' pages need. The session's middlewares
// and CSRF token come from outside, so that tests pass stand-ins.
type PagesDeps struct {
	// Index is where cases are read and searched.
	Index caseindex.Index
	// Actions sends the actions of the case page, through the API's path;
	// its Engine gives each case's pack (routing choices, calendar), its
	// Now the pages' clock.
	Actions *httpapi.CaseActions
	// Templates renders the pages.
	Templates *Templates
	// RequirePage admits a signed-in person (httpapi.PrincipalOf) and
	// sends anyone else to sign in.
	RequirePage fiber.Handler
	// CheckCSRF refuses a form posted without the session's CSRF token.
	CheckCSRF fiber.Handler
	// CSRFToken is the token the page's forms post back.
	CSRFToken func(c *fiber.Ctx) string
	// Knows reports whether a name is an account that may work cases (an
	// action's assignee must be one).
	Knows func(name string) bool
	// CustomerKey keys the opaque customer tokens (httpapi.CustomerToken).
	CustomerKey []byte
	// Attachments are the customers' attached files the case page links
	// (attachment.go); nil: none can be downloaded.
	Attachments AttachmentStore
	// Admin is the admin API's core, which the accounts pages (admin.go)
	// change accounts through; nil: no accounts pages.
	Admin *httpapi.Admin
	// Logger logs what went wrong serving a page.
	Logger *zap.Logger
	// Notices are the alerts topic's notices and their read marks: with
	// them the pages serve the alerts page (alerts.go) and every page
	// rendered with Templates counts the unread ones.
	Notices *notices.Store
	// DeadLetters are the dead letters of complaints.dlq: with them the
	// pages serve the dead-letter pages (dlq.go).
	DeadLetters *httpapi.DeadLetters
	// Privacy exports and erases customers' personal information: with
	// it admins get the privacy page (privacy.go).
	Privacy *privacy.Service
}

// Pages serves the agents' pages: the queue, search and the case.
type Pages struct {
	d PagesDeps
}

// NewPages returns the agents' pages over deps.
func NewPages(deps PagesDeps) *Pages {
	if deps.Logger == nil {
		deps.Logger = zap.NewNop()
	}
	p := &Pages{d: deps}
	if deps.Notices != nil && deps.Templates != nil {
		deps.Templates.CountUnread(p.unread)
	}
	return p
}

// Mount registers GET /console/ (my queue), GET /console/search, GET
// /console/search/export (the search as CSV), GET /console/cases/:id,
// GET /console/cases/:id/attachments/:sha256, POST
// /console/cases/:id/actions, POST /console/cases/:id/reveal and GET
// /console/board (the supervisor board, board.go) and GET /console/reports
// (the SLA report, report.go); with Notices, GET
// /console/alerts and POST /console/alerts/read (alerts.go); with Admin,
// the accounts pages for admins; with DeadLetters, the dead-letter pages
// for ops and admins (dlq.go). Each is behind RequirePage, the posts also
// behind CheckCSRF; search and its export also behind seesCases.
func (p *Pages) Mount(app fiber.Router) {
	app.Get(Path+"/", p.d.RequirePage, p.queue)
	app.Get(Path+"/search", p.d.RequirePage, p.seesCases, p.search)
	app.Get(Path+"/search/export", p.d.RequirePage, p.seesCases, p.export)
	app.Get(Path+"/cases/:id", p.d.RequirePage, p.caseView)
	app.Get(Path+"/cases/:id/attachments/:sha256", p.d.RequirePage, p.attachment)
	app.Post(Path+"/cases/:id/actions", p.d.RequirePage, p.d.CheckCSRF, p.act)
	app.Post(Path+"/cases/:id/reveal", p.d.RequirePage, p.d.CheckCSRF, p.reveal)
	app.Get(Path+"/board", p.d.RequirePage, p.board)
	app.Get(Path+"/reports", p.d.RequirePage, p.reports)
	if p.d.Notices != nil {
		p.mountAlerts(app)
	}
	if p.d.Admin != nil {
		p.mountAdmin(app)
	}
	if p.d.DeadLetters != nil {
		p.mountDeadLetters(app)
	}
	if p.d.Privacy != nil {
		p.mountPrivacy(app)
	}
}

// seesCases answers 403 to a person whose role sees no case (ops): a
// search in their scope would be a search of every case.
func (p *Pages) seesCases(c *fiber.Ctx) error {
	if !httpapi.PrincipalOf(c).Role.MaySearch() {
		return p.render(c, fiber.StatusForbidden, "notice", "无权访问", "", "",
			message{Text: "您的账号不能查看或搜索工单。", Code: "forbidden"})
	}
	return c.Next()
}

// render renders a page for the signed-in person.
func (p *Pages) render(c *fiber.Ctx, status int, page, title, nav, flash string, data any) error {
	return p.d.Templates.Render(c, status, page, Page{Title: title, Nav: nav, User: httpapi.PrincipalOf(c),
		CSRF: p.d.CSRFToken(c), Flash: flash, Data: data})
}

// unavailable answers a page whose cases could not be read.
func (p *Pages) unavailable(c *fiber.Ctx, what string, err error) error {
	p.d.Logger.Error(what, zap.Error(err))
	return p.render(c, fiber.StatusServiceUnavailable, "notfound", "工单查询暂时不可用", "", "工单查询暂时不可用，请稍后刷新页面", nil)
}

// now is the pages' clock.
func (p *Pages) now() time.Time {
	if p.d.Actions != nil && p.d.Actions.Now != nil {
		return p.d.Actions.Now()
	}
	return time.Now()
}

// engine is the engine of a case's pack, nil when it is not loaded.
func (p *Pages) engine(pack string) *router.Engine {
	if p.d.Actions == nil || p.d.Actions.Engine == nil {
		return nil
	}
	return p.d.Actions.Engine(pack)
}

// chinaTime is the zone the pages show times in.
var chinaTime = time.FixedZone("CST", 8*60*60)

// when shows an instant to agents; empty for none.
func when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(chinaTime).Format("2006-01-02 15:04")
}

// caseLink is the address of a case's page.
func caseLink(id string) string { return Path + "/cases/" + url.PathEscape(id) }

// clockView is one of a case's clocks as the pages show it.
type clockView struct {
	Title, Basis string
	Due          string
	State        router.ClockState
	// StateLabel names the state, Left says the time left or past due.
	StateLabel, Left string
	// due orders running clocks.
	due time.Time
}

// clockStateLabels name the states of a clock.
var clockStateLabels = map[router.ClockState]string{
	router.ClockPending: "未开始", router.ClockRunning: "计时中", router.ClockOverdue: "已超时",
	router.ClockMet: "已按时完成", router.ClockMissed: "超时后完成", router.ClockUnknown: "无法计算",
	router.ClockPaused: "暂停中",
}

// clocks are the case's clocks at now, started ones first, then those
// waiting for their start event.
func clocks(c router.Case, e *router.Engine, now time.Time) []clockView {
	var cal *calendar.Calendar
	if e != nil {
		cal = e.Calendar()
	}
	out := make([]clockView, 0, len(c.Deadlines)+len(c.PendingClocks))
	for _, d := range slices.Concat(c.Deadlines, c.PendingClocks) {
		s := d.StatusAt(now, cal)
		title := d.Title
		if title == "" {
			title = d.Name
		}
		v := clockView{Title: title, Basis: d.Basis, Due: when(d.Due), State: s.State,
			StateLabel: clockStateLabels[s.State], Left: timeLeft(s), due: d.Due}
		if d.Paused() {
			v.Left = "暂停中（自 " + when(d.PausedAt) + " 起，等待客户补充材料）"
		}
		if d.Extended > 0 {
			v.Due += fmt.Sprintf("（已延期 %d %s）", d.Extended, router.UnitLabel(router.Unit(d.ExtendedUnit)))
		}
		out = append(out, v)
	}
	return out
}

// timeLeft says how a running or overdue clock stands: "剩余 3 个工作小时",
// "剩余 2 个工作日 1 小时", "已超时 2 天"; empty for other states.
func timeLeft(s router.ClockStatus) string {
	switch {
	case s.State == router.ClockOverdue:
		return "已超时 " + span(s.Left, 24*time.Hour, "天", "")
	case s.State == router.ClockRunning && s.Working:
		return "剩余 " + span(s.Left, s.DayLength, "个工作日", "个工作")
	case s.State == router.ClockRunning:
		return "剩余 " + span(s.Left, 24*time.Hour, "天", "")
	}
	return ""
}

// span says a duration in days of dayLength (named day), hours and
// minutes, the two largest that are not zero: "2 天 3 小时", "3 个工作小时"
// (hourPrefix "个工作" before 小时 when no day is named).
func span(d, dayLength time.Duration, day, hourPrefix string) string {
	days := int(d / dayLength)
	d -= time.Duration(days) * dayLength
	hours, minutes := int(d/time.Hour), int(d%time.Hour/time.Minute)
	switch {
	case days > 0 && hours > 0:
		return fmt.Sprintf("%d %s %d 小时", days, day, hours)
	case days > 0:
		return fmt.Sprintf("%d %s", days, day)
	case hours > 0 && minutes > 0:
		return fmt.Sprintf("%d %s小时 %d 分钟", hours, hourPrefix, minutes)
	case hours > 0:
		return fmt.Sprintf("%d %s小时", hours, hourPrefix)
	}
	return fmt.Sprintf("%d 分钟", max(minutes, 1))
}

// caseRow is a case as a list of cases shows it.
type caseRow struct {
	ID, Link, Title                    string
	Category, Status, Grade, Validity  string
	Department, Queue, Owner, Assignee string
	Received                           string
	// Next is the running clock due first, if any; Overdue says it is
	// past due.
	Next    *clockView
	Overdue bool
	// next orders rows by urgency: the next running clock's due time.
	next time.Time
}

// row is the case c (as the principal may see it) in a list at now.
func row(c router.Case, e *router.Engine, now time.Time) caseRow {
	r := caseRow{ID: c.ID, Link: caseLink(c.ID), Title: headline(c), Category: c.Category, Status: c.Status.Label(),
		Grade: c.Grade, Validity: validityLabel(c), Department: c.Route.Department, Queue: c.Route.Queue,
		Owner: c.Route.Owner, Assignee: c.Assignee, Received: when(c.ReceivedAt)}
	for _, v := range clocks(c, e, now) {
		if v.State != router.ClockRunning && v.State != router.ClockOverdue {
			continue
		}
		if r.Next == nil || v.due.Before(r.Next.due) {
			v := v
			r.Next = &v
		}
	}
	if r.Next != nil {
		r.Overdue, r.next = r.Next.State == router.ClockOverdue, r.Next.due
	}
	return r
}

// byUrgency orders rows by their next running clock, the rows without
// one last, then by case id.
func byUrgency(a, b caseRow) int {
	switch {
	case a.next.IsZero() != b.next.IsZero():
		if a.next.IsZero() {
			return 1
		}
		return -1
	case !a.next.Equal(b.next):
		return a.next.Compare(b.next)
	}
	return strings.Compare(a.ID, b.ID)
}

// headline is a case's subject, or the start of its description.
func headline(c router.Case) string {
	if t := strings.TrimSpace(c.Subject); t != "" {
		return t
	}
	d := strings.Join(strings.Fields(c.Description), " ")
	if utf8.RuneCountInString(d) <= 40 {
		return d
	}
	return string([]rune(d)[:40]) + "…"
}

// validityLabel says a case's validity verdict; empty without one.
func validityLabel(c router.Case) string {
	switch {
	case c.Validity.Valid:
		return "有效"
	case c.Pack != "":
		return "无效"
	}
	return ""
}

// channelLabel names a channel; an unknown one by itself.
func channelLabel(ch ingest.Channel) string { return httpapi.ChannelLabel(ch) }
