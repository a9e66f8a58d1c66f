package app

import (
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tousu/tousu/internal/browsertest"
	"github.com/tousu/tousu/internal/polltest"
	"github.com/tousu/tousu/router"
)

// TestStatusPageFollowsACase is issue 18's status journey on a phone
// (390×844) in headless Chromium against the real process: a customer
// complains through the form and looks the case up at each step — 已受理
// with the 答复用户 deadline (never the internal four-hour clock), 处理中,
// 已答复, 已办结 with the result the agent marked for the customer — then
// answers 不满意 with a comment on the status page, and the case is
// reopened (处理中 again).
func TestStatusPageFollowsACase(t *testing.T) {
	b := newBrowser(t, browsertest.Start(t, 390, 844, 8*time.Minute, chromedp.EmulateMobile))
	dir := t.TempDir()
	r := startTousu(t, dir, func(c *Config) { c.Webform.RateLimit = 100 })
	b.base = r.base
	b.accounts(dir, []account{{"li.na", "李娜", "agent", "计费账务中心"}})

	// The customer complains from her phone.
	b.navigate("/", "#f-description")
	b.typeIn("#f-name", "陈秀兰")
	b.typeIn("#f-phone", "139 1234 0071")
	b.typeIn("#f-subject", "话费多扣")
	b.typeIn("#f-description", "11月账单里“流量加油包”扣了两次共60元，我只订过一次！12月1号打10000号说3天内回电，到现在没人理。要求退还多扣的30元。")
	b.click("#f-consent")
	b.click(`button[type=submit]`)
	b.until("the reference is shown", `!!document.querySelector('#reference')`)
	reference := b.text("#reference")
	hit := r.waitFor(t, url.Values{"q": {"流量加油包"}}, 1).Hits[0]
	if hit.ID != reference {
		t.Fatalf("the complaint became %s, want %s", hit.ID, reference)
	}

	// lookUp shows the status page of the case once the index has it as
	// ready says.
	lookUp := func(what string, ready func(router.Case) bool) {
		t.Helper()
		if !polltest.Within(polltest.Patience, func() bool { return ready(r.search(t, url.Values{"q": {"流量加油包"}}).Hits[0]) }) {
			t.Fatalf("the index never had the case %s", what)
		}
		b.navigate("/status?reference="+reference, "#f-digits")
		b.typeIn("#f-digits", "0071")
		b.click(`form[action$="/status"] button[type=submit]`)
		b.until("the status page shows the case", `!!document.querySelector('#status')`)
	}
	expect := func(status string, want, lack []string) {
		t.Helper()
		if got := b.text("#status"); got != status {
			t.Errorf("status %q, want %q", got, status)
		}
		main := b.text("main")
		for _, w := range want {
			if !strings.Contains(main, w) {
				t.Errorf("%s: the page lacks %q:\n%s", status, w, main)
			}
		}
		for _, l := range lack {
			if strings.Contains(main, l) {
				t.Errorf("%s: the page shows %q", status, l)
			}
		}
	}

	lookUp("received", func(router.Case) bool { return true })
	expect("已受理", []string{"答复用户：", "已受理\n"}, []string{"核对客户资料", "您对处理结果是否满意"})
	if !strings.HasPrefix(b.text("#deadline"), "答复用户：") {
		t.Errorf("deadline %q, want the 答复用户 clock", b.text("#deadline"))
	}
	b.shot("18a-1-received")

	caseURL := "/console/cases/" + reference
	b.signIn("li.na", "初始密码-li.na", "李娜的新密码-2026")
	b.navigate(caseURL, ".caseactions")
	b.act("take", nil, "接手工单")
	lookUp("taken", func(c router.Case) bool { return c.Status == router.StatusInProgress })
	expect("处理中", nil, []string{"您对处理结果是否满意"})
	b.shot("18a-2-in-progress")

	b.navigate(caseURL, ".caseactions")
	b.act("reply", map[string]string{"#a-note": "陈女士您好，已查到11月流量加油包重复扣费30元，正在走退费流程，3个工作日内退回话费账户。"}, "答复客户")
	lookUp("answered", func(c router.Case) bool {
		return slices.ContainsFunc(c.History, func(e router.Event) bool { return e.Kind == router.ActionReply })
	})
	expect("已答复", []string{"（已按时完成）"}, nil)
	b.shot("18a-3-answered")

	const result = "经核实为计费系统重复扣费，已于12月5日退还30元至话费账户。"
	b.navigate(caseURL, ".caseactions")
	b.click(`input[name=customer_visible]`)
	b.typeIn("#s-note", result)
	b.shot("18a-console-resolve")
	b.act("resolve", nil, "办结")
	if !strings.Contains(b.text(".timeline"), "处理结果已在进度查询页告知客户") {
		t.Errorf("the timeline does not say the result was told to the customer:\n%s", b.text(".timeline"))
	}
	b.signOut()
	lookUp("resolved", func(c router.Case) bool { return c.Status == router.StatusResolved })
	expect("已办结", []string{result, "您对处理结果是否满意", "12300", "电信用户申诉处理暂行办法", "第八条、第九条"}, nil)
	b.shot("18a-4-resolved")

	b.click(`input[name=satisfied][value=no]`)
	b.typeIn("#f-comment", "钱是退了，但加油包还在自动续订，下个月又会扣！")
	b.shot("18a-5-not-satisfied")
	b.click(`form.survey button[type=submit]`)
	b.until("the answer is taken", `document.body.innerText.includes("感谢您的评价")`)
	lookUp("reopened", func(c router.Case) bool { return c.Status == router.StatusInProgress })
	expect("处理中", nil, []string{result, "您对处理结果是否满意"})
	b.shot("18a-6-reopened")
	b.navigate("/status", "#f-digits")
	b.shot("18a-7-lookup-form")
	if c := r.search(t, url.Values{"q": {"流量加油包"}}).Hits[0]; !strings.Contains(c.History[len(c.History)-1].Note, "下个月又会扣") {
		t.Errorf("the reopening does not carry the customer's comment: %+v", c.History[len(c.History)-1])
	}
}
