package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
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

	"github.com/segmentio/kafka-go"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/tousu/tousu/internal/polltest"
	"github.com/tousu/tousu/internal/proctest"
	"github.com/tousu/tousu/internal/servertest"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/services/bus"
)

// The component fault test runs every stage of the pipeline as its own
// process of the real binary on the three-node Kafka cluster and the real
// Elasticsearch, under a steady load of API complaints and hotline CSV
// exports, and SIGKILLs each component mid-batch a few times, restarting
// it on the same data directory.

// killedLoadFor is how long the load of TestComponentsKilledUnderLoad
// lasts: long enough for two kills of each component.
const killedLoadFor = 60 * time.Second

// killedTexts are the load's complaints: one in four threatens the press
// (重大 in the telecom pack), which the escalator has the router alert at
// once.
var killedTexts = []string{
	"%s 12月3号交的100元话费到现在没到账，客服说48小时内处理，已经三天了（第%d单）",
	"%s 我要找记者曝光！！手机信号差了一周，报修%d次没人管",
	"%s 宽带从11月28日起每晚8点后就断网，报修两次师傅都没上门 编号%d",
	"%s 营业厅办套餐时说免月租,结果每月扣了39元，要求退费 %d",
	"%s 物业电话打不通，电梯坏了一周没人修，老人上下楼很困难。%d号楼",
	"%s 再不处理我就向媒体曝光，宽带断网5天了 单号%d",
	"%s 收到的冰箱侧面有凹痕，商家不给换货，订单号2024112%04d",
	"%s 手机信号差 打电话老掉线 投诉过没人管 第%d次",
}

// component is one process of the pipeline the test kills and restarts.
type component struct {
	name string
	// binary, args and env are how it starts: the tousu binary, the serve
	// arguments and the environment.
	binary string
	args   []string
	env    []string
	// group is the consumer group whose lag shows it caught up again;
	// empty for the gateway and the poller.
	group string

	// mu is held while it is killed and restarted; it guards p, kills
	// and err, the failure of a restart.
	mu    sync.Mutex
	p     *proc
	kills []*kill
	err   error
}

// killAndRestart SIGKILLs c, starts it again down later and then watches
// it recover (watchRecovery). It runs beside the test: a failed restart is
// in c.err.
func (c *component) killAndRestart(tb testing.TB, loadStart time.Time, down time.Duration, console *proc) {
	c.mu.Lock()
	k := &kill{at: time.Now()}
	c.p.kill(tb)
	time.Sleep(down)
	p, err := spawnProc(tb, c.binary, c.env, c.args...)
	if err != nil {
		c.err = err
		c.mu.Unlock()
		return
	}
	c.p, k.restarted = p, time.Now()
	c.kills = append(c.kills, k)
	c.mu.Unlock()
	tb.Logf("%5.1fs %s killed, up again %.1fs later", k.at.Sub(loadStart).Seconds(), c.name, k.restarted.Sub(k.at).Seconds())
	k.recovered = watchRecovery(c.name, c.group, p, console, k.restarted)
}

// kill is one SIGKILL of a component.
type kill struct {
	at, restarted time.Time
	// recovered is how long after the restart the component worked
	// again (see watchRecovery); 0 when it did not within the test.
	recovered time.Duration
}

