package main

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/tousu/tousu/ingest/webhook"
	"github.com/tousu/tousu/internal/mailtest"
	"github.com/tousu/tousu/internal/polltest"
	"github.com/tousu/tousu/internal/servertest"
	"github.com/tousu/tousu/services/bus"
)

// realServers returns the Kafka brokers, Elasticsearch URL and IMAP
// mailbox URL of TOUSU_TEST_KAFKA, TOUSU_TEST_ES and TOUSU_TEST_IMAP,
// skipping without them (failing with TOUSU_REQUIRE_SERVERS=1).
func realServers(t *testing.T) (kafka, es, mailbox string) {
	return servertest.Require(t, servertest.Kafka), servertest.Require(t, servertest.ES), servertest.Require(t, servertest.IMAP)
}

// TestDistributedOnRealServers runs gateway, poller, normalizer, two
// routers, indexer, console, escalator, batcher and alerts as separate processes on real Apache Kafka and
// Elasticsearch: web form, webhook and API complaints become searchable;
// agents' actions reach the case's router; the escalator raises a 重大
// alert; a batch forms across two routers; one router dies and the other
// takes its customers' cases over; an e-mail reply from another address
// joins its case; the indexer is killed mid-stream and restarted, and
// every case is in the index once.
func TestDistributedOnRealServers(t *testing.T) {
	kafka, es, mailbox := realServers(t)
	root := t.TempDir()
	cfgPath := realConfig(t, root, kafka, es, "")
	secret := "partner-secret-0123456789"
	env := []string{"TOUSU_BOOTSTRAP_TOKEN=" + testToken, "TOUSU_WEBHOOK_SECRET_PARTNER=" + secret,
		"TOUSU_SECRET=" + testSecret}
	serve := func(target string) *proc {
		return startProc(t, env, "-config", cfgPath, "-target", target, "-data", filepath.Join(root, target))
	}
	mail := mailtest.New(t, mailbox)
	gateway := serve("gateway")
	startProc(t, append(env, "TOUSU_IMAP_SUPPORT="+mail.URL), "-config", cfgPath, "-target", "poller", "-data", filepath.Join(root, "poller"))
	serve("normalizer")
	// Two routers share the customers' partitions; the case actions of a
	// customer reach the router that owns their complaints.
	routers := []*proc{
		startProc(t, env, "-config", cfgPath, "-target", "router", "-data", filepath.Join(root, "router-1")),
		startProc(t, env, "-config", cfgPath, "-target", "router", "-data", filepath.Join(root, "router-2")),
	}
	indexer := serve("indexer")
	console := serve("console")
	serve("escalator")
	serve("batcher")
	serve("alerts")
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	// The customers are this run's own: router.state and
	// policy.corrections on the shared broker keep earlier runs' customers,
	// whose cases would take this run's complaints as duplicates.
	phone := runPhones()

	// The web form, as a browser posts it.
	formRef := submitForm(t, gateway.http, phone(1), "分布式表单"+run+" 宽带断网两天")
	// A signed webhook.
	body := fmt.Sprintf(`{"phone":"%s","description":"分布式回调%s 话费多扣了","source_id":"p-%s"}`, phone(2), run, run)
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req, _ := http.NewRequest(http.MethodPost, gateway.http+"/webhooks/partner", strings.NewReader(body))
	req.Header.Set("X-Tousu-Timestamp", ts)
	req.Header.Set("X-Tousu-Signature", webhook.Sign([]byte(secret), ts, []byte(body)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("webhook: %d", resp.StatusCode)
	}
	start := time.Now()
	step := func(what string) { t.Logf("%6.1fs %s", time.Since(start).Seconds(), what) }
	if res := console.waitFor(t, "分布式表单"+run, 1); res.Hits[0].ID != formRef {
		t.Errorf("form case %+v, want %s", res.Hits[0], formRef)
	}
	hooked := console.waitFor(t, "分布式回调"+run, 1).Hits[0].ID
	step("form and webhook cases searchable")

	// Agents work the webhook's case through the console: take, resolve.
	for _, kind := range []string{"take", "resolve"} {
		if code := console.request(t, http.MethodPost, "/api/v1/cases/"+hooked+"/actions", `{"kind":"`+kind+`","note":"分布式处理"}`, nil); code != http.StatusAccepted {
			t.Fatalf("%s: %d", kind, code)
		}
		want := map[string]string{"take": "in_progress", "resolve": "resolved"}[kind]
		console.waitCase(t, hooked, func(c caseView) bool { return c.Status == want })
	}
	if c := console.waitCase(t, hooked, func(c caseView) bool { return true }); c.Route.Owner != "bootstrap" {
		t.Errorf("owner %q, want the first taker", c.Route.Owner)
	}

	step("taken and resolved through the console")
	// A 重大 complaint alerts at once: the escalator has a router raise it.
	major := submitForm(t, gateway.http, phone(1), "分布式重大"+run+" 我要找记者曝光，信号差了一周")
	console.waitCase(t, major, func(c caseView) bool {
		for _, a := range c.Escalation.Alerts {
			if a.Step == "grade 重大" && !a.RaisedAt.IsZero() {
				return c.Escalation.Level >= 2
			}
		}
		return false
	})

	step("重大 alert raised")
	// Six customers with the same complaint form one batch incident
	// (批量投诉), although two routers own their customers: the batcher
	// process joins them, and each case's router flags
	// it.
	// The customers cover every partition, so each router owns some.
	var batch string
	var outage []string
	for _, p := range phonesOnEveryPartition(bus.DefaultPartitions, 6, phone) {
		outage = append(outage, gateway.submitFrom(t, p, "分布式停水"+run+" 小区从昨天早上开始停水，物业没有任何通知，老人孩子没水用"))
	}
	for _, ref := range outage {
		c := console.waitCase(t, ref, func(c caseView) bool { return c.Batch != "" })
		if batch == "" {
			batch = c.Batch
		}
		if c.Batch != batch {
			t.Errorf("case %s in batch %q, want %q", ref, c.Batch, batch)
		}
	}
	for i, r := range routers {
		if n := metricValue(t, r, `tousu_router_actions_total{kind="flag_batch",outcome="applied"}`); n < 1 {
			t.Errorf("router %d applied %v batch flags, want some: the batch did not span the routers", i+1, n)
		}
	}

	step("batch formed across the routers")
	// A router dies: the other takes its partitions over with their
	// customers' cases from router.state, and agents go on working them.
	routers[0].kill(t)
	for _, ref := range outage {
		if code := console.request(t, http.MethodPost, "/api/v1/cases/"+ref+"/actions", `{"kind":"take"}`, nil); code != http.StatusAccepted {
			t.Fatalf("take %s: %d", ref, code)
		}
	}
	for _, ref := range outage {
		if c := console.waitCase(t, ref, func(c caseView) bool { return c.Status == "in_progress" }); c.Batch != batch {
			t.Errorf("case %s after the takeover: batch %q, want %q", ref, c.Batch, batch)
		}
	}

	step("the surviving router took the cases over")
	// E-mail: a colleague's reply to a customer's mail joins the
	// customer's case, although another router may own the colleague: the
	// normalizer (its own process) finds the case in Elasticsearch by the
	// Message-ID the reply's In-Reply-To names.
	mail.Deliver(t, "From: zhangsan-"+run+"@example.com\r\nTo: support@example.com\r\nSubject: broadband\r\n"+
		"Message-ID: <dist-"+run+"@example.com>\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n分布式邮件"+run+" 宽带断网三天了\r\n")
	mailed := console.waitFor(t, "分布式邮件"+run, 1).Hits[0].ID
	mail.Deliver(t, "From: lisi-"+run+"@example.org\r\nTo: support@example.com\r\nSubject: Re: broadband\r\n"+
		"In-Reply-To: <dist-"+run+"@example.com>\r\nMessage-ID: <dist-reply-"+run+"@example.org>\r\n"+
		"Content-Type: text/plain; charset=UTF-8\r\n\r\n我们整栋楼都断网了\r\n")
	console.waitCase(t, mailed, func(c caseView) bool {
		return len(c.Contacts) == 1 && c.Contacts[0].From.Email == "lisi-"+run+"@example.org"
	})

	step("e-mail reply joined its case")
	// Many complaints; the indexer dies while they flow and comes back.
	const n = 150
	refs := submitMany(t, gateway, n, func(i int) string { return phone(1000 + i) }, func(i int) string { return fmt.Sprintf("分布式批量%s 第%d条 信号差", run, i) },
		func() { indexer.kill(t) })
	serve("indexer")
	checkEachOnce(t, console.waitFor(t, "分布式批量"+run, n), refs)
	var lag struct {
		Groups []struct {
			Group string
			Total int64
		}
	}
	if code := console.request(t, http.MethodGet, "/api/v1/ops/lag", "", &lag); code != http.StatusOK || len(lag.Groups) != 8 {
		t.Errorf("/api/v1/ops/lag: %d %+v", code, lag)
	}
}

// runPhones returns mobile numbers of a test run's own: phone(i) is 13,
// five digits random to the run and i in four.
func runPhones() func(i int) string {
	run := rand.IntN(100000)
	return func(i int) string { return fmt.Sprintf("13%05d%04d", run, i) }
}

// phonesOnEveryPartition returns at least n of the numbers phone gives
// whose customer keys (phone:+86…) fall on every one of partitions
// partitions, as the producer's murmur2 partitioner places them.
func phonesOnEveryPartition(partitions, n int, phone func(i int) string) []string {
	all := make([]int, partitions)
	for i := range all {
		all[i] = i
	}
	covered := map[int]bool{}
	var out []string
	for i := 0; len(covered) < partitions || len(out) < n; i++ {
		number := phone(5000 + i)
		p := (&kafka.Murmur2Balancer{}).Balance(kafka.Message{Key: []byte("phone:+86" + number)}, all...)
		if !covered[p] || len(covered) == partitions {
			covered[p] = true
			out = append(out, number)
		}
	}
	return out
}

// metricValue reads a sample of a process's /metrics (which needs an
// admin or supervisor token); 0 when absent.
func metricValue(tb testing.TB, p *proc, sample string) float64 {
	tb.Helper()
	v, err := scrape(http.DefaultClient, p, sample)
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

// scrape is metricValue for any goroutine: it returns its failure instead
// of failing the test.
func scrape(client *http.Client, p *proc, sample string) (float64, error) {
	resp, err := p.get(client, "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, sample+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f, nil
		}
	}
	return 0, nil
}

var formToken = regexp.MustCompile(`name="(_csrf|nonce|consent)" value="([^"]*)"`)
var formReference = regexp.MustCompile(`id="reference">(TS[0-9A-Z]+)<`)

// submitForm fills in the web form at base as a browser would and returns
// the reference on the receipt.
func submitForm(tb testing.TB, base, phone, description string) string {
	tb.Helper()
	client, form := openForm(tb, base)
	return postForm(tb, client, base, form, phone, description)
}

// openForm loads the web form at base as a browser would and returns the
// browser and the form's hidden fields.
func openForm(tb testing.TB, base string) (*http.Client, url.Values) {
	tb.Helper()
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar}
	resp, err := client.Get(base + "/")
	if err != nil {
		tb.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	form := url.Values{}
	for _, m := range formToken.FindAllStringSubmatch(string(page), -1) {
		form.Set(m[1], m[2])
	}
	return client, form
}

// postForm fills in a form openForm loaded, posts it to base and returns
// the reference on the receipt.
func postForm(tb testing.TB, client *http.Client, base string, form url.Values, phone, description string) string {
	tb.Helper()
	form.Set("name", "张三")
	form.Set("phone", phone)
	form.Set("subject", "投诉")
	form.Set("description", description)
	resp, err := client.PostForm(base+"/complaints", form)
	if err != nil {
		tb.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := formReference.FindStringSubmatch(string(page))
	if m == nil {
		tb.Fatalf("form submit: %d %s", resp.StatusCode, page)
	}
	return m[1]
}

// realConfig writes dir/tousu.yaml for processes on the real Kafka and
// Elasticsearch, in an index of the test's own (removed when it ends),
// with the YAML of extra added, and returns its path.
func realConfig(tb testing.TB, dir, kafka, es, extra string) string {
	tb.Helper()
	return realConfigBus(tb, dir, "brokers: ["+kafka+"]", es, extra)
}

// realConfigBus is realConfig with the bus section's YAML (its keys, one
// a line, unindented).
func realConfigBus(tb testing.TB, dir, bus, es, extra string) string {
	tb.Helper()
	path := filepath.Join(dir, "tousu.yaml")
	prefix := fmt.Sprintf("tousu-it-%d", time.Now().UnixNano())
	tb.Cleanup(func() { dropIndex(tb, es, prefix) })
	cfg := fmt.Sprintf("bus:\n  %s\nindex:\n  backend: elasticsearch\n  elasticsearch:\n    urls: [%s]\n    index_prefix: %s\n    number_of_replicas: 0\n",
		strings.ReplaceAll(strings.TrimSpace(bus), "\n", "\n  "), es, prefix)
	if err := os.WriteFile(path, []byte(cfg+extra), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

// dropIndex removes what the test's indexer created on the node: the
// versioned index (and with it the alias) and its template.
func dropIndex(tb testing.TB, es, prefix string) {
	for _, path := range []string{"/" + prefix + "-v*", "/_index_template/" + prefix + "-v*"} {
		req, _ := http.NewRequest(http.MethodDelete, es+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			tb.Logf("clean up %s: %v", path, err)
			continue
		}
		resp.Body.Close()
	}
}

// caseView is what the distributed test reads of a case.
type caseView struct {
	ID       string
	Status   string
	Batch    string
	Route    struct{ Owner string }
	Contacts []struct {
		Kind string
		From struct{ Email string }
	}
	Escalation struct {
		Level  int
		Alerts []struct {
			Step     string
			RaisedAt time.Time `json:"raised_at"`
		}
	}
}

// waitCase polls GET /api/v1/cases/{id} until ok holds, within
// pipelineBound.
func (p *proc) waitCase(tb testing.TB, id string, ok func(caseView) bool) caseView {
	tb.Helper()
	var c caseView
	if !polltest.Within(pipelineBound, func() bool {
		c = caseView{}
		return p.request(tb, http.MethodGet, "/api/v1/cases/"+id, "", &c) == http.StatusOK && ok(c)
	}) {
		tb.Fatalf("case %s never got there: %+v", id, c)
	}
	return c
}
