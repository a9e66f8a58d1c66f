package app

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/tousu/tousu/internal/browsertest"
	"github.com/tousu/tousu/internal/polltest"
	"github.com/tousu/tousu/services/accounts"
)

// envShotsDir names the directory the console's browser test keeps its
// screenshots in; without it they go to the test's temporary directory.
const envShotsDir = "TOUSU_SHOTS_DIR"

// The complaint's customer-supplied fields, each with a stored-XSS attempt
// that would set window.__xss (or open a dialog) if a page ran it.
const (
	xssName        = `王秀英<img src=x onerror="window.__xss='name'">`
	xssSubject     = `javascript:window.__xss='subject' 话费被多扣 请回电13812345678`
	xssDescription = "本月话费被多扣了 58 元，账单上同一笔月租费重复扣了两次，要求退还多扣的话费并说明原因。" +
		`<script>window.__xss='script'</script><img src=x onerror="window.__xss='img';alert('xss')">` +
		`<a href="javascript:window.__xss='link'">查看账单</a>`
)

// TestConsoleWorksACaseInTheBrowser is issue 12's end-to-end test in
// headless Chromium against the real process: the first admin signs in
// with the one-time password and must change it, creates a supervisor and
// agents of two departments, a customer complains through the public form
// (with stored-XSS attempts in every field), the billing agent finds the
// case by a Chinese phrase, sees the customer's phone number masked on
// the case page, in the search and in the export, reveals it with the
// case page's button (her view on the timeline, the number masked again
// on the next page), takes it and transfers it to a colleague, who
// resolves it and records the follow-up visit (回访), each step on the
// timeline; the network agent neither opens it by URL nor finds it nor
// exports it (while his export has his department's case); the
// supervisor sees the number in full, on the page and in the export,
// with no reveal to make; and no page ever runs the customer's markup.
func TestConsoleWorksACaseInTheBrowser(t *testing.T) {
	b := newConsoleBrowser(t)
	dir := t.TempDir()
	r := startTousu(t, dir)
	b.base = r.base
	b.accounts(dir, []account{
		{"zhou.min", "周敏", "supervisor", ""},
		{"li.na", "李娜", "agent", "计费账务中心"},
		{"wang.fang", "王芳", "agent", "计费账务中心"},
		{"zhao.lei", "赵磊", "agent", "网络运维部"},
	})

	// A customer complains through the public form.
	b.navigate("/", "#f-description")
	b.typeIn("#f-name", xssName)
	b.typeIn("#f-phone", "13812345678")
	b.typeIn("#f-subject", xssSubject)
	b.typeIn("#f-description", xssDescription)
	b.click("#f-consent")
	b.shot("form")
	b.click(`button[type=submit]`)
	b.until("the reference is shown", `!!document.querySelector('#reference')`)
	reference := b.text("#reference")
	if !strings.HasPrefix(reference, "TS") {
		t.Fatalf("reference %q", reference)
	}
	b.shot("form-accepted")
	hit := r.waitFor(t, url.Values{"q": {"话费被多扣"}}, 1).Hits[0]
	if hit.ID != reference || hit.Route.Department != "计费账务中心" {
		t.Fatalf("the complaint became %s in %q, want %s in 计费账务中心", hit.ID, hit.Route.Department, reference)
	}
	// A case of the network department's, for its agent's export.
	network := r.submit(t, "小区手机信号差了三天，打电话总是断线，12月3号报修到现在没人处理", "")
	if dep := r.waitFor(t, url.Values{"q": {"小区手机信号差"}}, 1).Hits[0].Route.Department; dep != "网络运维部" {
		t.Fatalf("the signal complaint went to %q, want 网络运维部", dep)
	}
	caseURL := "/console/cases/" + reference
	b.navigate("/status?reference="+reference, "#f-digits")
	b.typeIn("#f-digits", "5678")
	b.click(`button[type=submit]`)
	b.until("the status page shows the case", `!!document.querySelector('#status')`)
	b.shot("status")

	// The billing agent finds it by a Chinese phrase, opens it and takes it.
	b.signIn("li.na", "初始密码-li.na", "李娜的新密码-2026")
	b.navigate("/console/search", "#q")
	b.typeIn("#q", "话费被多扣")
	b.click(`.searchbox button[type=submit]`)
	link := fmt.Sprintf(`a[href=%q]`, caseURL)
	b.until("the search lists the case", fmt.Sprintf(`!!document.querySelector(%q)`, link))
	b.shot("search")
	b.click(link)
	b.until("the case page is open", `!!document.querySelector('.timeline, .caseactions')`)
	b.showsAsText("case", `<script>window.__xss='script'</script>`, `onerror="window.__xss='img';alert('xss')"`, `javascript:window.__xss='subject'`, `href="javascript:window.__xss='link'"`)
	b.shot("case")

	// She sees the phone number masked on the case page, in the search
	// and in the export; the reveal button shows it once, and her view is
	// on the timeline.
	b.masksPhone("case page", "138****5678", "13812345678")
	b.navigate("/console/search?q="+url.QueryEscape("话费被多扣"), link)
	b.masksPhone("search", "138****5678", "13812345678")
	if row := b.exportRow(url.Values{"q": {"话费被多扣"}}, reference); row == nil || row["电话"] != "138****5678" || strings.Contains(fmt.Sprint(row), "13812345678") {
		t.Errorf("the agent's export: %v, want the case with the phone masked", row)
	}
	b.navigate(caseURL, ".caseactions")
	b.click(`form.reveal button`)
	b.until("the number is shown", `(document.querySelector('.flash')||{innerText:""}).innerText.startsWith("客户电话号码：")`)
	if flash := b.text(".flash"); !strings.Contains(flash, "+8613812345678") || !strings.Contains(flash, "已记入处理记录") {
		t.Errorf("the reveal says %q, want the full number and that it is recorded", flash)
	}
	b.shot("case-revealed")
	b.navigate(caseURL, ".caseactions")
	b.masksPhone("case page after the reveal", "138****5678", "13812345678")
	b.act("take", nil, "接手工单")
	if !strings.Contains(b.text(".timeline"), "li.na 查看联系方式") {
		t.Errorf("the timeline does not show li.na's reveal:\n%s", b.text(".timeline"))
	}
	b.shot("case-taken")
	b.act("transfer", map[string]string{"#t-assignee": "wang.fang", "#t-note": "转交王芳核实计费系统扣费明细"}, "转派")

	// The colleague has it in her queue, resolves it and records the visit.
	b.signOut()
	b.signIn("wang.fang", "初始密码-wang.fang", "王芳的新密码-2026")
	b.until("her queue lists the case", fmt.Sprintf(`!!document.querySelector(%q)`, link))
	b.shot("queue")
	b.navigate(caseURL, ".caseactions")
	b.act("resolve", map[string]string{"#s-note": "经核实为计费系统重复扣费，已退还 58 元至话费账户"}, "办结")
	b.shot("case-resolved")
	b.click(`input[name=satisfied][value=yes]`)
	b.act("follow_up", map[string]string{"#f-note": "电话回访，客户对处理结果表示满意"}, "回访")
	if status := b.text("h1 .badge"); status != "已关闭" {
		t.Errorf("after a satisfied follow-up the case is %q, want 已关闭", status)
	}
	timeline := b.text(".timeline")
	for _, step := range []string{"li.na 接手工单", "li.na 转派", "wang.fang 办结", "wang.fang 关闭工单", "客户对处理结果表示满意"} {
		if !strings.Contains(timeline, step) {
			t.Errorf("the timeline lacks %q:\n%s", step, timeline)
		}
	}
	b.shot("case-closed")

	// The network agent gets the not-found page by URL and no hit by search.
	b.signOut()
	b.signIn("zhao.lei", "初始密码-zhao.lei", "赵磊的新密码-2026")
	if code := b.navigate(caseURL, "h1"); code != http.StatusNotFound || b.text("h1") != "工单不存在" {
		t.Errorf("another department's agent opens the case: %d %q", code, b.text("h1"))
	}
	b.shot("other-department-notfound")
	b.navigate("/console/search?q="+url.QueryEscape("话费被多扣"), "#q")
	if b.exists(link) || strings.Contains(b.text("main"), reference) || !strings.Contains(b.text("main"), "没有找到符合条件的工单") {
		t.Error("another department's agent finds the case by search")
	}
	b.shot("other-department-search")
	// Nor in an export of that search, while the export of everything he
	// may see has his department's case.
	if row := b.exportRow(url.Values{"q": {"话费被多扣"}}, reference); row != nil {
		t.Errorf("another department's agent exports the case: %v", row)
	}
	if b.exportRow(url.Values{}, network) == nil || b.exportRow(url.Values{}, reference) != nil {
		t.Errorf("the network agent's export of all his cases: want %s and not %s", network, reference)
	}

	// The supervisor finds it among every department's cases.
	b.signOut()
	b.signIn("zhou.min", "初始密码-zhou.min", "周敏的新密码-2026")
	b.navigate("/console/search?q="+url.QueryEscape("话费被多扣"), link)
	b.shot("supervisor-search")
	b.click(link)
	b.until("the case page is open", `!!document.querySelector('.timeline')`)
	b.showsAsText("case unmasked", xssName, `<script>window.__xss='script'</script>`, "+8613812345678", "li.na 查看联系方式")
	if b.exists("form.reveal") {
		t.Error("the supervisor, who sees the number, is offered a reveal")
	}
	if row := b.exportRow(url.Values{"q": {"话费被多扣"}}, reference); row == nil || row["电话"] != "'+8613812345678" {
		t.Errorf("the supervisor's export: %v, want the case with the full number (quoted as text, httpapi.SafeCell)", row)
	}
	b.shot("supervisor-case")
}

