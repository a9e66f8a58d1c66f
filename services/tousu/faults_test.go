package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tousu/tousu/internal/polltest"
	"github.com/tousu/tousu/internal/servertest"
	"github.com/tousu/tousu/services/bus"
)

// The broker fault tests run tousu (every target, the Bleve index) on the
// three-node Kafka cluster of deploy/dev/services.sh with replication 3
// and min ISR 2, under a steady load of complaints to the JSON API, and
// break the cluster mid-load. They print what they measured and assert
// only what must hold whatever the timing: every receipt is exactly one
// case, and no case lacks a receipt beyond the submissions whose answer
// was lost.

// loadRate is how many complaints per second the load generator posts,
// for loadFor.
const (
	loadRate = 20
	loadFor  = 30 * time.Second
)

// TestBrokerKilledUnderLoad SIGKILLs the broker that leads most partitions
// of complaints.raw mid-load and restarts it a few seconds later.
func TestBrokerKilledUnderLoad(t *testing.T) {
	cluster := servertest.RequireCluster(t)
	p, cfg, tag := startOnCluster(t, cluster, "断点")
	l := startLoad(t, p, tag, loadFor)

	time.Sleep(6 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	leaders, err := bus.PartitionLeaders(ctx, cfg, bus.TopicRaw)
	if err != nil {
		t.Fatal(err)
	}
	node := busiest(leaders)
	l.mark("kill")
	cluster.Kill(t, node)
	t.Logf("%5.1fs node %d (leader of %d of %d partitions of %s) killed", l.since(), node, count(leaders, node), len(leaders), bus.TopicRaw)
	time.Sleep(5 * time.Second)
	l.mark("restart")
	cluster.Start(t, node)
	l.mark("up")
	t.Logf("%5.1fs node %d up again", l.since(), node)
	subs := l.wait()

	m := settle(t, p, p, tag, subs, l.marks["up"])
	t.Logf("broker %d killed for %.1fs (until its restart returned) under %d complaints/s: %s", node, l.marks["up"].Sub(l.marks["kill"]).Seconds(), loadRate, m)
	m.check(t)
}

// TestClusterDownUnderLoad stops the whole cluster (every node SIGKILLed)
// for about 20 seconds mid-load: the gateway answers from its spool, and
// after the restart every spooled complaint becomes exactly one case.
func TestClusterDownUnderLoad(t *testing.T) {
	cluster := servertest.RequireCluster(t)
	p, _, tag := startOnCluster(t, cluster, "停机")
	l := startLoad(t, p, tag, loadFor)

	time.Sleep(6 * time.Second)
	l.mark("kill")
	for n := 1; n <= 3; n++ {
		cluster.Kill(t, n)
	}
	t.Logf("%5.1fs every node killed", l.since())
	time.Sleep(15 * time.Second)
	l.mark("restart")
	cluster.StartAll(t)
	l.mark("up")
	t.Logf("%5.1fs the cluster is up again", l.since())
	subs := l.wait()

	down := 0
	for _, s := range subs {
		if s.code == http.StatusAccepted && s.sent.After(l.marks["kill"]) && s.sent.Before(l.marks["restart"]) {
			down++
		}
	}
	m := settle(t, p, p, tag, subs, l.marks["up"])
	t.Logf("cluster down for %.1fs (until its restart returned) under %d complaints/s: %d receipts while every broker was down; %s",
		l.marks["up"].Sub(l.marks["kill"]).Seconds(), loadRate, down, m)
	if down == 0 {
		t.Error("no receipt while the cluster was down: the gateway did not answer from its spool")
	}
	if m.spooled == 0 {
		t.Error("nothing was spooled while the cluster was down")
	}
	m.check(t)
}

// startOnCluster runs tousu on the cluster with a data directory of its
// own and returns it, its bus configuration and the run's tag, which every
// complaint of the run carries.
func startOnCluster(tb testing.TB, cluster *servertest.Cluster, what string) (*proc, bus.Config, string) {
	tb.Helper()
	root := tb.TempDir()
	cfg := bus.Config{Brokers: cluster.Brokers, Replication: 3, MinInsyncReplicas: 2}
	path := filepath.Join(root, "tousu.yaml")
	yaml := fmt.Sprintf("bus:\n  brokers: [%s]\n  replication: 3\n  min_insync_replicas: 2\n", strings.Join(cluster.Brokers, ", "))
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		tb.Fatal(err)
	}
	env := []string{"TOUSU_BOOTSTRAP_TOKEN=" + testToken, "TOUSU_SECRET=" + testSecret}
	p := startProc(tb, env, "-config", path, "-data", filepath.Join(root, "data"))
	tag := what + strconv.FormatInt(time.Now().UnixNano(), 36)
	// The first complaint waits for the pipeline's consumer groups to
	// join, so that the fault meets a running pipeline.
	// From a customer of the run's own: router.state on the cluster
	// remembers earlier runs' customers, whose open cases would take it in.
	p.submitFrom(tb, runPhones()(9999), tag+" 试运行：12月1日起手机信号时有时无")
	p.waitFor(tb, tag, 1)
	return p, cfg, tag
}

