package app

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestOpsPageShowsLagInTheBrowser: in headless Chromium, an ops account
// watches the escalator's lag on the cases topic rise while the
// escalator's process is stopped (no consumer attached) and fall back to
// zero once it runs again, without reloading the page (it refreshes
// itself), the keyboard focus staying where it was; an agent gets 403 and no link to it. The escalator stands for
// any stage run as its own process (the indexer cannot be, beside the
// embedded Bleve index).
func TestOpsPageShowsLagInTheBrowser(t *testing.T) {
	b := newConsoleBrowser(t)
	dir := t.TempDir()
	var targets []Target
	for _, tg := range Targets {
		if tg != TargetEscalator {
			targets = append(targets, tg)
		}
	}
	r := runTargets(t, targets, func(c *Config) { c.DataDir, c.HTTP.Listen, c.Heartbeat.Every = dir, "127.0.0.1:0", time.Second })
	b.base = r.base
	escalatorDir := t.TempDir()
	escalatorOn := func(c *Config) {
		c.DataDir, c.HTTP.Listen, c.Bus.Brokers, c.Heartbeat.Every = escalatorDir, "127.0.0.1:0", []string{r.BrokerAddr()}, time.Second
	}
	escalator := runTargets(t, []Target{TargetEscalator}, escalatorOn)
	b.accounts(dir, []account{{"qian.ops", "钱运维", "ops", ""}, {"zhang.wei", "张伟", "agent", "投诉处理一部"}})

	b.signIn("qian.ops", "初始密码-qian.ops", "运维新密码-2026")
	b.navigate("/console/ops", `tr[data-group="tousu-escalator"]`)
	cell := func(attr string) string {
		return fmt.Sprintf(`Number((document.querySelector('tr[data-group="tousu-escalator"] [data-%s]')||{dataset:{}}).dataset.%s ?? -1)`, attr, attr)
	}
	b.until("the escalator is attached", cell("members")+" === 1")
	// A keyboard user on the escalator's partitions keeps the focus there
	// while the page swaps in new numbers.
	summary := `document.querySelector('details[data-key="tousu-escalator cases"] > summary')`
	if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](summary+`.focus() === undefined`)); err != nil {
		t.Fatalf("focus the escalator's partitions: %v", err)
	}

	escalator.stop()
	for i, text := range []string{"宽带12月3号起天天断网，报修两次没人上门", "话费多扣了30元，客服说查不到记录", "营业厅说办携号转网要交违约金，合同里没写"} {
		r.submit(t, text, "ops-lag-"+strconv.Itoa(i))
	}
	b.until("the escalator's lag rises with no consumer", cell("total")+" >= 3 && "+cell("members")+" === 0")
	if focused, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`document.activeElement === `+summary)); err != nil || !focused {
		t.Errorf("the keyboard focus left the escalator's partitions when the page refreshed itself (%v)", err)
	}
	if !b.exists(`tr[data-group="tousu-escalator"] .err`) {
		t.Error("a group with lag and no consumer is not marked")
	}
	// The oldest record waiting is the first case written after the stop.
	if oldest := b.text(`tr[data-group="tousu-escalator"] td:nth-of-type(6)`); !strings.HasSuffix(oldest, "秒前") {
		t.Errorf("the oldest unprocessed record's age reads %q", oldest)
	}
	b.shot("15c-lag-rising")

	runTargets(t, []Target{TargetEscalator}, escalatorOn)
	b.until("the escalator's lag falls back", cell("total")+" === 0 && "+cell("members")+" === 1")
	b.shot("15c-lag-fallen")
	procs := b.text(`[data-live="procs"]`)
	for _, want := range []string{"escalator", "已停止", "在线"} {
		if !strings.Contains(procs, want) {
			t.Errorf("the processes say %q, want %q among them", procs, want)
		}
	}
	b.signOut()

	b.signIn("zhang.wei", "初始密码-zhang.wei", "张伟新密码-2026")
	if b.exists(`nav a[href="/console/ops"]`) {
		t.Error("an agent is offered the ops page")
	}
	if code := b.navigate("/console/ops", "main"); code != http.StatusForbidden {
		t.Errorf("an agent opens the ops page: %d", code)
	}
}
