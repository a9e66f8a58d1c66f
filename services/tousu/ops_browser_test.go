package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tousu/tousu/internal/browsertest"
	"github.com/tousu/tousu/internal/polltest"
	"github.com/tousu/tousu/internal/servertest"
)

// stop ends the process as an orchestrator does (SIGTERM) and waits for
// it: it leaves its consumer groups on the way out.
func (p *proc) stop(tb testing.TB) {
	tb.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		tb.Fatal(err)
	}
	p.cmd.Wait()
}

// opsBrowser is the Chromium tab of an ops person on the console at base.
type opsBrowser struct {
	tb    testing.TB
	ctx   context.Context
	base  string
	shots string
}

// until waits for the JavaScript condition cond to hold on the page, the
// page refreshing itself in between, within pipelineBound.
func (b *opsBrowser) until(what, cond string) {
	b.tb.Helper()
	if !polltest.Within(pipelineBound, func() bool {
		ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`document.readyState === "complete" && (`+cond+`)`))
		return err == nil && ok
	}) {
		loc, _ := chromedp.Run(b.ctx, chromedp.Location())
		text, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`(document.querySelector("main")||{innerText:""}).innerText`))
		b.tb.Fatalf("%s: not within %v at %s; the page says %.800s", what, pipelineBound, loc, text)
	}
}

// do runs steps, failing the test on an error.
func (b *opsBrowser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.tb.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.tb.Fatalf("%s: %v", what, err)
	}
}

// shot saves a screenshot of the whole page as name.png in the shots
// directory (TOUSU_SHOTS_DIR, else the test's temporary directory).
func (b *opsBrowser) shot(name string) {
	b.tb.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.tb.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(b.shots, name+".png"), png, 0o644); err != nil {
		b.tb.Fatal(err)
	}
}

// lagCell is JavaScript for the number in the data-attr attribute of
// group's row on topic on the operations page; -1 before the row is
// shown.
func lagCell(group, topic, attr string) string {
	return fmt.Sprintf(`Number((document.querySelector('tr[data-group=%q][data-topic=%q] [data-%s]')||{dataset:{}}).dataset.%s ?? -1)`,
		group, topic, attr, attr)
}

