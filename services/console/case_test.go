package console

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/normalize"
	"github.com/tousu/tousu/router"
)

// TestCasePage shows a case to whoever may see it, with contacts masked
// for agents, and the same 404 page for an unknown case and for one of
// another department.
func TestCasePage(t *testing.T) {
	cases := fixtures(t)
	cases[3].Contacts = []router.Contact{{Complaint: "email:9", Reference: "TS-D2", Kind: router.ContactRepeat, Channel: "email",
		ReceivedAt: time.Date(2026, 3, 5, 9, 0, 0, 0, cst), Text: "又来投诉：基站的事情还没解决，联系电话13912340004",
		From: normalize.Customer{Email: "lixiuying@example.com", Key: "email:lixiuying@example.com"}}}
	cases[3].References = append(cases[3].References, "TS-D2")
	cases[3].LinkedCases = []string{"TS-OLD"}
	cases[3].Consent = &ingest.Consent{Version: "2026-12", At: time.Date(2026, 12, 6, 12, 10, 0, 0, time.UTC)}
	cases[3].Warnings = []string{"邮件头：第 10 行不是合法的字段，已跳过：X-Script/function/<b>"}
	cases[3].Contacts[0].Warnings = []string{"正文：字符集 \"utf-8\" 与内容不符或无法识别，已按推测解码"}
	ps := newPagesServer(t, cases...)
	for _, tt := range []struct {
		who, path string
		code      int
		want      []string
		unwanted  []string
	}{
		{"乙", "/console/cases/TS-D", http.StatusOK, []string{
			"小区基站信号很差", "又来投诉：基站的事情还没解决", "重复投诉", "139****0004", // messages in order, masked
			"核对客户资料并联系客户", "已超时 23 小时", "答复用户", "回访", "未开始", // clocks
			"15个工作日内答复用户", // the clause the clock cites
			`href="/console/cases/TS-OLD"`, `name="_csrf" value="` + testCSRF + `"`, `<option>网络运维部</option>`,
			"<dt>个人信息处理同意</dt><dd>版本 2026-12，2026-12-06 20:10</dd>",                               // in China's time
			"<strong>接收提示</strong>", "<li>邮件头：第 10 行不是合法的字段，已跳过：X-Script/function/&lt;b&gt;</li>", // escaped
			"<li>正文：字符集 &#34;utf-8&#34; 与内容不符或无法识别，已按推测解码</li>",
		}, []string{"13912340004", "lixiuying@", "phone:+86", "email:lixiuying", "已超时，已超时"}},
		{"甲", "/console/cases/TS-A", http.StatusOK, []string{`value="resolve"`, "剩余 3 个工作小时"}, []string{`value="take"`, `value="reopen"`, "个人信息处理同意", "接收提示"}}, // held by 甲; no consent given
		{"王", "/console/cases/TS-D2", http.StatusOK, []string{"&#43;8613912340004", "lixiuying@example.com"}, []string{"phone:+86"}},
		{"甲", "/console/cases/TS-D", http.StatusNotFound, []string{"页面不存在", "工单不存在"}, []string{"小区基站"}},
		{"甲", "/console/cases/TS-404", http.StatusNotFound, []string{"工单不存在"}, nil},
		{"甲", "/console/cases/TS-B", http.StatusOK, []string{"手机信号差了三天"}, nil}, // owned, in another department's hands
	} {
		ps.check(t, tt.who, tt.path, tt.code, tt.want, tt.unwanted)
	}
	if _, page := ps.get(t, "乙", "/console/cases/TS-D"); strings.Index(page, "小区基站") > strings.Index(page, "又来投诉") {
		t.Error("the customer's messages are not in order")
	}
}

