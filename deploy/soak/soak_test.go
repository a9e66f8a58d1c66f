package soak

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tousu/tousu/internal/polltest"
	"github.com/tousu/tousu/internal/proctest"
	"github.com/tousu/tousu/internal/servertest"
)

// The soak: the real binary, every target, at a steady rate for
// TOUSU_SOAK_DURATION (deploy/dev/test.sh sets 10m; default 1m), on a
// Kafka node of its own (TOUSU_TEST_SOAK_KAFKA: tousu's topics and
// consumer groups have fixed names, so a tousu of another package's test
// on the same node would take a share of its partitions) and the
// harness's Elasticsearch, or, when neither is named and servers are not
// required, in embedded mode. It never skips.

const (
	// envDuration is the variable naming the soak's duration.
	envDuration = "TOUSU_SOAK_DURATION"
	// defaultDuration is the soak of a developer's go test.
	defaultDuration = time.Minute
	// rate is how many complaints per second the API receives.
	rate = 12
	// hotlineEvery is how often a hotline export is dropped, with
	// hotlineRows rows; every third export repeats a row of the one
	// before (a re-export), which must not become a second case.
	hotlineEvery = 10 * time.Second
	hotlineRows  = 8
	// duplicateEvery: every so many submissions, the customer of the one
	// before sends the same text again (a double click, a resend).
	duplicateEvery = 10
	// pipelineBound bounds the wait for the pipeline to take the load
	// in; a liveness bound, not a speed assertion.
	pipelineBound = 3 * time.Minute
	// warmUp is how many complaints, from customers numbered from
	// warmUpFrom on, go through the pipeline before the idle level of
	// goroutines is read: with 6 partitions a topic, 60 keys miss one
	// with a chance of about 1 in 10,000.
	warmUp, warmUpFrom = 60, 900000
	token              = "soak-admin-token-0123456789"
)

// soakKafka is the soak's own Kafka node.
var soakKafka = servertest.Server{Env: "TOUSU_TEST_SOAK_KAFKA",
	Hint: `a Kafka node no other test uses: TOUSU_DEV_RUN=/tmp/tousu-dev-soak TOUSU_DEV_KAFKA_PORT=19102 TOUSU_DEV_KAFKA_CONTROLLER_PORT=19103 TOUSU_DEV_KAFKA_SASL_PORT=19101 deploy/dev/services.sh start kafka`}

