package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tousu/tousu/internal/polltest"
	"github.com/tousu/tousu/internal/servertest"
	"github.com/tousu/tousu/services/bus"
	"github.com/tousu/tousu/services/stages/normalizer"
	"github.com/tousu/tousu/services/stages/routing"
)

// The scaling proof: routers as separate processes of the real binary on
// Apache Kafka and Elasticsearch. A second router joins under load and
// takes half of the partitions over while complaints flow, and nothing
// is lost or duplicated; then one router and two each drain the same
// backlog, and the test prints the throughput of each and the CPU a
// complaint cost, which is what bounds it on a machine of two cores.
// Only what must hold whatever the timing is asserted.

// drainBacklog is how many complaints wait for the routers in each
// throughput run.
const drainBacklog = 1500

// TestSecondRouterTakesHalfThePartitions is the scaling proof of the
// README's capacity note.
func TestSecondRouterTakesHalfThePartitions(t *testing.T) {
	kafka, es := servertest.Require(t, servertest.Kafka), servertest.Require(t, servertest.ES)
	root := t.TempDir()
	cfgPath := realConfig(t, root, kafka, es, "")
	env := []string{"TOUSU_BOOTSTRAP_TOKEN=" + testToken, "TOUSU_SECRET=" + testSecret}
	// Everything but the router runs in one process; the routers each in
	// their own, as a deployment scales them.
	rest := startProc(t, env, "-config", cfgPath, "-data", filepath.Join(root, "rest"),
		"-target", "gateway,normalizer,indexer,console,escalator,batcher,alerts,sender")
	router := func(n int) *proc {
		return startProc(t, env, "-config", cfgPath, "-target", "router", "-data", filepath.Join(root, "router-"+strconv.Itoa(n)))
	}
	cfg := bus.Config{Brokers: strings.Split(kafka, ",")}
	tag := "扩容" + strconv.FormatInt(time.Now().UnixNano(), 36)
	// Searched quoted, so that earlier runs' cases never match (see
	// TestComponentsKilledUnderLoad).
	quoted := strconv.Quote(tag)
	phone := runPhones()

	// One router under a steady load; the second joins mid-load.
	first := router(1)
	rest.submitFrom(t, phone(9999), tag+" 试运行：宽带12月1日起断断续续")
	rest.waitFor(t, quoted, 1)
	l := startLoad(t, rest, tag, 30*time.Second)
	time.Sleep(10 * time.Second)
	l.mark("join")
	second := router(2)
	t.Logf("%5.1fs the second router started", l.since())
	var assigned map[string][]int
	members := 0
	if !polltest.Within(pipelineBound, func() bool {
		assigned = routerAssignment(t, cfg)
		members = max(members, lagMembers(t, rest, routing.Group, bus.TopicNormalized))
		return len(assigned) == 2 && members == 2
	}) {
		t.Fatalf("the second router never got its partitions: %v; the lag view saw %d members", assigned, members)
	}
	t.Logf("%5.1fs rebalanced %.1fs after the join: %s; the lag view shows %d consumers of %s", l.since(),
		time.Since(l.marks["join"]).Seconds(), describeAssignment(assigned), members, bus.TopicNormalized)
	checkHalves(t, assigned, bus.DefaultPartitions)
	subs := l.wait()
	m := settle(t, rest, rest, quoted, subs, time.Now())
	shares := []float64{routerComplaints(t, first), routerComplaints(t, second)}
	t.Logf("a second router joined under %d complaints/s: %s; router 1 decided %.0f complaints, router 2 %.0f", loadRate, m, shares[0], shares[1])
	m.check(t)
	if shares[1] == 0 {
		t.Error("the second router decided no complaint: it took no partition over")
	}

	// The same backlog drained by one router, then by two.
	stop(t, first, second)
	one := drain(t, rest, cfg, tag, phone, 2000, func() []*proc { return []*proc{router(1)} })
	two := drain(t, rest, cfg, tag, phone, 5000, func() []*proc { return []*proc{router(1), router(2)} })
	load, _ := os.ReadFile("/proc/loadavg")
	t.Logf("one router: %s", one)
	t.Logf("two routers: %s", two)
	t.Logf("the machine: %d cores, load average %s (every process of the proof and ES and Kafka share them)", runtime.NumCPU(), strings.TrimSpace(string(load)))
	// A router runs while the proof settles, as in any deployment.
	last := router(3)
	all := append(append(subs, one.subs...), two.subs...)
	m = settle(t, rest, rest, quoted, all, time.Now())
	t.Logf("the router running at the end decided %.0f complaints again", routerComplaints(t, last))
	t.Logf("every complaint of the proof: %s", m)
	m.check(t)
}

// drained is what one throughput run measured.
type drained struct {
	subs     []submission
	routers  int
	timed    float64 // the complaints decided once every router held its partitions
	took     time.Duration
	perSec   float64
	shares   []float64
	cpuPerMs []float64 // the router processes' CPU per complaint, in ms
}

func (d drained) String() string {
	return fmt.Sprintf("a backlog of %d; %.0f decided in %.1fs once every router held its partitions, %.0f complaints/s; decided per router in that time %v; router CPU per complaint %v ms",
		len(d.subs), d.timed, d.took.Seconds(), d.perSec, d.shares, d.cpuPerMs)
}