// TestCaseActions posts each form of the case page: the action goes
// through the API's checks, the answer is a 303 to the case page, which
// says the action is pending until the router applied it, then that it
// did, or why it was refused.
func TestCaseActions(t *testing.T) {
	ps := newPagesServer(t, fixtures(t)...)
	for _, tt := range []struct {
		name, who, path string
		form            url.Values
		code            int
		want            string // the page, or the start of the redirect
		sent            *router.Action
	}{
		{"take", "甲", "/console/cases/TS-C/actions", caseForm("kind", "take", "key", "k1"), http.StatusSeeOther, "/console/cases/TS-C?action=api%3A",
			&router.Action{Kind: router.ActionTake, Actor: "坐席甲"}},
		{"transfer with a terse note", "甲", "/console/cases/TS-C/actions", caseForm("kind", "transfer", "department", "网络运维部", "queue", "网络质量投诉", "note", "基站问题，转网络部"),
			http.StatusSeeOther, "/console/cases/TS-C?action=", &router.Action{Kind: router.ActionTransfer, Department: "网络运维部", Queue: "网络质量投诉", Note: "基站问题，转网络部"}},
		{"a department the pack does not route to", "甲", "/console/cases/TS-C/actions", caseForm("kind", "transfer", "department", "火星部门"),
			http.StatusUnprocessableEntity, "未提交：转派。该工单的处理规则中没有部门“火星部门”", nil},
		{"an assignee who is no account", "甲", "/console/cases/TS-C/actions", caseForm("kind", "transfer", "assignee", "9999"),
			http.StatusUnprocessableEntity, "指派坐席不是系统中的坐席账号：“9999”", nil},
		{"resolve without its result", "甲", "/console/cases/TS-A/actions", caseForm("kind", "resolve", "note", "  "),
			http.StatusUnprocessableEntity, "办结须在备注中填写处理结果", nil},
		{"resolve, the result kept internal", "甲", "/console/cases/TS-A/actions", caseForm("kind", "resolve", "note", "已退12月月租，客户还嫌少"),
			http.StatusSeeOther, "/console/cases/TS-A?action=", &router.Action{Kind: router.ActionResolve, Note: "已退12月月租，客户还嫌少"}},
		{"resolve, the result told to the customer", "甲", "/console/cases/TS-A/actions", caseForm("kind", "resolve", "note", "已退还12月宽带月租30元。", "customer_visible", "yes"),
			http.StatusSeeOther, "/console/cases/TS-A?action=", &router.Action{Kind: router.ActionResolve, Note: "已退还12月宽带月租30元。", CustomerVisible: true}},
		{"take a case another agent holds", "甲", "/console/cases/TS-B/actions", caseForm("kind", "take"),
			http.StatusConflict, "该工单正由坐席“坐席丙”处理", nil},
		{"a supervisor takes it over", "王", "/console/cases/TS-B/actions", caseForm("kind", "take"),
			http.StatusSeeOther, "/console/cases/TS-B?action=", &router.Action{Kind: router.ActionTake, Actor: "主管王", Override: true}},
		{"recategorize with a reason", "甲", "/console/cases/TS-A/actions", caseForm("kind", "recategorize", "category", "费用问题", "note", "客户实际投诉的是补偿未到帐"),
			http.StatusSeeOther, "/console/cases/TS-A?action=", &router.Action{Kind: router.ActionRecategorize, Category: "费用问题"}},
		{"regrade with a reason", "甲", "/console/cases/TS-A/actions", caseForm("kind", "regrade", "grade", "重大", "note", "客户称已联系电视台，3月5日要来拍"),
			http.StatusSeeOther, "/console/cases/TS-A?action=", &router.Action{Kind: router.ActionRegrade, Grade: "重大", Note: "客户称已联系电视台，3月5日要来拍"}},
		{"regrade to a grade the pack lacks", "甲", "/console/cases/TS-A/actions", caseForm("kind", "regrade", "grade", "特急", "note", "急"),
			http.StatusUnprocessableEntity, "未提交：更正等级。该工单的处理规则中没有等级“特急”", nil},
		{"regrade without a reason", "甲", "/console/cases/TS-A/actions", caseForm("kind", "regrade", "grade", "重大", "note", "  "),
			http.StatusUnprocessableEntity, "未提交：更正等级。更正须填写理由", nil},
		{"invalid with its reason", "甲", "/console/cases/TS-A/actions", caseForm("kind", "revalidate", "valid", "no", "note", "客户打错了，是移动的号"),
			http.StatusSeeOther, "/console/cases/TS-A?action=", &router.Action{Kind: router.ActionRevalidate, Valid: ptr(false), Note: "客户打错了，是移动的号"}},
		{"valid again", "甲", "/console/cases/TS-A/actions", caseForm("kind", "revalidate", "valid", "yes", "note", "核实是我司用户"),
			http.StatusSeeOther, "/console/cases/TS-A?action=", &router.Action{Kind: router.ActionRevalidate, Valid: ptr(true), Note: "核实是我司用户"}},
		{"revalidate without a verdict", "甲", "/console/cases/TS-A/actions", caseForm("kind", "revalidate", "note", "不好说"),
			http.StatusUnprocessableEntity, "请选择投诉有效或无效", nil},
		{"a follow-up without its verdict", "甲", "/console/cases/TS-A/actions", caseForm("kind", "follow_up"),
			http.StatusUnprocessableEntity, "请选择客户是否满意", nil},
		{"a case of another department", "甲", "/console/cases/TS-D/actions", caseForm("kind", "take"), http.StatusNotFound, "工单不存在", nil},
		{"without the CSRF token", "甲", "/console/cases/TS-C/actions", url.Values{"kind": {"take"}}, http.StatusForbidden, "CSRF", nil},
	} {
		if a, sent := ps.postForm(t, tt.name, tt.who, tt.path, tt.form, tt.code, tt.want, tt.sent != nil); sent {
			if a.Kind != tt.sent.Kind || tt.sent.Actor != "" && a.Actor != tt.sent.Actor || a.Department != tt.sent.Department ||
				a.Queue != tt.sent.Queue || a.Category != tt.sent.Category || a.Override != tt.sent.Override || a.Grade != tt.sent.Grade ||
				(a.Valid == nil) != (tt.sent.Valid == nil) || a.Valid != nil && *a.Valid != *tt.sent.Valid ||
				tt.sent.Note != "" && a.Note != tt.sent.Note || a.Customer == "" || a.CustomerVisible != tt.sent.CustomerVisible {
				t.Errorf("%s: sent %+v, want %+v", tt.name, a, *tt.sent)
			}
		}
	}
	// The same form posted twice is one action.
	_, again := ps.post(t, "甲", "/console/cases/TS-C/actions", caseForm("kind", "take", "key", "k1"))
	if first := ps.published[0].ID; !strings.Contains(again, url.QueryEscape(first)) {
		t.Errorf("a form posted twice gave a new action: %s, first %s", again, first)
	}
}