// submission is one complaint the load generator posted.
type submission struct {
	sent time.Time
	took time.Duration
	code int // 0 when the request got no answer
	ref  string
	err  string
}

func (s submission) ok() bool { return s.code == http.StatusAccepted && s.ref != "" }

// loadGen posts complaints at loadRate per second for a while.
type loadGen struct {
	start time.Time
	ticks sync.WaitGroup
	inner sync.WaitGroup

	mu    sync.Mutex
	subs  []submission
	marks map[string]time.Time
}

// complaintTexts are what customers write, with the run's tag and the
// complaint's number: terse, with dates, typos and full-width signs.
var complaintTexts = []string{
	"%s 12月3号交的100元话费到现在没到账，客服说48小时内处理，已经三天了（第%d单）",
	"%s 宽带从11月28日起每晚8点后就断网，报修两次师傅都没上门！！编号%d",
	"%s 营业厅办套餐时说免月租，结果每月扣了39元，要求退费 %d",
	"%s 电梯坏了一周没人修，老人上下楼很困难，物业电话打不通。%d号楼",
	"%s 收到的冰箱侧面有凹痕，商家不给换货，订单号2024112%04d",
	"%s 酒店预定的大床房到店说没房了，押金500元至今未退 房号%d",
	"%s 4S店保养多收了工时费,发票和结算单对不上 单号%d",
	"%s 手机信号差 打电话老掉线 投诉过没人管 第%d次",
}

// startLoad starts posting complaints to p for d, each from a customer of
// its own.
func startLoad(tb testing.TB, p *proc, tag string, d time.Duration) *loadGen {
	return startLoadOf(tb, p, tag, d, complaintTexts)
}

// startLoadOf is startLoad with the texts to post, each a format taking
// the run's tag and the complaint's number.
func startLoadOf(tb testing.TB, p *proc, tag string, d time.Duration, texts []string) *loadGen {
	l := &loadGen{start: time.Now(), marks: map[string]time.Time{}}
	phone := runPhones()
	client := &http.Client{Timeout: 30 * time.Second}
	l.ticks.Add(1)
	go func() {
		defer l.ticks.Done()
		tick := time.NewTicker(time.Second / loadRate)
		defer tick.Stop()
		for i := 0; time.Since(l.start) < d; i++ {
			<-tick.C
			text := fmt.Sprintf(texts[i%len(texts)], tag, i)
			l.inner.Add(1)
			go func() {
				defer l.inner.Done()
				s := post(client, p, phone(i), text)
				l.mu.Lock()
				l.subs = append(l.subs, s)
				l.mu.Unlock()
			}()
		}
	}()
	return l
}

// post submits one complaint to p's JSON API.
func post(client *http.Client, p *proc, phone, text string) submission {
	s := submission{sent: time.Now()}
	body, _ := json.Marshal(map[string]string{"phone": phone, "description": text})
	req, _ := http.NewRequest(http.MethodPost, p.http+"/api/v1/complaints", strings.NewReader(string(body)))
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	s.took = time.Since(s.sent)
	if err != nil {
		s.err = err.Error()
		return s
	}
	defer resp.Body.Close()
	s.code = resp.StatusCode
	var out struct{ Reference string }
	b, _ := io.ReadAll(resp.Body)
	if json.Unmarshal(b, &out) == nil {
		s.ref = out.Reference
	}
	if !s.ok() {
		s.err = string(b)
	}
	return s
}