// TestComponentsKilledUnderLoad SIGKILLs each of gateway, poller,
// normalizer, router, indexer and escalator twice mid-load, at offsets a
// seeded generator spreads over the run, and restarts it a second or three
// later. Afterwards every receipt and every hotline row is exactly one
// case, and every escalation alert the cases show raised is on the alerts
// topic exactly once.
func TestComponentsKilledUnderLoad(t *testing.T) {
	cluster := servertest.RequireCluster(t)
	es := servertest.Require(t, servertest.ES)
	root := t.TempDir()
	busYAML := fmt.Sprintf("brokers: [%s]\nreplication: 3\nmin_insync_replicas: 2", strings.Join(cluster.Brokers, ", "))
	cfgPath := realConfigBus(t, root, busYAML, es, "escalator:\n  interval: 1s\n")
	env := []string{"TOUSU_BOOTSTRAP_TOKEN=" + testToken, "TOUSU_SECRET=" + testSecret}
	// The gateway keeps its address across restarts, as behind a load
	// balancer.
	gatewayAddr := proctest.FreeAddr(t)
	hotline := filepath.Join(root, "poller", "hotline")
	if err := os.MkdirAll(hotline, 0o755); err != nil {
		t.Fatal(err)
	}
	newComponent := func(name, target, group string, extra ...string) *component {
		return &component{name: name, env: env, group: group, binary: tousuBinary(t),
			args: append([]string{"-config", cfgPath, "-target", target, "-data", filepath.Join(root, name)}, extra...)}
	}
	gateway := newComponent("gateway", "gateway", "", "-http", gatewayAddr)
	comps := []*component{
		gateway,
		newComponent("poller", "poller", ""),
		newComponent("normalizer", "normalizer", "tousu-normalizer"),
		newComponent("router", "router", "tousu-router"),
		newComponent("indexer", "indexer", "tousu-indexer"),
		newComponent("escalator", "escalator", "tousu-escalator"),
		// The rest of the pipeline runs on, unharmed: the console answers
		// the searches and the lag view.
		newComponent("console", "console,batcher,alerts", ""),
	}
	begin := time.Now()
	step := func(what string) { t.Logf("%6.1fs %s", time.Since(begin).Seconds(), what) }
	var wg sync.WaitGroup
	for _, c := range comps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.p, c.err = spawnProc(t, c.binary, c.env, c.args...)
		}()
	}
	wg.Wait()
	for _, c := range comps {
		if c.err != nil {
			t.Fatal(c.err)
		}
	}
	console, comps := comps[len(comps)-1].p, comps[:len(comps)-1]
	step("every component started")

	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	// The searches quote the tags: unquoted, a search finds earlier runs'
	// cases too (they share the Chinese words), which stay on the cluster's
	// cases topic and reach this run's index when the new escalator and
	// router raise their late alerts.
	tag, rowTag := "杀进程"+run, "热线"+reverse(run)
	quoted, rowQuoted := strconv.Quote(tag), strconv.Quote(rowTag)
	phone := runPhones()
	// The first complaint waits for the consumer groups to join.
	gateway.p.submitFrom(t, phone(9999), tag+" 试运行：12月1日起手机信号时有时无")
	console.waitFor(t, quoted, 1)
	step("the pipeline runs")

	feed := startHotlineFeed(t, hotline, rowTag, run)
	l := startLoadOf(t, &proc{http: gateway.p.http}, tag, killedLoadFor, killedTexts)
	for _, k := range killSchedule(comps, 2, 17) {
		time.Sleep(time.Until(l.start.Add(k.at)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			comps[k.comp].killAndRestart(t, l.start, k.down, console)
		}()
	}
	subs := l.wait()
	rows := feed.stop()
	step("the load ended")
	wg.Wait()
	var last time.Time
	for _, c := range comps {
		if c.err != nil {
			t.Fatal(c.err)
		}
		for _, k := range c.kills {
			if k.restarted.After(last) {
				last = k.restarted
			}
		}
	}

	m := settle(t, console, gateway.p, quoted, subs, last)
	step("every receipt is a case")
	hot := settleRows(t, console, rowQuoted, rows)
	step("hotline rows counted")
	al := checkAlerts(t, console, cluster.Brokers, quoted)
	step("alerts counted")
	gatewayRecovery(gateway, subs)
	var kills []string
	for _, c := range comps {
		var times []string
		for _, k := range c.kills {
			times = append(times, fmt.Sprintf("%.1fs", k.recovered.Seconds()))
		}
		kills = append(kills, fmt.Sprintf("%s %d× (recovered after %s)", c.name, len(c.kills), strings.Join(times, ", ")))
	}
	t.Logf("components killed under %d complaints/s for %.0fs: %s; hotline: %s; alerts: %s; kills: %s",
		loadRate, killedLoadFor.Seconds(), m, hot, al, strings.Join(kills, "; "))
	m.check(t)
	hot.check(t)
	al.check(t)
}

// reverse returns s backwards, for a second tag of the run that shares no
// token with the first.
func reverse(s string) string {
	b := []byte(s)
	slices.Reverse(b)
	return string(b)
}