// TestActionOutcome follows a take from the form to the router applying
// it, and a follow-up visit the router refused.
func TestActionOutcome(t *testing.T) {
	ps := newPagesServer(t, fixtures(t)...)
	_, loc := ps.post(t, "甲", "/console/cases/TS-C/actions", url.Values{"_csrf": {testCSRF}, "kind": {"take"}})
	code, page := ps.get(t, "甲", loc)
	if code != http.StatusOK || !strings.Contains(page, "已提交：接手工单，正在处理…") || !strings.Contains(page, `polls=1"`) {
		t.Fatalf("GET %s while pending = %d %s", loc, code, page)
	}
	if _, page := ps.get(t, "甲", loc+"&polls=15"); !strings.Contains(page, "尚未处理完成，请稍后刷新页面") || strings.Contains(page, `http-equiv="refresh"`) {
		t.Errorf("the page reloads itself without end:\n%s", page)
	}
	a := ps.published[0]
	cs, err := ps.index.Get(context.Background(), "TS-C")
	if err != nil {
		t.Fatal(err)
	}
	applied, _, _, err := ps.packs.ByName(cs.Pack).Apply(cs, a)
	if err != nil {
		t.Fatal(err)
	}
	applied.Revision++
	// The router tells the result before the indexer wrote its case: the
	// page keeps waiting, or it would say 已生效 above the old case.
	ps.results[a.ID] = router.ActionResult{Action: a.ID, Case: "TS-C", Kind: router.ActionTake, State: router.ActionApplied, Revision: applied.Revision}
	if _, page := ps.get(t, "甲", loc); !strings.Contains(page, "已提交：接手工单，正在处理…") || !strings.Contains(page, `http-equiv="refresh"`) {
		t.Errorf("GET %s once told but not yet indexed:\n%s", loc, page)
	}
	if err := ps.index.Upsert(context.Background(), []router.Case{applied}); err != nil {
		t.Fatal(err)
	}
	_, page = ps.get(t, "甲", loc)
	if !strings.Contains(page, "已生效：接手工单") || strings.Contains(page, `http-equiv="refresh"`) || !strings.Contains(page, "首问负责人：坐席甲；当前处理人：坐席甲") {
		t.Errorf("GET %s once applied:\n%s", loc, page)
	}

	// 回访: the customer is satisfied, the case closes; the router refused
	// it (another agent closed the case meanwhile).
	_, loc = ps.post(t, "甲", "/console/cases/TS-A/actions", url.Values{"_csrf": {testCSRF}, "kind": {"follow_up"}, "satisfied": {"yes"}, "note": {"客户说提速已生效"}})
	sent := ps.published[len(ps.published)-1]
	if sent.Kind != router.ActionClose || sent.Note != "回访：客户满意。客户说提速已生效" {
		t.Errorf("the follow-up sent %s %q", sent.Kind, sent.Note)
	}
	ps.results[sent.ID] = router.ActionResult{Action: sent.ID, Case: "TS-A", Kind: router.ActionClose, State: router.ActionRefused,
		Reason: &router.Reason{Code: router.CodeCaseFinished, Message: "工单已关闭，不能再次关闭"}}
	_, page = ps.get(t, "甲", loc)
	if !strings.Contains(page, "未执行：回访。工单已关闭，不能再次关闭") || strings.Contains(page, `http-equiv="refresh"`) {
		t.Errorf("GET %s once refused:\n%s", loc, page)
	}
}

