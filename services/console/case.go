package console

// The case page (GET /console/cases/:id) and its actions (POST
// /console/cases/:id/actions): everything about one case the signed-in
// person may see, and the forms that act on it through the API's action
// path (httpapi.CaseActions.Submit).

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"go.uber.org/zap"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/normalize"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/services/httpapi"
	"github.com/tousu/tousu/sinks/caseindex"
)

// caseData is the case page's data.
type caseData struct {
	Case                            router.Case
	Link, Channel, Status, Received string
	Validity, Updated               string
	Customer                        string
	Consent                         string // the customer's consent to the notice, or ""
	Messages                        []messageView
	Clocks                          []clockView
	Alerts                          []alertView
	Explanation                     []explanationView
	History                         []historyView
	Linked                          []linkView
	Forms                           forms
	// Reveal are the contacts the person may reveal (reveal.go).
	Reveal []revealView
	// Reply is the reply form (reply.go), nil when the customer cannot
	// be reached.
	Reply *replyView
	// Refresh is where the page reloads itself while an action the
	// person sent is not yet decided; empty otherwise.
	Refresh string
}

// messageView is one message of the customer's.
type messageView struct {
	Reference, At, Channel, Kind, From string
	Subject, Text                      string
	// Warnings say what the intake could not read cleanly (Case.Warnings).
	Warnings []string
}

// alertView is one rung of the escalation ladder.
type alertView struct {
	At, Clock, Step, Notify, Raised string
	Level                           int
}

// explanationView is one decision of the policy's.
type explanationView struct {
	Field, Value, By, Rule, Reason, Basis string
	Confidence                            string
}

// historyView is one entry of the timeline.
type historyView struct {
	At, Actor, Kind, Detail, Note string
}

// linkView links another case.
type linkView struct{ ID, Link, Why string }

// forms are the action forms the case's status allows, with the choices
// its pack offers.
type forms struct {
	// Key makes a form posted twice one action (an Idempotency-Key).
	Key                                      string
	Take, Transfer, Event, Resolve, FollowUp bool
	Close, Reopen, Recategorize              bool
	Departments, Queues, Categories, Events  []string
	// Correct offers the grade and validity corrections, with the
	// grades of the case's pack; Grade is the case's.
	Correct bool
	Grades  []string
	Grade   string
	// Extend are the running clocks the person may extend (延期); Pause
	// and Resume offer to pause the clocks the pack lets pause while the
	// customer's documents are awaited, and to resume them.
	Extend        []extendView
	Pause, Resume bool
}

// extendView is a clock the extend form offers: its name, title and how
// far it may still be extended.
type extendView struct {
	Clock, Title, Unit string
	Left               int
}

// pausedClock reports whether c's clock name is paused.
func pausedClock(c router.Case, name string) bool {
	i := slices.IndexFunc(c.Deadlines, func(d router.Deadline) bool { return d.Name == name })
	return i >= 0 && c.Deadlines[i].Paused()
}

// clockForms sets the extend, pause and resume forms of f: for an open
// case, the running clocks e's pack lets extend (those needing a
// supervisor only when supervisor) or pause, and the paused clocks.
func clockForms(f forms, c router.Case, e *router.Engine, supervisor bool) forms {
	if e == nil || c.Finished() {
		return f
	}
	defs := map[string]router.Clock{}
	for _, cl := range e.Pack().Clocks {
		defs[cl.Name] = cl
	}
	for _, d := range c.Deadlines {
		def := defs[d.Name]
		if !d.StoppedAt.IsZero() {
			continue
		}
		if x := def.Extendable; x != nil && (x.Needs != router.NeedsSupervisor || supervisor) && x.Max.Amount > d.Extended && !d.Due.IsZero() {
			f.Extend = append(f.Extend, extendView{Clock: d.Name, Title: cmp.Or(d.Title, d.Name), Unit: router.UnitLabel(x.Max.Unit), Left: x.Max.Amount - d.Extended})
		}
		f.Pause = f.Pause || def.Pausable != nil && !d.Paused()
		f.Resume = f.Resume || d.Paused()
	}
	return f
}

// kindLabels name what actions do, as flashes and the timeline say it.
var kindLabels = map[router.ActionKind]string{
	router.ActionTake: "接手工单", router.ActionTransfer: "转派", router.ActionNote: "添加备注", router.ActionEvent: "记录事件",
	router.ActionResolve: "办结", router.ActionClose: "关闭工单", router.ActionReopen: "重新打开", router.ActionRecategorize: "更正分类",
	router.ActionRegrade: "更正等级", router.ActionRevalidate: "更正有效性",
	router.ActionEscalate: "升级预警", router.ActionFlagBatch: "标记批量投诉", kindFollowUp: "回访", router.ActionReveal: "查看联系方式",
	router.ActionReply: "答复客户", router.ActionDelivery: "发送结果", router.ActionErase: "删除个人信息",
	router.ActionExtend: "延期", router.ActionPause: "暂停计时", router.ActionResume: "恢复计时",
}

