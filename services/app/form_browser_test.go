package app

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tousu/tousu/internal/secret"
)

// TestBrowserFormSurvivesRestart types a complaint on a phone, restarts
// the process on the same data directory while the form is open, and
// submits: the text is never lost. After a plain restart the form is
// taken as it is (its token is signed with a key the data directory
// keeps); after a restart with another CSRF key (rotated, or a replica
// configured apart) the form comes back with everything typed, and sent
// again it is taken. A mistyped address gets the Chinese 404 page.
func TestBrowserFormSurvivesRestart(t *testing.T) {
	ctx := browser(t)
	dir := t.TempDir()
	r := startTousu(t, dir)
	addr := strings.TrimPrefix(r.base, "http://")
	restart := func(edit ...func(*Config)) {
		t.Helper()
		r.stop()
		edit = append(edit, func(c *Config) { c.HTTP.Listen = addr })
		r = startTousu(t, dir, edit...)
	}
	do := func(steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		step, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if err := chromedp.Do(step, steps...); err != nil {
			page, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.location.href + " " + document.body.innerText`))
			t.Fatalf("%v; the page: %.600s", err, page)
		}
	}
	text := func(sel string) string {
		t.Helper()
		return textOf(t, ctx, sel)
	}
	value := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS(sel)))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	shot := func(name string) {
		t.Helper()
		saveShot(t, ctx, name)
	}
	const description = "12月3日起家里宽带断网，报修两次（工单号 BX20261203-77）师傅都没上门。\n要求退还本月宽带费 & 给个说法！"
	typeComplaint := func() {
		t.Helper()
		do(
			chromedp.Navigate(r.base+"/"),
			chromedp.WaitVisible(chromedp.CSS(`#f-description`)),
			chromedp.SendKeys(chromedp.CSS(`#f-name`), "王小明"),
			chromedp.SendKeys(chromedp.CSS(`#f-phone`), "139 1234 5678"),
			chromedp.SendKeys(chromedp.CSS(`#f-subject`), "宽带断网<三天>"),
			chromedp.SendKeys(chromedp.CSS(`#f-description`), description),
			chromedp.Click(chromedp.CSS(`#f-consent`)),
		)
		// The counter counts characters as they are typed.
		if got := text(`p.count[data-for=description]`); got != "已输入 "+strconv.Itoa(len([]rune(description)))+" / 5000 字" {
			t.Errorf("description counter says %q", got)
		}
	}

	typeComplaint()
	shot("18b-form-counter")
	do(chromedp.SendKeys(chromedp.CSS(`#f-subject`), "，师傅说要等下周二才能来，客服电话10000打了五次都说已催单，这已经是第三次了，家里孩子上网课全耽误了，老人看病预约也没法在网上挂号，实在忍无可忍，请尽快派人上门维修并按合同赔偿断网期间的费用，否则我将向工信部申诉"))
	if got := text(`p.count[data-for=subject]`); !strings.HasPrefix(got, "已输入 ") || !strings.Contains(got, "，超出 ") {
		t.Errorf("subject counter over the limit says %q", got)
	}
	shot("18b-counter-over")
	do(chromedp.Click(chromedp.CSS(`button[type=submit]`)), chromedp.WaitVisible(chromedp.CSS(`#e-subject`)))
	if got := text(`#e-subject`); !strings.Contains(got, "最多 100 字") {
		t.Errorf("the server says %q under the long subject", got)
	}
	shot("18b-subject-too-long")
	do(chromedp.SetValue(chromedp.CSS(`#f-subject`), "宽带断网<三天>"))
	restart()
	do(chromedp.Click(chromedp.CSS(`button[type=submit]`)), chromedp.WaitVisible(chromedp.CSS(`#reference`)))

	typeComplaint()
	restart(func(c *Config) { c.Webform.CSRFSecret = secret.Inline("rotated-csrf-key-0123456789abcdef-0123456789") })
	do(chromedp.Click(chromedp.CSS(`button[type=submit]`)), chromedp.WaitVisible(chromedp.CSS(`.alert`)))
	shot("18b-form-after-restart")
	if alert := text(`.alert`); !strings.Contains(alert, "您填写的内容都已保留") {
		t.Errorf("the form came back saying %q", alert)
	}
	for sel, want := range map[string]string{`#f-name`: "王小明", `#f-phone`: "139 1234 5678", `#f-subject`: "宽带断网<三天>", `#f-description`: description} {
		if got := strings.TrimLeft(value(sel), "\n"); got != want {
			t.Errorf("%s = %q after the restart, want %q", sel, got, want)
		}
	}
	if ticked, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('#f-consent').checked`)); err != nil || !ticked {
		t.Errorf("the consent box came back unticked after the restart (%v)", err)
	}
	do(chromedp.Click(chromedp.CSS(`button[type=submit]`)), chromedp.WaitVisible(chromedp.CSS(`#reference`)))
	shot("18b-receipt")
	if ref := text(`#reference`); !strings.HasPrefix(ref, "TS") {
		t.Fatalf("reference %q", ref)
	}

	do(chromedp.Navigate(r.base+"/tousu/进度"), chromedp.WaitVisible(chromedp.CSS(`h1`)))
	shot("18b-404")
	if h := text(`h1`); h != "页面不存在" {
		t.Errorf("404 page heading %q", h)
	}
	do(chromedp.Navigate(r.base+"/complaints"), chromedp.WaitVisible(chromedp.CSS(`h1`)))
	shot("18b-complaints-get")
	if h := text(`h1`); h != "请从投诉页面提交" {
		t.Errorf("GET /complaints heading %q", h)
	}
}
