package console

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/services/accounts"
	"github.com/tousu/tousu/services/bus"
	"github.com/tousu/tousu/services/httpapi"
	"github.com/tousu/tousu/services/ops"
)

// TestOpsPage: an ops account sees, in tables that need no script, the
// lag per group and partition with its rates, oldest record and a group
// nobody consumes; the channels with a silent hotline folder whose refused
// rows are counted by class and a mailbox with errors; a lost process and
// one that said it stopped; and an unreachable index.
func TestOpsPage(t *testing.T) {
	e := newEnv(t)
	now := e.clock.now()
	acc, err := accounts.Create(accounts.Spec{Name: "qian.ops", DisplayName: "钱运维", Role: accounts.RoleOps, Password: "运维Qian-2024-pass"}, "qian.ops", now.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.Create(context.Background(), acc); err != nil {
		t.Fatal(err)
	}
	d := ops.NewDeployment()
	for _, b := range []ops.Beat{
		{Process: "tousu-gw-0/17/a", Host: "tousu-gw-0", PID: 17, Targets: []string{"gateway", "poller"}, Version: "v1.4.2", Started: now.Add(-26 * time.Hour),
			At: now.Add(-4 * time.Second), Every: 10 * time.Second, Channels: []ops.ChannelHealth{
				{Kind: ingest.ChannelEmail, Name: "kefu-163", LastSuccess: now.Add(-2 * time.Minute), Hour: 6, Day: 83, Errors: 2,
					LastError: "imap: 认证失败（密码已过期？）", Quarantined: 1},
				{Kind: ingest.ChannelHotline, Name: "rexian-12315", LastSuccess: now.Add(-3 * time.Hour), Day: 40, Silent: true, Errors: 5,
					Refused:   map[string]int{"字段“来电号码”有误": 3, "字段“投诉内容”有误": 1, "整个文件被退回": 1},
					LastError: "文件 夜班0612.csv 有 4 行被拒，见 processed/夜班0612.csv.rejected.csv"},
				{Kind: ingest.ChannelWebForm},
			}},
		{Process: "tousu-idx-1/9/b", Host: "tousu-idx-1", PID: 9, Targets: []string{"indexer"}, Version: "v1.4.1", Started: now.Add(-2 * time.Hour),
			At: now.Add(-45 * time.Second), Every: 10 * time.Second},
		{Process: "tousu-rt-0/31/c", Host: "tousu-rt-0", PID: 31, Targets: []string{"router"}, Version: "v1.4.1", Started: now.Add(-5 * time.Hour),
			At: now.Add(-20 * time.Minute), Every: 10 * time.Second, Stopped: true},
	} {
		b.V = ops.BeatVersion
		if err := d.Follow(context.Background(), beatMessage(t, b)); err != nil {
			t.Fatal(err)
		}
	}
	lag := func(context.Context) []ops.GroupLag {
		return []ops.GroupLag{
			{Group: "tousu-indexer", Topic: "cases", Members: 0, Total: 42, Partitions: map[int]int64{0: 30, 1: 12}, Oldest: now.Add(-150 * time.Second),
				Details: []ops.PartitionLag{{Partition: 0, Lag: 30, End: 1030, Oldest: now.Add(-150 * time.Second)}, {Partition: 1, Lag: 12, End: 512, Oldest: now.Add(-40 * time.Second)}}},
			{Group: "tousu-router", Topic: "complaints.normalized", Members: 2, Partitions: map[int]int64{0: 0}, Details: []ops.PartitionLag{{Partition: 0, End: 2200}}},
			{Group: "tousu-batcher", Topic: "complaints.batch", Error: "unknown topic or partition"},
		}
	}
	history := ops.NewHistory(ops.HistorySize)
	history.Add(ops.Sample{At: now.Add(-15 * time.Second), Groups: []ops.GroupLag{{Group: "tousu-indexer", Topic: "cases",
		Details: []ops.PartitionLag{{Partition: 0, Lag: 0, End: 1000}, {Partition: 1, Lag: 0, End: 500}}}}})
	reach := map[string]httpapi.Check{
		"消息队列": func(context.Context) error { return nil },
		"搜索索引": func(context.Context) error { return errors.New("dial tcp 10.0.3.7:9200: connect: connection refused") },
	}
	NewOpsPage(OpsDeps{Templates: e.sessions.tpl, RequirePage: e.sessions.RequirePage(), CSRFToken: CSRFToken, Lag: lag, History: history,
		Deployment: d, Reach: reach, Logger: zap.NewNop(), Now: e.clock.now}).Mount(e.app)

	b := &browser{tb: t, app: e.app, cookies: map[string]string{}, ip: "203.0.113.9"}
	if a := b.signIn("qian.ops", "运维Qian-2024-pass", ""); a.code != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", a.code)
	}
	a := b.do(http.MethodGet, PathOps, nil)
	if a.code != http.StatusOK {
		t.Fatalf("GET %s = %d %.300s", PathOps, a.code, a.body)
	}
	for _, want := range []string{
		`aria-current="page">运维监控</a>`,
		`href="/console/ops/dlq">死信队列</a>`,
		`消息队列：<span class="ok">正常</span>`,
		`搜索索引：<span class="err">不可达</span> <span class="muted">dial tcp 10.0.3.7:9200: connect: connection refused</span>`,
		// 42 written and 0 read in 15 s; nobody consumes the indexer's group.
		`<th scope="row">tousu-indexer</th><td data-label="主题">cases</td><td class="num err" data-members="0" data-label="消费者">无消费者</td><td class="num" data-label="写入/秒">2.8</td><td class="num" data-label="处理/秒">0.0</td><td class="num warn" data-total="42" data-label="积压">42</td><td data-label="最早未处理">2 分 30 秒前</td>`,
		`<summary>2 个分区：0 号 30 条，1 号 12 条</summary>`,
		`<tr><td class="num">0</td><td class="num">30</td><td class="num">1030</td><td>2 分 30 秒前</td></tr><tr><td class="num">1</td><td class="num">12</td><td class="num">512</td><td>40 秒前</td></tr>`,
		`<th scope="row">tousu-router</th><td data-label="主题">complaints.normalized</td><td class="num" data-members="2" data-label="消费者">2</td><td class="num" data-label="写入/秒">—</td><td class="num" data-label="处理/秒">—</td><td class="num" data-total="0" data-label="积压">0</td><td data-label="最早未处理"></td>`,
		`查询失败：unknown topic or partition`,
		`邮箱 <span class="muted">kefu-163</span>`,
		`imap: 认证失败（密码已过期？）`,
		`热线文件夹 <span class="muted">rexian-12315</span></th>
<td class="nowrap" data-label="状态"><span class="warn">沉默</span></td>`,
		`<td class="num wide err" data-label="错误">5<ul class="refused"><li>字段“来电号码”有误 3</li><li>字段“投诉内容”有误 1</li><li>整个文件被退回 1</li></ul><div class="excerpt">文件 夜班0612.csv 有 4 行被拒，见 processed/夜班0612.csv.rejected.csv</div></td>`,
		`网页表单</th>
<td class="nowrap" data-label="状态"><span class="ok">正常</span></td>
<td data-label="最近成功"><span class="muted">从未</span></td>`,
		`<tr class="lost"><th scope="row">tousu-idx-1 <span class="muted">进程 9</span></th><td class="nowrap" data-label="状态"><span class="err">失联</span></td><td class="wide" data-label="运行组件">indexer</td><td class="nowrap" data-label="版本">v1.4.1</td>`,
		`<td class="wide" data-label="运行组件">gateway、poller</td><td class="nowrap" data-label="版本">v1.4.2</td>`,
		`<tr class="lost"><th scope="row">tousu-rt-0 <span class="muted">进程 31</span></th><td class="nowrap" data-label="状态"><span class="muted">已停止</span></td><td class="wide" data-label="运行组件">router</td>`,
		`<td class="nowrap" data-label="最近心跳">45 秒前</td>`,
		`已有 1 个样本`,
		`&#34;name&#34;:&#34;tousu-indexer · cases 积压&#34;`,
	} {
		if !strings.Contains(a.body, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
}

// beatMessage is the record of beat b on the heartbeat topic.
func beatMessage(tb testing.TB, b ops.Beat) bus.Message {
	tb.Helper()
	v, err := json.Marshal(b)
	if err != nil {
		tb.Fatal(err)
	}
	return bus.Message{Topic: bus.TopicHeartbeat, Key: []byte(b.Process), Value: v}
}