// drain stops the load, submits drainBacklog complaints while no router
// runs, waits until the normalizer has passed them on, starts the routers
// start gives and measures how fast they decide the backlog.
func drain(tb testing.TB, rest *proc, cfg bus.Config, tag string, phone func(int) string, from int, start func() []*proc) drained {
	tb.Helper()
	d := drained{subs: burst(rest, tag, phone, from, drainBacklog)}
	for _, s := range d.subs {
		if !s.ok() {
			tb.Fatalf("a backlog complaint was refused: %d %s", s.code, s.err)
		}
	}
	if !polltest.Within(pipelineBound, func() bool { return brokerLag(tb, cfg, normalizer.Group, bus.TopicRaw) == 0 }) {
		tb.Fatal("the normalizer did not pass the backlog on")
	}
	routers := start()
	d.routers = len(routers)
	// The run is timed from the moment every router holds its
	// partitions: before that, the first to join takes them all.
	var began time.Time
	var decided0 float64
	var cpu0, n0 []float64
	decided := func() float64 {
		n := 0.0
		for _, r := range routers {
			n += routerComplaints(tb, r)
		}
		return n
	}
	if !polltest.Within(3*pipelineBound, func() bool {
		if began.IsZero() && len(routerAssignment(tb, cfg)) == len(routers) {
			began, decided0 = time.Now(), decided()
			for _, r := range routers {
				cpu0 = append(cpu0, metricValue(tb, r, "process_cpu_seconds_total"))
				n0 = append(n0, routerComplaints(tb, r))
			}
		}
		return !began.IsZero() && decided() >= drainBacklog
	}) {
		tb.Fatalf("%d routers did not decide the backlog of %d", len(routers), drainBacklog)
	}
	d.took = time.Since(began)
	d.timed = drainBacklog - decided0
	d.perSec = d.timed / d.took.Seconds()
	for i, r := range routers {
		n := routerComplaints(tb, r) - n0[i]
		d.shares = append(d.shares, n)
		if n > 0 {
			d.cpuPerMs = append(d.cpuPerMs, float64(int(10000*(metricValue(tb, r, "process_cpu_seconds_total")-cpu0[i])/n))/10)
		}
	}
	stop(tb, routers...)
	return d
}

// burst posts n complaints to p as fast as sixteen clients can, each
// from a customer of its own, and returns them in the order sent.
func burst(p *proc, tag string, phone func(int) string, from, n int) []submission {
	client := &http.Client{Timeout: 30 * time.Second}
	subs := make([]submission, n)
	var wg sync.WaitGroup
	next := make(chan int)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				subs[i] = post(client, p, phone(from+i), fmt.Sprintf(complaintTexts[i%len(complaintTexts)], tag, from+i))
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return subs
}

// stop ends processes as an orchestrator does (SIGTERM) and waits for
// them, so that they leave their consumer groups at once.
func stop(tb testing.TB, ps ...*proc) {
	tb.Helper()
	for _, p := range ps {
		p.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range ps {
		p.cmd.Wait()
	}
}

// routerComplaints is how many complaints a router process decided, every
// outcome together.
func routerComplaints(tb testing.TB, p *proc) float64 {
	tb.Helper()
	resp, err := p.get(http.DefaultClient, "/metrics")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var n float64
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "tousu_router_complaints_total{") {
			f, _ := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
			n += f
		}
	}
	return n
}

// routerAssignment asks the group coordinator which partitions of
// complaints.normalized each router holds, by member.
func routerAssignment(tb testing.TB, cfg bus.Config) map[string][]int {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	g, err := bus.DescribeGroup(ctx, cfg, routing.Group)
	if err != nil || g.State != "Stable" {
		return nil
	}
	out := map[string][]int{}
	for _, m := range g.Members {
		if ps := m.Partitions[bus.TopicNormalized]; len(ps) > 0 {
			out[m.ID] = slices.Sorted(slices.Values(ps))
		}
	}
	return out
}

// describeAssignment says which partitions each member holds.
func describeAssignment(assigned map[string][]int) string {
	var parts []string
	for _, id := range slices.Sorted(maps.Keys(assigned)) {
		parts = append(parts, fmt.Sprintf("%s holds %v", id, assigned[id]))
	}
	return strings.Join(parts, "; ")
}

// checkHalves fails unless the members hold every one of partitions
// partitions, none twice, half each.
func checkHalves(tb testing.TB, assigned map[string][]int, partitions int) {
	tb.Helper()
	seen := map[int]bool{}
	for id, ps := range assigned {
		if len(ps) != partitions/len(assigned) {
			tb.Errorf("member %s holds %v, want %d partitions", id, ps, partitions/len(assigned))
		}
		for _, p := range ps {
			if seen[p] {
				tb.Errorf("partition %d held twice", p)
			}
			seen[p] = true
		}
	}
	if len(seen) != partitions {
		tb.Errorf("the routers hold %d partitions of %d", len(seen), partitions)
	}
}

// lagMembers is the consumers the console's lag view shows for group on
// topic.
func lagMembers(tb testing.TB, p *proc, group, topic string) int {
	tb.Helper()
	var lag struct {
		Groups []struct {
			Group, Topic string
			Members      int
		}
	}
	p.request(tb, http.MethodGet, "/api/v1/ops/lag", "", &lag)
	for _, g := range lag.Groups {
		if g.Group == group && g.Topic == topic {
			return g.Members
		}
	}
	return 0
}

// brokerLag is what group has not committed of topic, summed over the
// partitions; -1 when the broker cannot say.
func brokerLag(tb testing.TB, cfg bus.Config, group, topic string) int64 {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	lag, err := bus.Lag(ctx, cfg, group, topic)
	if err != nil {
		return -1
	}
	var total int64
	for _, n := range lag {
		total += n
	}
	return total
}