// TestOpsPageShowsIndexerLagOnRealServers runs the pipeline as separate
// processes on real Apache Kafka and Elasticsearch, the indexer a process
// of its own. In headless Chromium an ops person watches the operations
// page: the indexer's group attached with nothing waiting; the indexer
// stopped, complaints arriving, and its lag on the cases topic rising
// with no consumer attached; the indexer started again, and the lag
// falling back to 0 while the page refreshes itself, the stopped process
// shown stopped (已停止) and the new one online. Every complaint is then in
// the index.
func TestOpsPageShowsIndexerLagOnRealServers(t *testing.T) {
	kafka, es := servertest.Require(t, servertest.Kafka), servertest.Require(t, servertest.ES)
	ctx := browsertest.Start(t, 1100, 900, 10*time.Minute)
	root := t.TempDir()
	// Sign-ins all come from 127.0.0.1 and earlier runs' failures stay on
	// the shared ledger: the address's lock is set out of reach.
	cfgPath := realConfig(t, root, kafka, es, "session:\n  max_client_failures: 100000\nheartbeat:\n  every: 1s\n")
	env := []string{"TOUSU_BOOTSTRAP_TOKEN=" + testToken, "TOUSU_SECRET=" + testSecret}
	serve := func(target string) *proc {
		return startProc(t, env, "-config", cfgPath, "-target", target, "-data", filepath.Join(root, target))
	}
	gateway := serve("gateway")
	serve("normalizer")
	serve("router")
	indexer := serve("indexer")
	console := serve("console")

	// The ops account is this run's own: accounts stay on the broker.
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	name, first, second := "ops"+run, "初始密码Yunwei-2026", "值班密码Zhiban-2026"
	body := fmt.Sprintf(`{"name":%q,"display_name":"夜班运维","role":"ops","password":%q}`, name, first)
	if code := console.request(t, http.MethodPost, "/api/v1/admin/users", body, nil); code != http.StatusCreated {
		t.Fatalf("create the ops account: %d", code)
	}

	b := &opsBrowser{tb: t, ctx: ctx, base: console.http, shots: os.Getenv("TOUSU_SHOTS_DIR")}
	if b.shots == "" {
		b.shots = t.TempDir()
	} else if err := os.MkdirAll(b.shots, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", b.shots)
	b.do("open the sign-in page", chromedp.Navigate(b.base+"/console/signin"))
	b.until("the sign-in page", `!!document.querySelector("#password")`)
	b.do("sign in", chromedp.SendKeys(chromedp.CSS("#name"), name), chromedp.SendKeys(chromedp.CSS("#password"), first),
		chromedp.Click(chromedp.CSS("form button[type=submit]"), chromedp.NodeVisible))
	b.until("asked for a new password", `location.pathname === "/console/password" && !!document.querySelector("#again")`)
	b.do("change the password", chromedp.SendKeys(chromedp.CSS("#old"), first), chromedp.SendKeys(chromedp.CSS("#new"), second),
		chromedp.SendKeys(chromedp.CSS("#again"), second), chromedp.Click(chromedp.CSS(`form[action$="/password"] button[type=submit]`), chromedp.NodeVisible))
	b.until("signed in", `location.pathname === "/console/"`)

	b.do("open the operations page", chromedp.Navigate(b.base+"/console/ops"))
	members, total := lagCell("tousu-indexer", "cases", "members"), lagCell("tousu-indexer", "cases", "total")
	// Earlier runs' cases on the shared broker are indexed first.
	b.until("the indexer attached and caught up", members+" === 1 && "+total+" === 0")
	b.until("the indexer's process is on the page", `document.querySelector('[data-live="procs"]').innerText.includes("indexer")`)
	b.shot("15r-dist-ops-indexer-attached")

	indexer.stop(t)
	phone := runPhones()
	complaints := []string{
		"宽带12月3号起天天晚上断网，报修两次没人上门，工单号 GD20261203-0087",
		"手机欠费停机但我明明11/30交了100元话费，营业厅说系统没到账",
		"携号转网被拒，客服说有合约，可我合约2026年6月就到期了！！",
		"上个月流量费多扣了 ３８.５ 元，要求退还",
		"装机师傅约了周六上午，等到下午三点也没来，电话也不接",
	}
	var refs []string
	for i, text := range complaints {
		refs = append(refs, gateway.submitFrom(t, phone(i), "运维积压"+run+" "+text))
	}
	b.until("the indexer's lag rises with no consumer attached", members+" === 0 && "+total+" >= "+strconv.Itoa(len(complaints)))
	if ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`!!document.querySelector('tr[data-group="tousu-indexer"][data-topic="cases"] td.err[data-members]')`)); err != nil || !ok {
		t.Errorf("the indexer's group, lagging with no consumer, is not marked (%v)", err)
	}
	b.shot("15r-dist-ops-lag-rising")

	restarted := serve("indexer")
	b.until("the indexer's lag falls back to 0", members+" === 1 && "+total+" === 0")
	// Earlier runs' processes may still be listed (stopped): the test's own
	// are known by their process ids.
	b.until("the stopped indexer is shown stopped and the new one online", fmt.Sprintf(`(() => {
		const row = pid => [...document.querySelectorAll('[data-live="procs"] tbody tr')].find(r => (r.querySelector("th .muted")||{}).innerText === "进程 " + pid);
		const was = row(%d), is = row(%d);
		return !!was && !!is && was.innerText.includes("已停止") && is.innerText.includes("在线");
	})()`, indexer.cmd.Process.Pid, restarted.cmd.Process.Pid))
	b.shot("15r-dist-ops-lag-fallen")
	res := console.waitFor(t, "运维积压"+run, len(complaints))
	checkEachOnce(t, res, refs)
}