// customerOf says who the case's customer is, or when and why their
// personal information was erased.
func customerOf(c router.Case) string {
	if e := c.Erased; e != nil {
		return "个人信息已删除（" + router.ErasureReasons[e.Reason] + "，" + when(e.At) + "）"
	}
	return customer(c.Customer)
}

// kindFollowUp is the case page's follow-up visit (回访): a close or a
// reopen, as router.FollowUp says.
const kindFollowUp router.ActionKind = "follow_up"

// kindLabel names an action's kind.
func kindLabel(k router.ActionKind) string {
	if l, ok := kindLabels[k]; ok {
		return l
	}
	return string(k)
}

// viewable returns the case the request's :id names, as me may see it,
// and false after answering 404 (unknown, or not me's to see) or 503.
func (p *Pages) viewable(c *fiber.Ctx) (router.Case, bool, error) {
	me := httpapi.PrincipalOf(c)
	cs, err := httpapi.FindCase(c.UserContext(), p.d.Index, c.Params("id"))
	switch {
	case errors.Is(err, caseindex.ErrNotFound) || err == nil && !me.MaySee(cs):
		return cs, false, p.render(c, fiber.StatusNotFound, "notfound", "工单不存在", "", "", nil)
	case err != nil:
		return cs, false, p.unavailable(c, "case page: get case", err)
	}
	return cs, true, nil
}

func (p *Pages) caseView(c *fiber.Ctx) error {
	cs, ok, err := p.viewable(c)
	if !ok {
		return err
	}
	flash, refresh := "", ""
	if id := c.Query("action"); id != "" && p.d.Actions != nil {
		kind := router.ActionKind(c.Query("kind"))
		var pending bool
		flash, pending = p.actionFlash(cs, id, kind)
		polls := c.QueryInt("polls")
		switch {
		case pending && polls < maxPolls:
			refresh = caseLink(cs.ID) + "?" + url.Values{"action": {id}, "kind": {string(kind)}, "polls": {strconv.Itoa(polls + 1)}}.Encode()
		case pending:
			flash = "已提交：" + kindLabel(kind) + "，尚未处理完成，请稍后刷新页面查看结果"
		}
	}
	return p.renderCase(c, fiber.StatusOK, cs, flash, refresh)
}

// maxPolls bounds how often a case page reloads itself, every two
// seconds, waiting for an action to be decided.
const maxPolls = 15

// actionFlash says what became of the action id the person sent, and
// whether it is still pending.
func (p *Pages) actionFlash(cs router.Case, id string, kind router.ActionKind) (string, bool) {
	st := p.d.Actions.StatusOf(cs, id)
	if _, ok := kindLabels[kind]; !ok || st.Kind != "" && kind != kindFollowUp {
		kind = st.Kind
	}
	// An action the router applied is pending here until the index has
	// the case it wrote: the page would show the case without it.
	switch {
	case st.State == router.ActionApplied && cs.Revision >= st.Revision:
		return "已生效：" + kindLabel(kind), false
	case st.State == router.ActionRefused:
		return "未执行：" + kindLabel(kind) + "。" + st.Message, false
	}
	return "已提交：" + kindLabel(kind) + "，正在处理…", true
}

// renderCase renders the case page with a flash and status; with
// refresh, the page reloads itself at that address.
func (p *Pages) renderCase(c *fiber.Ctx, status int, cs router.Case, flash, refresh string) error {
	me := httpapi.PrincipalOf(c)
	e := p.engine(cs.Pack)
	data := caseView(httpapi.Redact(cs, me, p.d.CustomerKey), e, me.Name, p.now())
	data.Refresh, data.Reveal, data.Reply = refresh, revealable(cs, me), replyForm(cs)
	data.Forms = clockForms(data.Forms, cs, e, supervises(me))
	return p.render(c, status, "case", "工单 "+cs.ID, "", flash, data)
}