// account is an account a browser test creates; its first password is
// "初始密码-" and its name.
type account struct{ name, display, role, department string }

// accounts signs in as the first admin of the installation in dir with
// the one-time password (choosing a new one, as the console asks),
// creates the accounts through the admin API with the console session,
// as the accounts page's form does, and signs out.
func (b *consoleBrowser) accounts(dir string, list []account) {
	b.t.Helper()
	oneTime := filepath.Join(dir, accounts.PasswordFile)
	polltest.Until(b.t, "the admin's one-time password is written", func() bool { _, err := os.Stat(oneTime); return err == nil })
	raw, err := os.ReadFile(oneTime)
	if err != nil {
		b.t.Fatal(err)
	}
	b.signIn("admin", strings.TrimSpace(string(raw)), "管理员新密码-2026")
	for _, u := range list {
		body := map[string]any{"name": u.name, "display_name": u.display, "role": u.role, "password": "初始密码-" + u.name}
		if u.department != "" {
			body["departments"] = []string{u.department}
		}
		if code := b.postJSON("/api/v1/admin/users", body); code != http.StatusCreated {
			b.t.Fatalf("create %s: %d", u.name, code)
		}
	}
	b.signOut()
}

// showsAsText fails the test unless the page's main text has each of
// the customer's texts as the customer typed them.
func (b *consoleBrowser) showsAsText(page string, texts ...string) {
	b.t.Helper()
	main := b.text("main")
	for _, s := range texts {
		if !strings.Contains(main, s) {
			b.t.Errorf("the %s page does not show the customer's %q as text", page, s)
		}
	}
}