// TestSoak runs tousu under a steady load and reports its memory,
// goroutines and error counters; it asserts that every receipt and every
// hotline row is exactly one case, that no error counter grew, and that
// the goroutines come back near their level before the load.
func TestSoak(t *testing.T) {
	d := duration(t)
	root := t.TempDir()
	args := []string{"-data", filepath.Join(root, "data")}
	mode := "embedded"
	if cfg := realServers(t, root); cfg != "" {
		args, mode = append(args, "-config", cfg), "distributed"
	}
	p := start(t, args)
	tag := "nj" + strconv.FormatInt(time.Now().UnixNano(), 36)
	hc := &http.Client{Timeout: 30 * time.Second}
	phone := phones()

	// Warm-up: warmUp complaints from as many customers, which reach
	// every partition of every topic on their way (a producer starts a
	// goroutine for each partition it writes to and keeps it), through
	// the whole pipeline; then the goroutines of an idle, running tousu.
	var receipts []string
	for i := range warmUp {
		receipts = append(receipts, p.post(t, hc, phone(warmUpFrom+i), fmt.Sprintf("%s 试运行%d：12月1日起家里宽带时断时续，报修没人来", tag, i)))
	}
	p.settle(t, tag, warmUp)
	hc.CloseIdleConnections()
	reader := Reader{URL: p.Base + "/metrics", Token: token, PID: p.Cmd.Process.Pid}
	idle, err := reader.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}

	every := max(2*time.Second, d/120)
	sampler := Start(context.Background(), reader, every)
	var (
		mu     sync.Mutex
		failed []string
	)
	loadDone := make(chan struct{})
	hotlineSent := 0
	go func() {
		defer close(loadDone)
		hotlineSent = p.dropHotline(t, tag, d)
	}()
	Steady(context.Background(), rate, d, func(i int) {
		text := fmt.Sprintf(texts[i%len(texts)], tag, i)
		from := phone(i)
		if i%duplicateEvery == duplicateEvery-1 {
			text, from = fmt.Sprintf(texts[(i-1)%len(texts)], tag, i-1), phone(i-1)
		}
		ref, err := p.submit(hc, from, text)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			failed = append(failed, err.Error())
			return
		}
		receipts = append(receipts, ref)
	})
	<-loadDone
	series, readFailures, readErr := sampler.Stop()
	sum := series.Summary()

	// Every receipt and every hotline row taken in.
	hotline := p.settle(t, tag, len(receipts)+hotlineSent)
	perRef := p.references(t, tag)
	lost, duplicated := 0, 0
	for _, ref := range receipts {
		switch perRef[ref] {
		case 0:
			lost++
		case 1:
		default:
			duplicated++
		}
	}
	hc.CloseIdleConnections()
	var after Sample
	back := polltest.Within(time.Minute, func() bool {
		after, err = reader.Read(context.Background())
		return err == nil && after.Goroutines <= idle.Goroutines+goroutineSlack(idle.Goroutines)
	})

	t.Logf("soak %s (%s) at %d complaints/s and %d hotline rows every %s: %d receipts (%d failed submissions), %d hotline rows; %d references in the cases, lost %d, duplicated %d; hotline cases %d",
		d, mode, rate, hotlineRows, hotlineEvery, len(receipts), len(failed), hotlineSent, len(perRef), lost, duplicated, hotline)
	t.Logf("memory and goroutines:\n%s", sum)
	t.Logf("goroutines idle after the warm-up (%d complaints) %.0f, during the load peak %.0f, after it %.0f", warmUp, idle.Goroutines, sum.Routines.Peak, after.Goroutines)
	if readFailures > 0 {
		t.Logf("%d of the samples could not be read, the last: %v", readFailures, readErr)
	}
	writeSamples(t, series)

	if lost > 0 || duplicated > 0 {
		t.Errorf("%d receipts without a case and %d in more than one, want none", lost, duplicated)
	}
	if hotline != hotlineSent {
		t.Errorf("%d hotline cases of %d distinct rows", hotline, hotlineSent)
	}
	for i, f := range failed {
		if i == 5 {
			break
		}
		t.Errorf("failed submission: %s", f)
	}
	for k, v := range sum.ErrorGrowth {
		t.Errorf("error counter %s grew by %.0f over the second half of the soak", k, v)
	}
	if !back {
		t.Errorf("goroutines after the load %.0f, before it %.0f: a leak; where they were created:\n%s", after.Goroutines, idle.Goroutines, p.goroutines(t))
	}
}

// goroutines ends the process with SIGQUIT, which makes the Go runtime
// write every goroutine's stack to its log, and counts them by the
// function that created them, most first.
func (p *proc) goroutines(tb testing.TB) string {
	p.Cmd.Process.Signal(syscall.SIGQUIT)
	p.Cmd.Wait()
	by := map[string]int{}
	for _, line := range strings.Split(p.Stderr.String(), "\n") {
		if rest, ok := strings.CutPrefix(line, "created by "); ok {
			creator, _, _ := strings.Cut(rest, " in goroutine ")
			by[creator]++
		}
	}
	keys := slices.SortedFunc(maps.Keys(by), func(a, b string) int { return cmp.Or(by[b]-by[a], strings.Compare(a, b)) })
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%5d %s\n", by[k], k)
	}
	return b.String()
}

// goroutineSlack is how many goroutines above the idle level still count
// as back: a few per-connection and timer goroutines that come and go.
func goroutineSlack(idle float64) float64 { return max(20, idle/10) }