// caseView is what the case page shows me of c (already redacted) at now.
func caseView(c router.Case, e *router.Engine, me string, now time.Time) caseData {
	d := caseData{Case: c, Link: caseLink(c.ID), Channel: channelLabel(c.Channel), Status: c.Status.Label(),
		Received: when(c.ReceivedAt), Updated: when(c.UpdatedAt), Validity: validityLabel(c), Customer: customerOf(c),
		Clocks: clocks(c, e, now), Forms: formsFor(c, e, me)}
	if c.Consent != nil {
		d.Consent = "版本 " + c.Consent.Version + "，" + when(c.Consent.At)
	}
	first := ""
	if len(c.References) > 0 {
		first = c.References[0]
	}
	d.Messages = append(d.Messages, messageView{Reference: first, At: when(c.ReceivedAt), Channel: d.Channel, Kind: "首次投诉",
		From: d.Customer, Subject: c.Subject, Text: c.Description, Warnings: c.Warnings})
	for _, x := range c.Contacts {
		from := customer(x.From)
		if from == "" {
			from = d.Customer
		}
		d.Messages = append(d.Messages, messageView{Reference: x.Reference, At: when(x.ReceivedAt), Channel: channelLabel(x.Channel),
			Kind: contactKinds[x.Kind], From: from, Subject: x.Subject, Text: x.Text, Warnings: x.Warnings})
	}
	titles := map[string]string{}
	if e != nil { // a clock a correction dropped is on the case no more
		for _, cl := range e.Pack().Clocks {
			titles[cl.Name] = cmp.Or(cl.Title, cl.Name)
		}
	}
	for _, cl := range slices.Concat(c.Deadlines, c.PendingClocks) {
		titles[cl.Name] = cmp.Or(cl.Title, cl.Name)
	}
	for _, al := range c.Escalation.Alerts {
		v := alertView{At: when(al.At), Level: al.Level, Clock: titles[al.Clock], Step: router.StepLabel(al.Step), Notify: strings.Join(al.Notify, "、"), Raised: "待触发"}
		switch {
		case !al.RaisedAt.IsZero():
			v.Raised = "已于 " + when(al.RaisedAt) + " 发出"
		case !c.AlertActive(al) && pausedClock(c, al.Clock):
			v.Raised = "暂停中，恢复计时后按新的到期时间触发"
		case !c.AlertActive(al):
			v.Raised = "不再触发（时限已停止）"
		}
		d.Alerts = append(d.Alerts, v)
	}
	for _, x := range c.Explanation {
		v := explanationView{Field: fieldLabel(x.Field, titles), Value: explainedValue(x), By: cmp.Or(byLabels[x.By], x.By), Rule: ruleLabel(x),
			Reason: x.Reason, Basis: x.Basis}
		if x.By == "model" && x.Confidence > 0 {
			v.Confidence = fmt.Sprintf("%.0f%%", x.Confidence*100)
		}
		d.Explanation = append(d.Explanation, v)
	}
	for _, h := range c.History {
		d.History = append(d.History, historyView{At: when(h.At), Actor: h.Actor, Kind: kindLabel(h.Kind), Detail: h.Detail, Note: h.Note})
	}
	for _, id := range c.LinkedCases {
		d.Linked = append(d.Linked, linkView{ID: id, Link: caseLink(id), Why: "此前办结的同一事项"})
	}
	if c.Batch != "" {
		d.Linked = append(d.Linked, linkView{ID: c.Batch, Link: Path + "/search?" + url.Values{"q": {c.Batch}}.Encode(), Why: "批量投诉事件"})
	}
	return d
}

// contactKinds name how a later complaint joined the case.
var contactKinds = map[string]string{router.ContactDuplicate: "重复提交", router.ContactRepeat: "重复投诉", router.ContactReply: "回复"}

// byLabels name who decided a field.
var byLabels = map[string]string{"rule": "规则", "model": "模型", "default": "默认值", "input": "来源数据", "note": "提示", "agent": "坐席更正"}

// fieldLabel names an explained field (router.FieldLabel); a clock's by
// its title.
func fieldLabel(field string, clockTitles map[string]string) string {
	if name, ok := strings.CutPrefix(field, "clock:"); ok {
		return "时限：" + cmp.Or(clockTitles[name], name)
	}
	return router.FieldLabel(field)
}

// ruleLabels name the rules tousu itself applies; a pack's rules go by
// their ids. The model's and an agent's correction need none beside who
// decided (byLabels).
var ruleLabels = map[string]string{
	"naive_bayes": "", "agent_corrections": "学习坐席更正", "correction": "", "first_contact": "首问责任制",
	"duplicate": "重复提交合并", "repeat_open": "处理中重复投诉", "reply_other_address": "他人邮箱回复", "repeat_resolved": "办结后重复投诉", "batch": "批量投诉",
}

// ruleLabel names the rule that decided x: tousu's own rules and a
// grade's immediate alert in Chinese, a pack's rule by its id.
func ruleLabel(x router.Explanation) string {
	label, known := ruleLabels[x.Rule]
	switch {
	case x.Rule == "":
		return ""
	case known:
		return label
	case strings.HasPrefix(x.Rule, "grade "):
		return router.StepLabel(x.Rule)
	case x.By == "rule" && strings.HasPrefix(x.Field, "clock:"):
		return "" // the clock's title says it
	}
	return "规则编号 " + x.Rule
}