// mark records when a step of the fault happened.
func (l *loadGen) mark(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.marks[name] = time.Now()
}

// since is the time since the load began, in seconds.
func (l *loadGen) since() float64 { return time.Since(l.start).Seconds() }

// wait waits for the end of the load and the requests in flight and
// returns every submission in the order they were sent.
func (l *loadGen) wait() []submission {
	l.ticks.Wait()
	l.inner.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	slices.SortFunc(l.subs, func(a, b submission) int { return a.sent.Compare(b.sent) })
	return l.subs
}

// measured is what a fault test saw.
type measured struct {
	accepted, failed     int
	longestFailed        int
	longestFailedFor     time.Duration
	slowest              time.Duration
	cases, duplicates    int
	lost, withoutReceipt int
	spooled, relayed     float64
	recovered            time.Duration
	errors               []string
}

func (m measured) String() string {
	return fmt.Sprintf("accepted %d, failed submissions %d (longest stretch %d over %.1fs), slowest receipt %.1fs; cases %d, duplicates %d, lost %d, cases without a receipt %d; spooled %.0f, relayed %.0f; recovered (spool empty, every receipt a case, no lag) %.1fs after the restart",
		m.accepted, m.failed, m.longestFailed, m.longestFailedFor.Seconds(), m.slowest.Seconds(), m.cases, m.duplicates, m.lost, m.withoutReceipt, m.spooled, m.relayed, m.recovered.Seconds())
}

// check fails the test for a lost or duplicated receipt, or for more
// cases without a receipt than submissions whose answer was lost.
func (m measured) check(tb testing.TB) {
	tb.Helper()
	if m.accepted == 0 {
		tb.Error("no complaint was accepted")
	}
	if m.lost > 0 || m.duplicates > 0 {
		tb.Errorf("%d receipts without a case and %d with more than one, want none", m.lost, m.duplicates)
	}
	if m.withoutReceipt > m.failed {
		tb.Errorf("%d cases without a receipt, more than the %d failed submissions", m.withoutReceipt, m.failed)
	}
	for i, e := range m.errors {
		if i == 5 {
			tb.Logf("… %d more failed submissions", len(m.errors)-5)
			break
		}
		tb.Logf("failed submission: %s", e)
	}
}

// settle waits until the pipeline has taken in every receipt of subs
// (gateway's spool is empty, no consumer group lags and every reference
// is a case p finds), then measures; tag is the search (q) that finds
// the run's cases.
func settle(tb testing.TB, p, gateway *proc, tag string, subs []submission, up time.Time) measured {
	tb.Helper()
	var m measured
	run := 0
	var runStart time.Time
	for _, s := range subs {
		m.slowest = max(m.slowest, s.took)
		if s.ok() {
			m.accepted++
			run = 0
			continue
		}
		m.failed++
		m.errors = append(m.errors, fmt.Sprintf("%s after %.1fs: %d %s", s.sent.Format("15:04:05.000"), s.took.Seconds(), s.code, s.err))
		if run == 0 {
			runStart = s.sent
		}
		run++
		if run > m.longestFailed {
			m.longestFailed, m.longestFailedFor = run, s.sent.Sub(runStart)+s.took
		}
	}
	// The run's first complaint, submitted before the load, is a case too.
	want := m.accepted + 1
	var total int
	if !polltest.Within(3*pipelineBound, func() bool {
		total = search(tb, p, url.Values{"q": {tag}, "limit": {"1"}}).Total
		return total >= want && spoolDepth(tb, gateway) == 0 && lagTotal(tb, p) == 0
	}) {
		tb.Fatalf("the pipeline did not take the load in: %d cases of %d receipts, spool depth %d, lag %d", total, want, spoolDepth(tb, gateway), lagTotal(tb, p))
	}
	m.recovered = time.Since(up)

	perRef := map[string]int{}
	var all []string
	for offset := 0; ; offset += 200 {
		res := search(tb, p, url.Values{"q": {tag}, "limit": {"200"}, "offset": {strconv.Itoa(offset)}})
		for _, h := range res.Hits {
			all = append(all, h.ID)
			for _, r := range slices.Compact(slices.Sorted(slices.Values(append([]string{h.ID}, h.References...)))) {
				perRef[r]++
			}
		}
		if len(res.Hits) < 200 {
			break
		}
	}
	m.cases = len(all) - 1
	var refs []string
	for _, s := range subs {
		if s.ok() {
			refs = append(refs, s.ref)
		}
	}
	// Each receipt by the reference filter too, as an agent finds it.
	totals := referenceTotals(tb, p, refs)
	for _, s := range subs {
		if !s.ok() {
			continue
		}
		n := totals[s.ref]
		switch {
		case n == 0:
			m.lost++
		case n > 1 || perRef[s.ref] > 1:
			m.duplicates++
		}
		delete(perRef, s.ref)
	}
	m.withoutReceipt = max(0, len(perRef)-1)
	m.spooled = metricValue(tb, gateway, "tousu_spool_spooled_total")
	m.relayed = metricValue(tb, gateway, "tousu_spool_relayed_total")
	return m
}