// plannedKill is one kill of killSchedule: component comp, at offset at of
// the load, restarted after down.
type plannedKill struct {
	comp     int
	at, down time.Duration
}

// killSchedule kills each of comps rounds times, in an order and with
// pauses a generator seeded with seed draws: every three to five seconds
// from the fourth second of the load, down for one to three seconds.
func killSchedule(comps []*component, rounds int, seed uint64) []plannedKill {
	rng := rand.New(rand.NewPCG(seed, seed))
	var out []plannedKill
	at := 4 * time.Second
	for range rounds {
		for _, i := range rng.Perm(len(comps)) {
			down := time.Second + time.Duration(rng.IntN(2000))*time.Millisecond
			out = append(out, plannedKill{comp: i, at: at, down: down})
			at += 3*time.Second + time.Duration(rng.IntN(2000))*time.Millisecond
		}
	}
	return out
}

// watchRecovery returns how long after restarted the component name
// (process p) worked again: its consumer group lags by at most a second
// of load, or the poller published a row; the gateway's is measured from
// the receipts (see gatewayRecovery). 0 when it did not within
// pipelineBound.
func watchRecovery(name, group string, p, console *proc, restarted time.Time) time.Duration {
	if group == "" && name != "poller" {
		return 0
	}
	client := &http.Client{Timeout: 5 * time.Second}
	ok := polltest.Within(pipelineBound, func() bool {
		if name == "poller" {
			v, err := scrape(client, p, `tousu_csvdrop_rows_total{folder="hotline",outcome="published"}`)
			return err == nil && v > 0
		}
		lag, ok := groupLag(client, console, group)
		return ok && lag <= loadRate
	})
	if !ok {
		return 0
	}
	return time.Since(restarted)
}

// gatewayRecovery sets the recovery of each gateway kill: from its
// restart to the first receipt of a complaint sent after it.
func gatewayRecovery(c *component, subs []submission) {
	for _, k := range c.kills {
		for _, s := range subs {
			if s.ok() && s.sent.After(k.restarted) {
				k.recovered = s.sent.Add(s.took).Sub(k.restarted)
				break
			}
		}
	}
}

// groupLag is the lag of one consumer group on p's lag view, without
// failing a test: watchRecovery runs beside it.
func groupLag(client *http.Client, p *proc, group string) (int64, bool) {
	resp, err := p.get(client, "/api/v1/ops/lag")
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	var lag struct {
		Groups []struct {
			Group string
			Total int64
		}
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&lag) != nil {
		return 0, false
	}
	for _, g := range lag.Groups {
		if g.Group == group {
			return g.Total, true
		}
	}
	return 0, false
}

// hotlineFeed drops a call-centre export into the poller's hotline folder
// every two seconds, as the call-centre's nightly job would, only faster.
type hotlineFeed struct {
	done chan struct{}
	wg   sync.WaitGroup
	mu   sync.Mutex
	rows []string // the work orders written
	err  error
}

// hotlineRows are the complaints of a hotline export: the agent's terse
// notes, with the work order, call time and caller.
var hotlineRows = []string{
	"%s 用户称宽带断网三天，已派单未上门，要求今天处理",
	"%s 来电反映话费多扣30元，12/2已申请退费未到账",
	"%s 客户投拆套餐被强制升级，要求恢复原套餐",
	"%s 用户说信号差打不通电话，小区基站11月底坏了",
	"%s 用户情绪激动，称装机预约改期三次",
}

