package app

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tousu/tousu/internal/browsertest"
)

// browser starts headless Chromium from TOUSU_TEST_BROWSER with a phone's
// viewport. Without the variable the test is skipped, or fails with
// TOUSU_REQUIRE_SERVERS=1.
func browser(tb testing.TB) context.Context {
	tb.Helper()
	return browsertest.Start(tb, 390, 844, 2*time.Minute, chromedp.EmulateMobile)
}

// textOf returns the text of the element sel selects in the browser's
// page, without surrounding space.
func textOf(tb testing.TB, ctx context.Context, sel string) string {
	tb.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		tb.Fatal(err)
	}
	return strings.TrimSpace(s)
}

// TestBrowserSubmitsComplaint fills in the web form in a real browser on a
// phone-sized screen: a missing field is reported beside it, a complete
// complaint with an attachment gets a reference, the case is found by a
// Chinese phrase through the API, and the status page shows it.
func TestBrowserSubmitsComplaint(t *testing.T) {
	ctx := browser(t)
	r := startTousu(t, t.TempDir(), func(c *Config) {
		c.Webform.Organisation.Name, c.Webform.Organisation.Hotline = "某某通信有限公司客户服务中心", "10000"
		c.Webform.Organisation.Privacy.Version = "2026-12"
	})
	photo := filepath.Join(t.TempDir(), "signal.png")
	if err := os.WriteFile(photo, append([]byte("\x89PNG\r\n\x1a\n"), make([]byte, 128)...), 0o600); err != nil {
		t.Fatal(err)
	}

	do := func(steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatal(err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		return textOf(t, ctx, sel)
	}

	do(
		chromedp.Navigate(r.base+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#f-description`)),
	)
	overflow, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth`))
	if err != nil {
		t.Fatal(err)
	}
	if overflow {
		t.Error("the form is wider than a phone's screen")
	}
	do(
		chromedp.SendKeys(chromedp.CSS(`#f-name`), "张三"),
		chromedp.SendKeys(chromedp.CSS(`#f-phone`), "13800138000"),
		chromedp.Click(chromedp.CSS(`button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#e-description`)),
	)
	if text(`#e-description`) == "" {
		t.Error("no message beside the empty description")
	}
	if got := text(`#e-consent`); !strings.Contains(got, "勾选同意") {
		t.Errorf("the unticked consent box says %q", got)
	}
	if got := text(`label[for=f-consent]`); got != "我已阅读并同意《个人信息处理规则》（版本 2026-12） *" {
		t.Errorf("the consent box reads %q", got)
	}
	saveShot(t, ctx, "18c-form-no-consent")

	do(
		chromedp.SendKeys(chromedp.CSS(`#f-subject`), "信号问题"),
		chromedp.SendKeys(chromedp.CSS(`#f-description`), "小区里手机信号差了三天，打电话总是断线"),
		chromedp.SetUploadFiles(chromedp.CSS(`#f-attachment`), []string{photo}),
		chromedp.Click(chromedp.CSS(`#f-consent`)),
		chromedp.Click(chromedp.CSS(`button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#reference`)),
	)
	reference := text(`#reference`)
	if !strings.HasPrefix(reference, "TS") {
		t.Fatalf("reference %q", reference)
	}

	res := r.waitFor(t, url.Values{"q": {"信号差"}}, 1)
	if c := res.Hits[0]; c.ID != reference || c.Customer.Name != "张三" || len(c.Attachments) != 1 || c.Attachments[0].Name != "signal.png" {
		t.Errorf("case = %+v", c)
	}

	do(
		chromedp.Navigate(r.base+"/status?reference="+reference),
		chromedp.WaitVisible(chromedp.CSS(`#f-digits`)),
		chromedp.SendKeys(chromedp.CSS(`#f-digits`), "8000"),
		chromedp.Click(chromedp.CSS(`button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#status`)),
	)
	if status, deadline := text(`#status`), text(`#deadline`); status != "已受理" || !strings.Contains(deadline, "年") || !strings.Contains(text(`main`), reference) {
		t.Errorf("status page says %q, deadline %q", status, deadline)
	}

	// Every page links to the privacy notice, which names its version.
	do(chromedp.Click(chromedp.CSS(`footer a[href="/privacy"]`)), chromedp.WaitVisible(chromedp.CSS(`.notice`)))
	if got := text(`main`); !strings.Contains(got, "版本 2026-12") || !strings.Contains(got, "查阅、复制、更正、删除") {
		t.Errorf("the privacy page says %.300q", got)
	}
	saveShot(t, ctx, "18c-privacy")
}

// saveShot saves a full-page screenshot of the browser's page as name.png
// in TOUSU_SHOTS_DIR, when set.
func saveShot(tb testing.TB, ctx context.Context, name string) {
	tb.Helper()
	dir := os.Getenv("TOUSU_SHOTS_DIR")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		tb.Fatal(err)
	}
}