// TestStoredXSS: what customers wrote is shown as text on every page,
// never as markup: no script runs, no element or handler is injected, no
// javascript: link is made.
func TestStoredXSS(t *testing.T) {
	const (
		script = `<script>alert("xss")</script>`
		img    = `"><img src=x onerror=alert(1)>`
		link   = `<a href="javascript:alert(document.cookie)">点此查看退款</a>`
	)
	evil := complaint(t, "TS-X", "+8613912340009", "宽带断网"+img+"三天了，"+link, time.Date(2026, 3, 5, 10, 0, 0, 0, cst), func(c *router.Case) {
		c.Subject = "投诉" + script
		c.Customer.Name = `王<b onmouseover=alert(1)>五` + script
		c.Route.Department = "客户服务中心"
		c.Contacts = []router.Contact{{Reference: "TS-X2", Kind: router.ContactReply, Channel: "email", ReceivedAt: c.ReceivedAt.Add(time.Hour),
			Subject: "Re: " + script, Text: "回复：" + link + img, From: normalize.Customer{Name: `"><svg onload=alert(1)>`, Key: "email:x@example.com"}}}
		c.History = []router.Event{{Action: "a1", Kind: router.ActionNote, Actor: "坐席甲", At: c.ReceivedAt.Add(2 * time.Hour), Note: "客户留言：" + script}}
	})
	ps := newPagesServer(t, evil)
	for _, who := range []string{"王", "甲"} {
		for _, path := range []string{"/console/cases/TS-X", "/console/", "/console/search?q=" + url.QueryEscape("宽带断网"), "/console/search?customer=" + url.QueryEscape("王")} {
			ps.check(t, who, path, http.StatusOK, nil, []string{"<script>alert", "<img", "<svg", "<b ", "onerror=alert(1)>", `href="javascript:`})
		}
	}
	if _, page := ps.get(t, "王", "/console/cases/TS-X"); !strings.Contains(page, "&lt;script&gt;alert(&#34;xss&#34;)&lt;/script&gt;") {
		t.Error("the subject is not shown as text")
	}
}

// TestCasePageInChinese: the policy's decisions, the ladder and the
// timeline read in Chinese, and the page offers the grade and validity
// corrections with the pack's grades.
func TestCasePageInChinese(t *testing.T) {
	cases := fixtures(t)
	c := &cases[2] // TS-C, decided by the telecom pack
	c.History = append(c.History, router.Event{Action: "a1", Kind: router.ActionRegrade, Actor: "坐席甲", At: c.ReceivedAt.Add(time.Hour),
		Detail: "等级：一般 → 重大", Note: "客户说要找315曝光"})
	// A correction made the 回访 clock inapplicable: it left the case.
	c.PendingClocks = nil
	c.Explanation = append(c.Explanation, router.Explanation{Field: "clock:follow_up", Value: router.ClockDroppedValue, By: "rule", Rule: "follow_up",
		Reason: "更正后不再符合该时限的适用条件"})
	ps := newPagesServer(t, cases...)
	ps.check(t, "甲", "/console/cases/TS-C", http.StatusOK, []string{
		"未命中任何无效情形规则，按有效受理", "自受理起15个工作日", "时限：答复用户", "时限已过 50%（预警）", // reasons, clocks, ladder
		"规则编号 cat-unsolicited", "2026-03-26 00:00", // a pack's rule by its id, a due time as people write it
		"更正等级", "等级：一般 → 重大", // the timeline
		"<td>时限：回访</td><td>不再适用</td>", // a dropped clock by its title
		`<input type="hidden" name="kind" value="regrade">`, `<option selected>一般</option><option>升级</option><option>重大</option>`,
		`<input type="hidden" name="kind" value="revalidate">`, `name="valid" value="no"`,
	}, []string{"no invalidity rule", "working_days", ">50%<", "T00:00:00+08:00", ">rule<", "naive Bayes", "规则（置信度", "follow_up"})
}