// startHotlineFeed starts writing exports of five rows, each with rowTag
// and a work order of the run, GBK-encoded as Excel on Chinese Windows
// saves them, with a .done marker once complete.
func startHotlineFeed(tb testing.TB, folder, rowTag, run string) *hotlineFeed {
	f := &hotlineFeed{done: make(chan struct{})}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		tick := time.NewTicker(2 * time.Second)
		defer tick.Stop()
		phone := runPhones()
		for file := 0; ; file++ {
			select {
			case <-f.done:
				return
			case <-tick.C:
			}
			var b strings.Builder
			b.WriteString("工单号,受理时间,来电号码,客户姓名,业务类型,投诉内容\r\n")
			var orders []string
			for r := range 5 {
				order := fmt.Sprintf("GD%s%03d%d", strings.ToUpper(run), file, r)
				orders = append(orders, order)
				fmt.Fprintf(&b, "%s,2026/12/%d %d:%02d,%s,客户%d,宽带,\"%s\"\r\n", order, 1+file%6, 9+r, file%60, phone(file*5+r), r,
					fmt.Sprintf(hotlineRows[r], rowTag))
			}
			gbk, err := simplifiedchinese.GBK.NewEncoder().String(b.String())
			name := filepath.Join(folder, fmt.Sprintf("export-%03d.csv", file))
			if err == nil {
				err = os.WriteFile(name, []byte(gbk), 0o644)
			}
			if err == nil {
				err = os.WriteFile(name+".done", nil, 0o644)
			}
			f.mu.Lock()
			if err != nil {
				f.err = err
			} else {
				f.rows = append(f.rows, orders...)
			}
			f.mu.Unlock()
		}
	}()
	return f
}

// stop ends the feed and returns the work orders it wrote.
func (f *hotlineFeed) stop() []string {
	close(f.done)
	f.wg.Wait()
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rows
}

// rowsMeasured is what became of the hotline rows.
type rowsMeasured struct {
	rows, cases, duplicates, lost int
}

func (m rowsMeasured) String() string {
	return fmt.Sprintf("rows %d, cases %d, duplicates %d, lost %d", m.rows, m.cases, m.duplicates, m.lost)
}

func (m rowsMeasured) check(tb testing.TB) {
	tb.Helper()
	if m.rows == 0 {
		tb.Error("no hotline row was written")
	}
	if m.lost > 0 || m.duplicates > 0 {
		tb.Errorf("%d hotline rows without a case and %d with more than one, want none", m.lost, m.duplicates)
	}
}

// allCases returns every case q finds on p.
func allCases(tb testing.TB, p *proc, q string) []router.Case {
	tb.Helper()
	var all []router.Case
	for offset := 0; ; offset += 200 {
		var res struct{ Hits []router.Case }
		path := "/api/v1/cases?" + url.Values{"q": {q}, "limit": {"200"}, "offset": {strconv.Itoa(offset)}}.Encode()
		if code := p.request(tb, http.MethodGet, path, "", &res); code != http.StatusOK {
			tb.Fatalf("search %s: %d", q, code)
		}
		all = append(all, res.Hits...)
		if len(res.Hits) < 200 {
			return all
		}
	}
}

// settleRows waits until the search q finds a case of every hotline row
// and counts the cases of each work order.
func settleRows(tb testing.TB, p *proc, q string, rows []string) rowsMeasured {
	tb.Helper()
	polltest.Within(pipelineBound, func() bool {
		return search(tb, p, url.Values{"q": {q}, "limit": {"1"}}).Total >= len(rows)
	})
	return countRows(allCases(tb, p, q), rows)
}

// countRows counts the cases of each work order of rows.
func countRows(cases []router.Case, rows []string) rowsMeasured {
	m := rowsMeasured{rows: len(rows), cases: len(cases)}
	perOrder := map[string]int{}
	for _, c := range cases {
		for _, o := range c.WorkOrders {
			perOrder[o]++
		}
	}
	for _, o := range rows {
		switch n := perOrder[o]; {
		case n == 0:
			m.lost++
		case n > 1:
			m.duplicates++
		}
	}
	return m
}

// alertsMeasured is what became of the escalation alerts.
type alertsMeasured struct {
	// raised are the alerts the cases show raised; due those due by the
	// end that are not.
	raised, due int
	// notices are the escalation notices of the run's cases on the alerts
	// topic; duplicates those of an alert already counted, missing the
	// raised alerts without one, unknown those of no raised alert.
	notices, duplicates, missing, unknown int
}

func (m alertsMeasured) String() string {
	return fmt.Sprintf("raised %d, due but not raised %d, notices on %s %d, duplicates %d, raised without a notice %d, notices of no raised alert %d",
		m.raised, m.due, bus.TopicAlerts, m.notices, m.duplicates, m.missing, m.unknown)
}

