package console

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"go.uber.org/zap"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/services/httpapi"
	"github.com/tousu/tousu/services/ops"
)

// PathOps is the operations page.
const PathOps = Path + "/ops"

// OpsDeps is what the operations page reads.
type OpsDeps struct {
	Templates   *Templates
	RequirePage fiber.Handler
	CSRFToken   func(*fiber.Ctx) string
	// Lag asks the broker for the pipeline's lag; History is this
	// replica's sampled hour of it.
	Lag     httpapi.LagSource
	History *ops.History
	// Deployment is the deployment as the heartbeats tell it.
	Deployment *ops.Deployment
	// Reach checks the broker and the index, by their Chinese names.
	Reach  map[string]httpapi.Check
	Logger *zap.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// OpsPage is the operations page: the pipeline's lag with an hour's chart,
// the intake channels' health, the processes of the deployment and the
// reachability of the broker and the index. Ops and admins see it.
type OpsPage struct{ d OpsDeps }

// NewOpsPage returns the operations page over d.
func NewOpsPage(d OpsDeps) *OpsPage {
	if d.Now == nil {
		d.Now = time.Now
	}
	return &OpsPage{d: d}
}

// Mount registers GET /console/ops.
func (o *OpsPage) Mount(app fiber.Router) {
	app.Get(PathOps, o.d.RequirePage, o.show)
}

// opsView is the page's data.
type opsView struct {
	Reach     []reachView
	Lag       []lagRow
	Channels  []channelRow
	Processes []processRow
	// Chart is the sampled hour as the chart script reads it (JSON).
	Chart string
	// Sampled says how much history this replica has.
	Sampled string
	At      string
}

type reachView struct {
	Name, Error string
	OK          bool
}

// lagRow is a group's topic with its partitions.
type lagRow struct {
	Group, Topic string
	Members      int
	Total        int64
	In, Out      string
	Oldest       string
	Error        string
	// Stalled: records wait and no consumer is attached.
	Stalled bool
	// Lagging names the partitions that lag, for the summary.
	Lagging    string
	Partitions []partitionRow
}

// partitionRow is one partition of a group's topic.
type partitionRow struct {
	Partition int
	Lag, End  int64
	Oldest    string
}

type channelRow struct {
	Kind, Name, LastSuccess, Process, LastError string
	// Refused is what the channel refused, by class, most first.
	Refused                        []countView
	Hour, Day, Errors, Quarantined int
	Silent, Lost, Stopped, Never   bool
}

type processRow struct {
	Host, Targets, Version, Started, LastBeat, Process string
	PID                                                int
	Lost, Stopped                                      bool
}

// show renders the page; ops and admins only.
func (o *OpsPage) show(c *fiber.Ctx) error {
	who := httpapi.PrincipalOf(c)
	if !who.Role.RunsPipeline() {
		return o.d.Templates.Render(c, fiber.StatusForbidden, "notice", Page{Title: "无权访问", User: who, CSRF: o.d.CSRFToken(c),
			Data: message{Text: "运维页面仅对运维和管理员账号开放。", Code: "forbidden"}})
	}
	now := o.d.Now()
	ctx, cancel := context.WithTimeout(c.UserContext(), 5*time.Second)
	defer cancel()
	view := opsView{Reach: o.reach(ctx), At: now.In(chinaTime).Format("15:04:05")}
	current := httpapi.CurrentLag(ctx, o.d.Lag, o.d.History, now)
	view.Lag = lagRows(current, now)
	for _, ch := range o.d.Deployment.Channels(now) {
		view.Channels = append(view.Channels, channelRow{Kind: channelKind(ch.Kind), Name: ch.Name, LastSuccess: when(ch.LastSuccess),
			Never: ch.LastSuccess.IsZero(), Process: ch.Process, LastError: ch.LastError, Hour: ch.Hour, Day: ch.Day,
			Errors: ch.Errors, Refused: counts(ch.Refused, noLink), Quarantined: ch.Quarantined, Silent: ch.Silent, Lost: ch.Lost, Stopped: ch.Stopped})
	}
	for _, p := range o.d.Deployment.Processes(now) {
		view.Processes = append(view.Processes, processRow{Host: p.Host, PID: p.PID, Targets: strings.Join(p.Targets, "、"),
			Version: p.Version, Started: when(p.Started), LastBeat: ago(now.Sub(p.At)), Process: p.Process, Lost: p.Lost, Stopped: p.Stopped})
	}
	var samples []ops.Sample
	if o.d.History != nil {
		samples = o.d.History.Samples()
	}
	chart, err := chartData(samples)
	if err != nil {
		return err
	}
	view.Chart = chart
	view.Sampled = fmt.Sprintf("本副本每 %d 秒采样一次，保留最近一小时；已有 %d 个样本。", int(ops.SampleEvery.Seconds()), len(samples))
	return o.d.Templates.Render(c, fiber.StatusOK, "ops", Page{Title: "运维监控", Nav: "ops", User: who, CSRF: o.d.CSRFToken(c), Data: view})
}

// reach checks the broker and the index.
func (o *OpsPage) reach(ctx context.Context) []reachView {
	names := make([]string, 0, len(o.d.Reach))
	for name := range o.d.Reach {
		names = append(names, name)
	}
	slices.Sort(names)
	out := make([]reachView, 0, len(names))
	for _, name := range names {
		r := reachView{Name: name, OK: true}
		if err := o.d.Reach[name](ctx); err != nil {
			r.OK, r.Error = false, err.Error()
			o.d.Logger.Warn("unreachable", zap.String("what", name), zap.Error(err))
		}
		out = append(out, r)
	}
	return out
}

// lagRows lays the sample out in rows, one per group and topic.
func lagRows(s ops.Sample, now time.Time) []lagRow {
	out := make([]lagRow, 0, len(s.Groups))
	for _, g := range s.Groups {
		row := lagRow{Group: g.Group, Topic: g.Topic, Members: g.Members, Total: g.Total, In: rate(g.InPerSec), Out: rate(g.OutPerSec),
			Error: g.Error, Stalled: g.Members == 0 && g.Total > 0}
		if !g.Oldest.IsZero() {
			row.Oldest = ago(now.Sub(g.Oldest))
		}
		var lagging []string
		for _, p := range g.Details {
			pr := partitionRow{Partition: p.Partition, Lag: p.Lag, End: p.End}
			if !p.Oldest.IsZero() {
				pr.Oldest = ago(now.Sub(p.Oldest))
			}
			if p.Lag > 0 {
				lagging = append(lagging, fmt.Sprintf("%d 号 %d 条", p.Partition, p.Lag))
			}
			row.Partitions = append(row.Partitions, pr)
		}
		row.Lagging = strings.Join(lagging, "，")
		out = append(out, row)
	}
	return out
}

// rate shows records per second; "—" before there is a rate.
func rate(r *float64) string {
	if r == nil {
		return "—"
	}
	return strconv.FormatFloat(*r, 'f', 1, 64)
}

// ago says how long ago, in Chinese, to the second.
func ago(d time.Duration) string {
	d = max(d, 0).Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d 秒前", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d 分 %d 秒前", int(d.Minutes()), int(d.Seconds())%60)
	default:
		return fmt.Sprintf("%d 小时 %d 分前", int(d.Hours()), int(d.Minutes())%60)
	}
}