// masksPhone fails the test unless the page's main text shows the
// customer's phone number as masked and nowhere as full.
func (b *consoleBrowser) masksPhone(page, masked, full string) {
	b.t.Helper()
	if main := b.text("main"); !strings.Contains(main, masked) || strings.Contains(main, full) {
		b.t.Errorf("the %s does not mask the phone number: %.1500s", page, main)
	}
}

// exportRow fetches the search page's CSV export of query from the page,
// as its export link does, and returns the row of case id by column name;
// nil when the export has no such row.
func (b *consoleBrowser) exportRow(query url.Values, id string) map[string]string {
	b.t.Helper()
	path := "/console/search/export?" + query.Encode()
	got, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]string](fmt.Sprintf(`fetch(%q).then(async r => [String(r.status), r.headers.get("Content-Disposition"), await r.text()])`, path), chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("export %s: %v", path, err)
	}
	if got[0] != "200" || !strings.HasPrefix(got[1], "attachment;") {
		b.t.Fatalf("export %s: %s %q", path, got[0], got[1])
	}
	records, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(got[2], "\uFEFF"))).ReadAll()
	if err != nil || len(records) == 0 {
		b.t.Fatalf("export %s: %v: %.300q", path, err, got[2])
	}
	for _, rec := range records[1:] {
		if rec[0] == id {
			row := map[string]string{}
			for i, col := range records[0] {
				row[col] = rec[i]
			}
			return row
		}
	}
	return nil
}