// TestLadderSaysWhatWillNotFire: a rung of a clock that stopped (the
// customer was answered) says it will not fire; the others wait.
func TestLadderSaysWhatWillNotFire(t *testing.T) {
	cases := fixtures(t)
	c := &cases[2] // TS-C, decided by the telecom pack
	if len(c.Escalation.Alerts) == 0 || len(c.Deadlines) == 0 {
		t.Fatalf("fixture without a ladder: %+v", c.Escalation)
	}
	ps := newPagesServer(t, cases...)
	ps.check(t, "甲", "/console/cases/TS-C", http.StatusOK, []string{"待触发"}, []string{"不再触发"})
	for i := range c.Deadlines {
		c.Deadlines[i].StoppedAt, c.Deadlines[i].Met = c.ReceivedAt.Add(2*time.Hour), true
	}
	ps = newPagesServer(t, cases...)
	ps.check(t, "甲", "/console/cases/TS-C", http.StatusOK, []string{"不再触发（时限已停止）"}, nil)
}

// insuranceCase opens an insurance case (source "insurer") in 客户服务中心,
// then applies the actions to it.
func insuranceCase(tb testing.TB, id string, actions ...router.Action) router.Case {
	tb.Helper()
	packs := telecomPacks(tb)
	received := time.Date(2026, 3, 2, 9, 0, 0, 0, cst)
	c := packs.Open(normalize.Complaint{V: normalize.SchemaVersion, ID: "webform:" + id, Reference: id, Channel: "webform", Source: "insurer", ReceivedAt: received,
		Customer:    normalize.Customer{Name: "赵敏", Phone: "+8613912340009", Key: "phone:+8613912340009"},
		Description: "车险理赔，定损员只给定两千八，4S店报价六千三，差价谁出？要求重新定损"}, received)
	c.ID, c.Route.Department = id, "客户服务中心"
	e := packs.ByName(c.Pack)
	for _, a := range actions {
		a.V, a.Case, a.Customer = router.ActionVersion, c.ID, c.Customer.Key
		var err error
		if c, _, _, err = e.Apply(c, a); err != nil {
			tb.Fatal(err)
		}
	}
	return c
}

