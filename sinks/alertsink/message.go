package alertsink

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tousu/tousu/router"
)

// cst is China Standard Time (no daylight saving), the zone times are
// shown in.
var cst = time.FixedZone("CST", 8*3600)

// message is what a message to people says about a notice, before it is
// written as markdown (RobotMessage) or as plain text (EmailMessage).
type message struct {
	// title is short, for a chat's notification: 升级预警 · 第 2 级 · 工单 TS1.
	title string
	// heading says what happened: 【升级预警】工单 TS1.
	heading string
	// subject is the heading with an escalation's level and step, for an
	// e-mail: 【升级预警】工单 TS1 第2级 已超时.
	subject string
	// fields are the labelled facts, in order.
	fields []field
}

// field is one labelled fact of a message: 级别：第 2 级.
type field struct{ label, value string }

// describe returns the message of n (which should be masked): what
// happened, 级别, 工单, 时限, 通知 (an escalation), the new complaint's
// reference (an urge), the size and cases (a batch), then 原因, 依据,
// 分类, 处理 and 时间. text writes one of the notice's own texts for the
// medium (markdown: stripped of markdown; plain text: on one line),
// caseRef a case id (a link, or text).
func describe(n router.Notice, text, caseRef func(string) string) message {
	var m message
	add := func(label, value string) {
		if value != "" {
			m.fields = append(m.fields, field{label, value})
		}
	}
	switch n.Kind {
	case router.NoticeEscalation:
		m.title = fmt.Sprintf("升级预警 · 第 %d 级 · 工单 %s", n.Level, n.Case)
		m.heading = "【升级预警】工单 " + text(n.Case)
		m.subject = strings.TrimSpace(fmt.Sprintf("%s 第%d级 %s", m.heading, n.Level, text(router.StepLabel(n.Step))))
		add("级别", fmt.Sprintf("第 %d 级", n.Level))
		add("工单", caseRef(n.Case))
		if n.Clock == "" && n.Due.IsZero() {
			add("预警环节", text(router.StepLabel(n.Step))) // a grade's immediate alert: no clock
		} else {
			add("时限", deadline(n, text))
		}
		add("通知", text(strings.Join(n.Notify, "、")))
	case router.NoticeUrge:
		m.title = "催办 · 工单 " + n.Case
		m.heading = "【催办】工单 " + text(n.Case) + " 收到重复投诉"
		add("工单", caseRef(n.Case))
		add("新投诉受理编号", text(n.Reference))
		if n.Urgency > 0 {
			add("紧急程度", strconv.Itoa(n.Urgency))
		}
	case router.NoticeBatch:
		m.title = "批量投诉 · " + n.Batch
		m.heading = "【批量投诉】" + text(n.Batch)
		m.subject = fmt.Sprintf("%s %d 件工单", m.heading, len(n.Cases))
		add("规模", fmt.Sprintf("%d 件工单，%d 位客户", len(n.Cases), n.Customers))
		refs := make([]string, 0, 10)
		for i, id := range n.Cases {
			if i == 10 {
				refs = append(refs, fmt.Sprintf("等 %d 件", len(n.Cases)))
				break
			}
			refs = append(refs, caseRef(id))
		}
		add("工单", strings.Join(refs, "、"))
	default:
		m.title = "预警 · " + n.ID
		m.heading = "【预警】" + text(n.ID)
		add("工单", caseRef(n.Case))
	}
	if m.subject == "" {
		m.subject = m.heading
	}
	add("原因", text(n.Reason))
	add("依据", text(n.Basis))
	add("分类", text(n.Category))
	if route := strings.Join(slices.DeleteFunc([]string{n.Route.Department, n.Route.Queue, n.Route.Owner}, func(s string) bool { return s == "" }), " / "); route != "" {
		add("处理", text(route))
	}
	if !n.At.IsZero() {
		add("时间", n.At.In(cst).Format("2006-01-02 15:04"))
	}
	return m
}

// deadline describes an escalation's clock: its due time in China time
// and the step reached (router.StepLabel).
func deadline(n router.Notice, text func(string) string) string {
	var parts []string
	if n.Clock != "" {
		parts = append(parts, text(n.Clock))
	}
	if !n.Due.IsZero() {
		parts = append(parts, n.Due.In(cst).Format("2006-01-02 15:04")+" 到期")
	}
	if n.Step != "" {
		parts = append(parts, text(router.StepLabel(n.Step)))
	}
	return strings.Join(parts, "，")
}

// casePage is the console page of case id under consoleURL (without a
// trailing slash).
func casePage(consoleURL, id string) string {
	return consoleURL + "/console/cases/" + url.PathEscape(id)
}