// consoleBrowser drives one Chromium tab through the console at 1100×800,
// saving a screenshot of every page it is asked to and checking on each
// that no customer-supplied markup ran.
type consoleBrowser struct {
	t     testing.TB
	ctx   context.Context
	base  string
	shots string
	n     int

	mu      sync.Mutex
	dialogs []string
}

// newConsoleBrowser starts Chromium, dismissing and recording every
// JavaScript dialog a page opens.
func newConsoleBrowser(tb testing.TB) *consoleBrowser {
	tb.Helper()
	return newBrowser(tb, browsertest.Start(tb, 1100, 800, 8*time.Minute))
}

// newBrowser is newConsoleBrowser in the browser tab ctx.
func newBrowser(tb testing.TB, ctx context.Context) *consoleBrowser {
	tb.Helper()
	b := &consoleBrowser{t: tb, ctx: ctx, shots: os.Getenv(envShotsDir)}
	if b.shots == "" {
		b.shots = tb.TempDir()
	} else if err := os.MkdirAll(b.shots, 0o755); err != nil {
		tb.Fatal(err)
	}
	tb.Logf("screenshots in %s", b.shots)
	err := chromedp.Listen(b.ctx, func(ev any) {
		if d, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			b.mu.Lock()
			b.dialogs = append(b.dialogs, string(d.Type)+": "+d.Message)
			b.mu.Unlock()
			go chromedp.Call(b.ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{})
		}
	})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// do runs steps, failing the test on an error.
func (b *consoleBrowser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// navigate opens path and waits for sel; it returns the answer's status.
func (b *consoleBrowser) navigate(path, sel string) int {
	b.t.Helper()
	resp, err := chromedp.RunResponse(b.ctx, chromedp.Navigate(b.base+path))
	if err != nil {
		b.t.Fatalf("open %s: %v", path, err)
	}
	b.until(path+" shows "+sel, fmt.Sprintf(`!!document.querySelector(%q)`, sel))
	return int(resp.Status)
}

// typeIn replaces the value of the field sel by typing v.
func (b *consoleBrowser) typeIn(sel, v string) {
	b.t.Helper()
	if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](fmt.Sprintf(`(document.querySelector(%q).value = "") === ""`, sel))); err != nil {
		b.t.Fatalf("clear %s: %v", sel, err)
	}
	b.do("type in "+sel, chromedp.SendKeys(chromedp.CSS(sel), v))
}

// click clicks the visible element sel.
func (b *consoleBrowser) click(sel string) {
	b.t.Helper()
	b.do("click "+sel, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
}

// text is the visible text of sel.
func (b *consoleBrowser) text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](fmt.Sprintf(`(document.querySelector(%q)||{innerText:""}).innerText`, sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

// exists reports whether the page has an element sel.
func (b *consoleBrowser) exists(sel string) bool {
	b.t.Helper()
	ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](fmt.Sprintf(`!!document.querySelector(%q)`, sel)))
	if err != nil {
		b.t.Fatalf("look for %s: %v", sel, err)
	}
	return ok
}

// until waits for the JavaScript condition cond to hold, through any
// navigation and the case page's own reloads in between.
func (b *consoleBrowser) until(what, cond string) {
	b.t.Helper()
	if !polltest.Within(polltest.Patience, func() bool {
		ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`document.readyState === "complete" && (`+cond+`)`))
		return err == nil && ok
	}) {
		loc, _ := chromedp.Run(b.ctx, chromedp.Location())
		b.t.Fatalf("%s: not after %v at %s; the page says %.600s", what, polltest.Patience, loc, b.text("main"))
	}
}

// signIn signs in as name, choosing newPassword when the console asks
// for a new one, and waits for the queue.
func (b *consoleBrowser) signIn(name, password, newPassword string) {
	b.t.Helper()
	b.navigate("/console/signin", "#password")
	b.typeIn("#name", name)
	b.typeIn("#password", password)
	b.shot("signin-" + name)
	b.click(`form button[type=submit]`)
	b.until(name+" is asked for a new password", `location.pathname === "/console/password" && !!document.querySelector('#again')`)
	if name == "admin" {
		b.shot("password")
	}
	b.typeIn("#old", password)
	b.typeIn("#new", newPassword)
	b.typeIn("#again", newPassword)
	b.click(`form[action$="/password"] button[type=submit]`)
	b.until(name+" is on the queue", `location.pathname === "/console/" && !!document.querySelector('nav[aria-label="主导航"]')`)
	if who := b.text(".who"); who != name {
		b.t.Fatalf("signed in as %q, want %s", who, name)
	}
}