func (m alertsMeasured) check(tb testing.TB) {
	tb.Helper()
	if m.raised == 0 {
		tb.Error("no escalation alert was raised")
	}
	if m.due > 0 || m.duplicates > 0 || m.missing > 0 || m.unknown > 0 {
		tb.Errorf("alerts: %s; want every due alert raised exactly once", m)
	}
}

// checkAlerts waits until every alert that fell due of the run's cases
// (those the search q finds) is raised, then matches them with the
// escalation notices on the alerts topic.
func checkAlerts(tb testing.TB, p *proc, brokers []string, q string) alertsMeasured {
	tb.Helper()
	var cases []router.Case
	polltest.Within(pipelineBound, func() bool {
		cases = allCases(tb, p, q)
		return matchAlerts(cases, nil, time.Now()).due == 0
	})
	return matchAlerts(cases, readTopic(tb, brokers, bus.TopicAlerts), time.Now())
}

// matchAlerts counts the alerts of cases raised and due by now, and
// matches the raised ones with the escalation notices among the records
// of the alerts topic (records of other cases are left out).
func matchAlerts(cases []router.Case, records [][]byte, now time.Time) alertsMeasured {
	var m alertsMeasured
	raised, ours := map[string]int{}, map[string]bool{}
	for _, c := range cases {
		ours[c.ID] = true
		for _, a := range c.Escalation.Alerts {
			switch {
			case !a.RaisedAt.IsZero():
				m.raised++
				raised[alertKey(c.ID, a.Clock, a.Step, a.Level)] = 0
			case !a.At.After(now) && c.Status != router.StatusClosed && c.AlertActive(a):
				m.due++
			}
		}
	}
	for _, v := range records {
		var n router.Notice
		if json.Unmarshal(v, &n) != nil || n.Kind != router.NoticeEscalation || !ours[n.Case] {
			continue
		}
		m.notices++
		k := alertKey(n.Case, n.Clock, n.Step, n.Level)
		seen, ok := raised[k]
		switch {
		case !ok:
			m.unknown++
		case seen > 0:
			m.duplicates++
		}
		raised[k] = seen + 1
	}
	for _, n := range raised {
		if n == 0 {
			m.missing++
		}
	}
	return m
}

// readPartition hands each record of one partition of topic to use, in
// batches from the partition's leader, up to the end it had when called.
func readPartition(ctx context.Context, broker, topic string, partition int, use func([]byte)) error {
	leader, err := kafka.DialLeader(ctx, "tcp", broker, topic, partition)
	if err != nil {
		return err
	}
	defer leader.Close()
	if deadline, ok := ctx.Deadline(); ok {
		leader.SetDeadline(deadline)
	}
	first, last, err := leader.ReadOffsets()
	if err != nil {
		return err
	}
	if _, err := leader.Seek(first, kafka.SeekAbsolute); err != nil {
		return err
	}
	for next := first; next < last; {
		from := next
		batch := leader.ReadBatch(1, 16<<20)
		for next < last {
			m, err := batch.ReadMessage()
			if err != nil {
				break
			}
			use(m.Value)
			next = m.Offset + 1
		}
		if err := batch.Close(); err != nil {
			return err
		}
		if next == from {
			return fmt.Errorf("no record at offset %d of %d", next, last)
		}
	}
	return nil
}

// alertKey names an alert of a case: its clock, step and level.
func alertKey(id, clock, step string, level int) string {
	return fmt.Sprintf("%s %s %s %d", id, clock, step, level)
}

// readTopic returns the value of every record on every partition of topic.
func readTopic(tb testing.TB, brokers []string, topic string) [][]byte {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := kafka.DialContext(ctx, "tcp", brokers[0])
	if err != nil {
		tb.Fatal(err)
	}
	parts, err := conn.ReadPartitions(topic)
	conn.Close()
	if err != nil {
		tb.Fatal(err)
	}
	var out [][]byte
	for _, part := range parts {
		if err := readPartition(ctx, brokers[0], topic, part.ID, func(v []byte) { out = append(out, v) }); err != nil {
			tb.Fatalf("read %s/%d: %v", topic, part.ID, err)
		}
	}
	return out
}