// referenceTotals asks p's case search for each of refs by the reference
// filter, eight at a time, and returns how many cases each has.
func referenceTotals(tb testing.TB, p *proc, refs []string) map[string]int {
	tb.Helper()
	totals := make([]int, len(refs))
	errs := make([]error, len(refs))
	next := make(chan int)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				totals[i], errs[i] = searchTotal(p, url.Values{"reference": {refs[i]}, "limit": {"5"}})
			}
		}()
	}
	for i := range refs {
		next <- i
	}
	close(next)
	wg.Wait()
	out := make(map[string]int, len(refs))
	for i, ref := range refs {
		if errs[i] != nil {
			tb.Fatalf("search reference %s: %v", ref, errs[i])
		}
		out[ref] = totals[i]
	}
	return out
}

// searchTotal is the number of cases p's case search finds for q,
// without failing a test, for any goroutine.
func searchTotal(p *proc, q url.Values) (int, error) {
	resp, err := p.get(http.DefaultClient, "/api/v1/cases?"+q.Encode())
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var res searchResult
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil || resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%d: %v", resp.StatusCode, err)
	}
	return res.Total, nil
}

// get asks p for path with the test's admin token, without failing a
// test, for any goroutine.
func (p *proc) get(client *http.Client, path string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodGet, p.http+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	return client.Do(req)
}

// search asks p's case search.
func search(tb testing.TB, p *proc, q url.Values) searchResult {
	tb.Helper()
	var res searchResult
	if code := p.request(tb, http.MethodGet, "/api/v1/cases?"+q.Encode(), "", &res); code != http.StatusOK {
		tb.Fatalf("search %s: %d", q.Encode(), code)
	}
	return res
}

// spoolDepth is the depth of p's spool on /readyz.
func spoolDepth(tb testing.TB, p *proc) int {
	tb.Helper()
	var ready struct {
		Details struct{ Spool struct{ Depth int } }
	}
	p.request(tb, http.MethodGet, "/readyz", "", &ready)
	return ready.Details.Spool.Depth
}

// lagTotal is the lag of every consumer group on /api/v1/ops/lag.
func lagTotal(tb testing.TB, p *proc) int64 {
	tb.Helper()
	var lag struct{ Groups []struct{ Total int64 } }
	if code := p.request(tb, http.MethodGet, "/api/v1/ops/lag", "", &lag); code != http.StatusOK {
		return -1
	}
	var total int64
	for _, g := range lag.Groups {
		total += g.Total
	}
	return total
}

// busiest returns the node that leads most partitions, the lowest id of
// a tie.
func busiest(leaders map[int]int) int {
	best := 0
	for _, node := range leaders {
		if c, b := count(leaders, node), count(leaders, best); c > b || c == b && node < best {
			best = node
		}
	}
	return best
}

func count(leaders map[int]int, node int) int {
	n := 0
	for _, l := range leaders {
		if l == node {
			n++
		}
	}
	return n
}