// duration is TOUSU_SOAK_DURATION, or the default.
func duration(tb testing.TB) time.Duration {
	v := os.Getenv(envDuration)
	if v == "" {
		return defaultDuration
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 10*time.Second {
		tb.Fatalf("%s=%q: want a duration of 10s or more, e.g. 10m", envDuration, v)
	}
	return d
}

// realServers returns the path of a configuration on the soak's Kafka
// node and the harness's Elasticsearch (in an index of the soak's own), or
// "" for embedded mode when neither is named and servers are not
// required.
func realServers(tb testing.TB, dir string) string {
	if os.Getenv(servertest.EnvRequire) != "1" && (os.Getenv(soakKafka.Env) == "" || os.Getenv(servertest.ES.Env) == "") {
		tb.Logf("%s or %s not set: the soak runs in embedded mode", soakKafka.Env, servertest.ES.Env)
		return ""
	}
	kafka, es := servertest.Require(tb, soakKafka), servertest.Require(tb, servertest.ES)
	prefix := fmt.Sprintf("tousu-soak-%d", time.Now().UnixNano())
	tb.Cleanup(func() {
		req, _ := http.NewRequest(http.MethodDelete, es+"/"+prefix+"-v*", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	})
	path := filepath.Join(dir, "tousu.yaml")
	cfg := fmt.Sprintf("bus:\n  brokers: [%s]\nindex:\n  backend: elasticsearch\n  elasticsearch:\n    urls: [%s]\n    index_prefix: %s\n    number_of_replicas: 0\n", kafka, es, prefix)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

// writeSamples writes the samples as soak-samples.csv in
// $TOUSU_SHOTS_DIR, or the test's temporary directory.
func writeSamples(tb testing.TB, s Series) {
	dir := os.Getenv("TOUSU_SHOTS_DIR")
	if dir == "" {
		dir = tb.TempDir()
	}
	var buf bytes.Buffer
	if err := s.WriteCSV(&buf); err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(dir, "soak-samples.csv")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		tb.Fatal(err)
	}
	tb.Logf("samples: %s", path)
}

// texts are what customers write through the API, with the run's tag and
// the complaint's number.
var texts = []string{
	"%s 11月30号充的50元流量包没生效，App显示已扣款，打客服一直占线。第%d次反映",
	"%s 光猫红灯闪了两天了，网断断续续的，孩子上网课老掉线！！工单%d",
	"%s 物业说12月5日前修好地库的灯，现在还是黑的，晚上停车很危险 %d号车位",
	"%s 新买的洗衣机脱水时响声很大，售后说要等7个工作日才能上门，订单尾号%04d",
	"%s 保单退保扣了手续费1200元，签合同时业务员没说过，要求说明依据 保单%d",
	"%s 入住时说含双早，退房结帐却收了早餐费96元，前台态度恶劣 房间%d",
	"%s 车刚提了半个月,仪表盘报警灯常亮,4S店说正常 我不认同 车架号后四位%04d",
	"%s 号码被停机了但我12月1日刚交过费，营业厅让等通知 等了好几天 %d",
}

// phones returns the phone number of the i-th customer of a run.
func phones() func(i int) string {
	run := rand.IntN(1000)
	return func(i int) string { return fmt.Sprintf("13%03d%06d", run, i) }
}

// proc is the tousu process of the soak and its data directory.
type proc struct {
	*proctest.Proc
	data string
}

// start builds the binary and runs `tousu serve` with args.
func start(tb testing.TB, args []string) *proc {
	tb.Helper()
	bin := filepath.Join(tb.TempDir(), "tousu")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/tousu/tousu/services/tousu").CombinedOutput(); err != nil {
		tb.Fatalf("go build: %v: %s", err, out)
	}
	env := []string{"TOUSU_BOOTSTRAP_TOKEN=" + token, "TOUSU_SECRET=soak-server-secret-0123456789abcdef"}
	return &proc{Proc: proctest.Start(tb, bin, env, args...), data: args[slices.Index(args, "-data")+1]}
}

// submit posts one complaint to the JSON API and returns its reference.
func (p *proc) submit(hc *http.Client, phone, text string) (string, error) {
	body, _ := json.Marshal(map[string]string{"phone": phone, "description": text})
	req, _ := http.NewRequest(http.MethodPost, p.Base+"/api/v1/complaints", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out struct{ Reference string }
	if resp.StatusCode != http.StatusAccepted || json.Unmarshal(b, &out) != nil || out.Reference == "" {
		return "", fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	return out.Reference, nil
}

// post is submit for the test's own complaints: a failure fails tb.
func (p *proc) post(tb testing.TB, hc *http.Client, phone, text string) string {
	tb.Helper()
	ref, err := p.submit(hc, phone, text)
	if err != nil {
		tb.Fatal(err)
	}
	return ref
}

// get asks the API and decodes the answer into out.
func (p *proc) get(tb testing.TB, path string, out any) {
	tb.Helper()
	req, _ := http.NewRequest(http.MethodGet, p.Base+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, out) != nil {
		tb.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
}

// searchResult is what the case search answers.
type searchResult struct {
	Total int
	Hits  []struct {
		ID         string
		References []string
	}
}

func (p *proc) search(tb testing.TB, q url.Values) searchResult {
	tb.Helper()
	var res searchResult
	p.get(tb, "/api/v1/cases?"+q.Encode(), &res)
	return res
}

// settle waits until no consumer group lags and the run's complaints
// (want: receipts and hotline rows, duplicates merged or not) are in the
// index, and returns the number of the run's hotline cases.
func (p *proc) settle(tb testing.TB, tag string, want int) int {
	tb.Helper()
	var cases, refs, lag int
	if !polltest.Within(pipelineBound, func() bool {
		var l struct{ Groups []struct{ Total int } }
		p.get(tb, "/api/v1/ops/lag", &l)
		lag = 0
		for _, g := range l.Groups {
			lag += g.Total
		}
		cases = p.search(tb, url.Values{"q": {tag}, "limit": {"1"}}).Total
		if lag != 0 || cases == 0 {
			return false
		}
		refs = 0
		for _, n := range p.references(tb, tag) {
			refs += n
		}
		return refs >= want
	}) {
		tb.Fatalf("the pipeline did not take the load in: %d references in %d cases of %d complaints, lag %d", refs, cases, want, lag)
	}
	return p.search(tb, url.Values{"q": {tag}, "channel": {"hotline"}, "limit": {"1"}}).Total
}

// references pages through the run's cases and counts, for each
// reference, the cases that hold it (as their id or among their
// references).
func (p *proc) references(tb testing.TB, tag string) map[string]int {
	tb.Helper()
	per := map[string]int{}
	for offset := 0; ; offset += 200 {
		res := p.search(tb, url.Values{"q": {tag}, "limit": {"200"}, "offset": {strconv.Itoa(offset)}})
		for _, h := range res.Hits {
			for _, r := range slices.Compact(slices.Sorted(slices.Values(append([]string{h.ID}, h.References...)))) {
				per[r]++
			}
		}
		if len(res.Hits) < 200 {
			return per
		}
	}
}

// dropHotline drops an export into the hotline folder every
// hotlineEvery for d and returns the number of distinct rows dropped.
func (p *proc) dropHotline(tb testing.TB, tag string, d time.Duration) int {
	folder := filepath.Join(p.data, "hotline")
	next := 0
	for i := 0; time.Duration(i)*hotlineEvery < d; i++ {
		if i > 0 {
			time.Sleep(hotlineEvery)
		}
		first, n := next, hotlineRows
		if i%3 == 2 {
			first, n = next-1, hotlineRows+1 // the last row of the export before, again
		}
		var buf bytes.Buffer
		if err := WriteHotline(&buf, tag, first, n); err != nil {
			tb.Error(err)
			return next
		}
		name := fmt.Sprintf("话务工单导出_%s_%03d.csv", tag, i)
		part := filepath.Join(folder, name+".part")
		if err := os.WriteFile(part, buf.Bytes(), 0o644); err != nil {
			tb.Error(err)
			return next
		}
		if err := os.Rename(part, filepath.Join(folder, name)); err != nil {
			tb.Error(err)
			return next
		}
		if err := os.WriteFile(filepath.Join(folder, name+".done"), nil, 0o644); err != nil {
			tb.Error(err)
			return next
		}
		next = first + n
	}
	return next
}