// channelKind names a channel in Chinese.
func channelKind(k ingest.Channel) string {
	switch k {
	case ingest.ChannelEmail:
		return "邮箱"
	case ingest.ChannelHotline:
		return "热线文件夹"
	case ingest.ChannelWebhook:
		return "Webhook 来源"
	case ingest.ChannelWebForm:
		return "网页表单"
	case ingest.ChannelAPI:
		return "接入 API"
	}
	return string(k)
}

// chartSeries is one line of the charts.
type chartSeries struct {
	Name string   `json:"name"`
	Data [][2]any `json:"data"`
}

// chartData is the sampled hour as the chart script reads it: the lag of
// each group and topic, and the records written to each topic and
// processed by each group per second.
func chartData(samples []ops.Sample) (string, error) {
	var lag, rates []chartSeries
	index := map[string]int{}
	add := func(list *[]chartSeries, name string, at time.Time, v any) {
		k := fmt.Sprintf("%p %s", list, name)
		i, ok := index[k]
		if !ok {
			i = len(*list)
			index[k] = i
			*list = append(*list, chartSeries{Name: name})
		}
		(*list)[i].Data = append((*list)[i].Data, [2]any{at.UnixMilli(), v})
	}
	for _, s := range samples {
		written := map[string]bool{}
		for _, g := range s.Groups {
			if g.Error != "" {
				continue
			}
			add(&lag, g.Key()+" 积压", s.At, g.Total)
			if g.OutPerSec != nil {
				add(&rates, g.Key()+" 处理/秒", s.At, *g.OutPerSec)
			}
			if g.InPerSec != nil && !written[g.Topic] {
				written[g.Topic] = true
				add(&rates, g.Topic+" 写入/秒", s.At, *g.InPerSec)
			}
		}
	}
	b, err := json.Marshal(map[string]any{"lag": lag, "rates": rates})
	if err != nil {
		return "", err
	}
	return string(b), nil
}