// signOut presses 退出 and waits for the sign-in page.
func (b *consoleBrowser) signOut() {
	b.t.Helper()
	b.click(`.signout button`)
	b.until("signed out", `!document.querySelector('.signout')`)
}

// postJSON sends body to the API from the page with the session's cookie
// and CSRF token, as the console's own scripts do; it returns the status.
func (b *consoleBrowser) postJSON(path string, body any) int {
	b.t.Helper()
	js, err := json.Marshal(body)
	if err != nil {
		b.t.Fatal(err)
	}
	code, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](fmt.Sprintf(`fetch(%q, {method: "POST",
		headers: {"Content-Type": "application/json", "X-CSRF-Token": document.querySelector('input[name=_csrf]').value},
		body: %q}).then(r => r.status)`, path, js), chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("POST %s: %v", path, err)
	}
	return code
}

// act fills in the case page's form of kind with fields (selector: value),
// sends it and waits until the page, reloading itself, says the router
// applied it and the timeline shows label.
func (b *consoleBrowser) act(kind string, fields map[string]string, label string) {
	b.t.Helper()
	for sel, v := range fields {
		b.typeIn(sel, v)
	}
	b.click(fmt.Sprintf(`form:has(input[name=kind][value=%q]) button[type=submit]`, kind))
	b.until(label+" is applied", fmt.Sprintf(`(document.querySelector('.flash')||{innerText:""}).innerText.startsWith(%q) && !document.querySelector('meta[http-equiv=refresh]')`, "已生效："+label))
	if !strings.Contains(b.text(".timeline"), label) {
		b.t.Errorf("the timeline does not show %s:\n%s", label, b.text(".timeline"))
	}
}

// injectedMarkup is JavaScript that names the first element of the
// customer's a page carries (the pages themselves have none of them in
// main), or a page hidden by the customer's style; "" when there is none.
const injectedMarkup = `(() => {
	const el = document.querySelector('main :is(script:not([src]), style, iframe, frame, object, embed, svg, img, meta:not([http-equiv=refresh]), [onerror], [onload], [onmouseover], a[href^="javascript:" i], form[action*="evil"])');
	if (el) return el.outerHTML.slice(0, 200);
	const refresh = document.querySelector('meta[http-equiv=refresh i]');
	if (refresh && !/^\d+; url=\/console\//.test(refresh.content)) return refresh.outerHTML;
	for (const e of [document.body, document.querySelector('main')]) {
		if (e && (getComputedStyle(e).display === 'none' || getComputedStyle(e).visibility === 'hidden')) return e.tagName + ' is hidden';
	}
	return '';
})()`

// shot checks that no customer-supplied script ran on the page, none of
// their markup is in it (injectedMarkup) and no dialog opened, and saves a screenshot of the whole page as NN-name.png
// and of the 1100×800 viewport as NN-name.view.png.
func (b *consoleBrowser) shot(name string) {
	b.t.Helper()
	ran, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`String(window.__xss ?? "")`))
	if err != nil {
		b.t.Fatalf("check %s for scripts: %v", name, err)
	}
	if ran != "" {
		b.t.Errorf("page %s ran the customer's markup (%s)", name, ran)
	}
	injected, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](injectedMarkup))
	if err != nil {
		b.t.Fatalf("check %s for markup: %v", name, err)
	}
	if injected != "" {
		b.t.Errorf("page %s carries the customer's markup: %s", name, injected)
	}
	b.mu.Lock()
	if len(b.dialogs) > 0 {
		b.t.Errorf("dialogs opened since the last screenshot, up to page %s: %q", name, b.dialogs)
		b.dialogs = nil
	}
	b.mu.Unlock()
	b.n++
	for suffix, action := range map[string]chromedp.Action[[]byte]{".png": chromedp.FullScreenshot(100), ".view.png": chromedp.CaptureScreenshot()} {
		png, err := chromedp.Run(b.ctx, action)
		if err != nil {
			b.t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(b.shots, fmt.Sprintf("%02d-%s%s", b.n, name, suffix)), png, 0o644); err != nil {
			b.t.Fatal(err)
		}
	}
}
