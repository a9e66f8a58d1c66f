package app

import (
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestDeadLettersInTheBrowser is issue 15's dead-letter test in headless
// Chromium against the real process: an ops account sees the two dead
// letters by source and reason with the customer's phone number masked,
// opens the one the normalizer gave up on, reveals it in full, replays it
// after the confirmation, and the complaint becomes exactly one case; the
// entry then shows as replayed and offers no second replay. The page is
// also shot at a phone's width.
func TestDeadLettersInTheBrowser(t *testing.T) {
	b, r := browseTousu(t, account{"qian.ops", "钱运维", "ops", ""})
	injectDeadLetters(t, r)

	b.signIn("qian.ops", "初始密码-qian.ops", "运维新密码-2026")
	b.navigate("/console/ops/dlq", "#entries")
	b.until("both dead letters are listed", `document.querySelectorAll('table.dlq tbody tr').length === 2`)
	if main := b.text("main"); !strings.Contains(main, "invalid envelope") || !strings.Contains(main, "handler panic") ||
		strings.Contains(main, "13912345678") {
		t.Errorf("the list lacks a reason or shows the phone number: %.1500s", main)
	}
	b.shot("dlq")

	b.click(`a[href="/console/ops/dlq?reason=handler+panic"]`)
	b.until("the list is filtered", `document.querySelectorAll('table.dlq tbody tr').length === 1`)
	b.click(`table.dlq tbody a`)
	b.until("the entry is shown", `!!document.querySelector('pre.payload')`)
	b.masksPhone("dead letter", "139****5678", "13912345678")
	b.shot("dlq-entry")
	b.click(`form.reveal button`)
	b.until("the payload is shown in full", `document.querySelector('pre.payload').innerText.includes("139 1234 5678")`)
	b.shot("dlq-entry-full")

	b.click(`form[action$="/ops/dlq/replay"] button`)
	b.until("the replay asks to confirm", `!!document.querySelector('input[name=confirm]')`)
	b.shot("dlq-confirm")
	b.click(`form[action$="/ops/dlq/replay"] button`)
	b.until("the replay is done", `document.querySelector('.flash') && document.querySelector('.flash').innerText.includes("已重放 1 条")`)
	b.shot("dlq-replayed")
	r.waitFor(t, url.Values{"q": {"师傅上门两次"}}, 1)

	b.click(`table.cases tbody a`)
	b.until("the entry shows the replay", `document.querySelector('main').innerText.includes("已重放：qian.ops")`)
	if b.exists(`form[action$="/ops/dlq/replay"]`) {
		t.Error("a replayed entry still offers a replay")
	}
	b.do("phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	b.navigate("/console/ops/dlq", "#entries")
	b.shot("dlq-phone")
}