// TestCaseClockForms: the case page offers 延期 where the case's pack lets
// a clock be extended and the person may (insurance's decision clock: a
// supervisor), and 暂停计时 / 恢复计时 where it lets a clock pause; it shows
// a paused clock as 暂停中 with its alerts held, an extended one with how
// far; the forms post extend, pause and resume actions.
func TestCaseClockForms(t *testing.T) {
	pause := router.Action{ID: "p1", Kind: router.ActionPause, Actor: "坐席甲", At: time.Date(2026, 3, 3, 10, 0, 0, 0, cst), Note: "等客户补交维修发票和定损照片"}
	extend := router.Action{ID: "x1", Kind: router.ActionExtend, Actor: "主管王", At: time.Date(2026, 3, 4, 10, 0, 0, 0, cst), Clock: "decide", Amount: 15,
		Note: "需委托公估机构重新核定损失", Override: true}
	cases := append(fixtures(t), insuranceCase(t, "TS-I"), insuranceCase(t, "TS-P", pause), insuranceCase(t, "TS-X", extend))
	ps := newPagesServer(t, cases...)
	for _, tt := range []struct {
		who, path      string
		want, unwanted []string
	}{
		{"王", "/console/cases/TS-I", []string{`value="extend"`, "“作出处理决定”至多还可延期 30 个自然日", "延长数量（个自然日）", `value="pause"`, "等待客户补充的材料（必填）"}, []string{`value="resume"`}},
		{"甲", "/console/cases/TS-I", []string{`value="pause"`}, []string{`value="extend"`, `value="resume"`}},
		{"甲", "/console/cases/TS-P", []string{"暂停中（自 2026-03-03 10:00 起，等待客户补充材料）", `value="resume"`, "暂停中，恢复计时后按新的到期时间触发", "暂停计时", "等客户补交维修发票和定损照片"},
			[]string{`value="pause"`}},
		{"王", "/console/cases/TS-X", []string{"2026-04-17 00:00（已延期 15 个自然日）", "至多还可延期 15 个自然日", "“作出处理决定”时限延期15个自然日", "需委托公估机构重新核定损失"}, nil},
		{"王", "/console/cases/TS-A", nil, []string{`value="extend"`, `value="pause"`, `value="resume"`}}, // telecom: neither
	} {
		ps.check(t, tt.who, tt.path, http.StatusOK, tt.want, tt.unwanted)
	}
	for _, tt := range []struct {
		name, who, path string
		form            url.Values
		code            int
		want            string
		sent            *router.Action
	}{
		{"a supervisor extends", "王", "/console/cases/TS-I/actions", caseForm("kind", "extend", "clock", "decide", "amount", "15", "note", "需调取交警事故认定书"),
			http.StatusSeeOther, "/console/cases/TS-I?action=", &router.Action{Kind: router.ActionExtend, Clock: "decide", Amount: 15, Override: true}},
		{"an agent may not", "甲", "/console/cases/TS-I/actions", caseForm("kind", "extend", "clock", "decide", "amount", "15", "note", "客户同意"),
			http.StatusUnprocessableEntity, "未提交：延期。“作出处理决定”时限延期须由主管批准", nil},
		{"days not a number", "王", "/console/cases/TS-I/actions", caseForm("kind", "extend", "clock", "decide", "amount", "十五", "note", "情况复杂"),
			http.StatusUnprocessableEntity, "请填写延长的天数", nil},
		{"an agent pauses", "甲", "/console/cases/TS-I/actions", caseForm("kind", "pause", "note", "等客户补交行驶证复印件"),
			http.StatusSeeOther, "/console/cases/TS-I?action=", &router.Action{Kind: router.ActionPause}},
		{"and resumes", "甲", "/console/cases/TS-P/actions", caseForm("kind", "resume", "note", "材料已收齐"),
			http.StatusSeeOther, "/console/cases/TS-P?action=", &router.Action{Kind: router.ActionResume}},
		{"telecom refuses a pause", "甲", "/console/cases/TS-A/actions", caseForm("kind", "pause", "note", "等客户提供缴费截图"),
			http.StatusConflict, "该工单没有可以暂停的时限", nil},
	} {
		if a, sent := ps.postForm(t, tt.name, tt.who, tt.path, tt.form, tt.code, tt.want, tt.sent != nil); sent {
			if a.Kind != tt.sent.Kind || a.Clock != tt.sent.Clock || a.Amount != tt.sent.Amount || a.Override != tt.sent.Override {
				t.Errorf("%s: sent %+v, want %+v", tt.name, a, *tt.sent)
			}
		}
	}
}

// caseForm is a case page's form with the session's CSRF token and the
// fields kv (name, value, name, value…).
func caseForm(kv ...string) url.Values {
	v := url.Values{"_csrf": {testCSRF}}
	for i := 0; i < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

// postForm posts form to path as who and checks the status and that the
// page or the redirect has want, and that one action was sent when send,
// none otherwise. It returns the action sent and whether one was.
func (ps *pagesServer) postForm(tb testing.TB, name, who, path string, form url.Values, code int, want string, send bool) (router.Action, bool) {
	tb.Helper()
	before := len(ps.published)
	got, page := ps.post(tb, who, path, form)
	if got != code || !strings.Contains(page, want) {
		tb.Errorf("%s: POST = %d %.400s; want %d with %q", name, got, page, code, want)
	}
	switch {
	case !send && len(ps.published) != before:
		tb.Errorf("%s: an action was sent: %+v", name, ps.published[before:])
	case send && len(ps.published) != before+1:
		tb.Errorf("%s: %d actions sent, want 1", name, len(ps.published)-before)
	case send:
		return ps.published[before], true
	}
	return router.Action{}, false
}