// TestMatchAlerts: the alert count of the component fault test finds a
// notice raised twice, a raised alert without a notice, a notice of no
// raised alert and a due alert never raised, and leaves other runs' cases
// and other notices alone.
func TestMatchAlerts(t *testing.T) {
	now := time.Date(2026, 12, 6, 15, 4, 0, 0, time.FixedZone("CST", 8*3600))
	grade := router.Alert{At: now.Add(-time.Minute), Level: 2, Step: "grade 重大", Notify: []string{"质量总监"}}
	raised := grade
	raised.RaisedAt = now.Add(-50 * time.Second)
	newCase := func(id string, alerts ...router.Alert) router.Case {
		c := router.Case{ID: id, Status: router.StatusOpen, Description: "我要找记者曝光！！手机信号差了一周"}
		c.Escalation.Alerts = alerts
		return c
	}
	notice := func(id string, n router.Notice) []byte {
		n.V, n.ID, n.Case = router.NoticeVersion, "escalation:"+id+"::grade 重大:2", id
		if n.Kind == "" {
			n.Kind, n.Step, n.Level = router.NoticeEscalation, "grade 重大", 2
		}
		b, _ := json.Marshal(n)
		return b
	}
	closed := newCase("TS20261206C0003", grade)
	closed.Status = router.StatusClosed
	tests := []struct {
		name    string
		cases   []router.Case
		records [][]byte
		want    alertsMeasured
	}{
		{"once each", []router.Case{newCase("TS20261206A0001", raised), newCase("TS20261206A0002", raised)},
			[][]byte{notice("TS20261206A0001", router.Notice{}), notice("TS20261206A0002", router.Notice{}),
				notice("TS20261205Z9999", router.Notice{}), notice("TS20261206A0001", router.Notice{Kind: "urge"}), []byte("{不是JSON")},
			alertsMeasured{raised: 2, notices: 2}},
		{"raised twice", []router.Case{newCase("TS20261206A0001", raised)},
			[][]byte{notice("TS20261206A0001", router.Notice{}), notice("TS20261206A0001", router.Notice{})},
			alertsMeasured{raised: 1, notices: 2, duplicates: 1}},
		{"raised without a notice", []router.Case{newCase("TS20261206A0001", raised)}, nil,
			alertsMeasured{raised: 1, missing: 1}},
		{"notice of no raised alert", []router.Case{newCase("TS20261206A0001", grade)},
			[][]byte{notice("TS20261206A0001", router.Notice{})},
			alertsMeasured{due: 1, notices: 1, unknown: 1}},
		{"due, never raised; closed and future ones are not due", []router.Case{newCase("TS20261206B0001", grade),
			newCase("TS20261206B0002", router.Alert{At: now.Add(time.Hour), Level: 1, Step: "grade 重大"}), closed}, nil,
			alertsMeasured{due: 1}},
	}
	for _, tt := range tests {
		if got := matchAlerts(tt.cases, tt.records, now); got != tt.want {
			t.Errorf("%s: %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

// TestCountRows: the hotline count finds a work order without a case and
// one on two cases; a case may carry several work orders of its customer.
func TestCountRows(t *testing.T) {
	rows := []string{"GD2026120600011", "GD2026120600012", "GD2026120600013"}
	tests := []struct {
		name  string
		cases []router.Case
		want  rowsMeasured
	}{
		{"each once", []router.Case{{ID: "TS1", WorkOrders: []string{"GD2026120600011", "GD2026120600012"}}, {ID: "TS2", WorkOrders: []string{"GD2026120600013"}}},
			rowsMeasured{rows: 3, cases: 2}},
		{"lost and doubled", []router.Case{{ID: "TS1", WorkOrders: []string{"GD2026120600011"}}, {ID: "TS2", WorkOrders: []string{"GD2026120600011", "GD2026120600012"}}},
			rowsMeasured{rows: 3, cases: 2, duplicates: 1, lost: 1}},
	}
	for _, tt := range tests {
		if got := countRows(tt.cases, rows); got != tt.want {
			t.Errorf("%s: %+v, want %+v", tt.name, got, tt.want)
		}
	}
}