// explainedValue is an explanation's value as the page shows it: a
// clock's due time in China time.
func explainedValue(x router.Explanation) string {
	if strings.HasPrefix(x.Field, "clock:") {
		if t, err := time.Parse(time.RFC3339, x.Value); err == nil {
			return when(t)
		}
	}
	return x.Value
}

// customer names a customer as the page shows them (already masked for
// a person who may not see contacts): name, phone, e-mail address.
func customer(cu normalize.Customer) string {
	var parts []string
	for _, s := range []string{cu.Name, cu.Phone, cu.Email} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, " · ")
}

// formsFor are the action forms c's status allows me, with the choices
// of its pack (e; none when the pack is not loaded).
func formsFor(c router.Case, e *router.Engine, me string) forms {
	b := make([]byte, 12)
	rand.Read(b)
	f := forms{Key: "page-" + hex.EncodeToString(b)}
	switch c.Status {
	case router.StatusOpen, router.StatusInProgress:
		f.Take, f.Transfer, f.Event, f.Resolve, f.Close, f.Recategorize, f.Correct = true, true, true, true, true, true, true
	case router.StatusResolved:
		f.FollowUp, f.Close, f.Reopen, f.Recategorize, f.Correct = true, true, true, true, true
	case router.StatusClosed:
		f.Reopen = true
	}
	if e != nil {
		f.Departments, f.Queues, f.Categories, f.Events, f.Grades = e.Departments(), e.Queues(), e.Categories(), e.Events(), e.Grades()
	}
	if c.CategoryUncertain { // the model's suggestions first
		f.Categories = slices.Concat(c.CategorySuggestions, slices.DeleteFunc(slices.Clone(f.Categories), func(s string) bool { return slices.Contains(c.CategorySuggestions, s) }))
	}
	f.Grade = c.Grade
	f.Take = f.Take && c.Assignee != me
	f.Event = f.Event && len(f.Events) > 0
	return f
}

// act sends the action a case page's form posted: 303 back to the case
// page, which shows what became of it; the case page again with the
// reason (422, 409, 503) when it was not sent.
func (p *Pages) act(c *fiber.Ctx) error {
	cs, ok, err := p.viewable(c)
	if !ok {
		return err
	}
	kind := router.ActionKind(c.FormValue("kind"))
	req := httpapi.ActionRequest{Kind: kind, Assignee: strings.TrimSpace(c.FormValue("assignee")), Department: c.FormValue("department"),
		Queue: c.FormValue("queue"), Event: c.FormValue("event"), Category: c.FormValue("category"), Grade: c.FormValue("grade"),
		Note: strings.TrimSpace(c.FormValue("note")), CustomerVisible: kind == router.ActionResolve && c.FormValue("customer_visible") == "yes",
		Clock: c.FormValue("clock")}
	if kind == router.ActionExtend {
		n, err := strconv.Atoi(strings.TrimSpace(c.FormValue("amount")))
		if err != nil || n < 1 {
			return p.renderCase(c, fiber.StatusUnprocessableEntity, cs, "未提交：延期。请填写延长的天数（正整数）", "")
		}
		req.Amount = n
	}
	switch c.FormValue("valid") {
	case "yes":
		req.Valid = ptr(true)
	case "no":
		req.Valid = ptr(false)
	}
	if kind == kindFollowUp {
		satisfied := c.FormValue("satisfied")
		if satisfied != "yes" && satisfied != "no" {
			return p.renderCase(c, fiber.StatusUnprocessableEntity, cs, "未提交：回访。请选择客户是否满意", "")
		}
		req.Kind, req.Note = router.FollowUp(satisfied == "yes", req.Note)
	}
	key := c.FormValue("key")
	if !ingest.ValidIdempotencyKey(key) {
		key = ""
	}
	knows := p.d.Knows
	if knows == nil {
		knows = func(string) bool { return false }
	}
	a, err := p.d.Actions.Submit(c.UserContext(), httpapi.PrincipalOf(c), cs, req, key, knows)
	var ae *httpapi.ActionError
	if errors.As(err, &ae) {
		if ae.Status == fiber.StatusServiceUnavailable {
			p.d.Logger.Error("publish case action failed", zap.String("case", cs.ID), zap.Error(ae))
		}
		return p.renderCase(c, ae.Status, cs, "未提交："+kindLabel(kind)+"。"+ae.Message(), "")
	}
	return c.Redirect(caseLink(cs.ID)+"?"+url.Values{"action": {a.ID}, "kind": {string(kind)}}.Encode(), fiber.StatusSeeOther)
}

func ptr[T any](v T) *T { return &v }
