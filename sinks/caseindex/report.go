package caseindex

import (
	"context"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Groupings and intervals of an SLA report.
var (
	SLAGroups    = []string{"category", "department", "channel", "pack"}
	SLAIntervals = []string{"day", "week", "month"}
)

// MaxSLADays bounds the period of an SLA report.
const MaxSLADays = 366

// SLAQuery asks for the SLA figures of the cases received in [From, To)
// (midnights in China Standard Time), one row per value of the filter
// GroupBy, and a trend by Interval.
type SLAQuery struct {
	From, To time.Time
	GroupBy  string
	Interval string
	// Scope limits the figures to the cases a person may see; nil counts
	// every case. Only code sets it.
	Scope *Scope
}

// ParseSLAQuery reads the report API's URL parameters: from and to, dates
// 2006-01-02 in China Standard Time where to includes its day (default:
// the month of now so far); group_by, one of SLAGroups (default
// category); interval, one of SLAIntervals (default day). Other
// parameters named in extra (such as format) are allowed and left to the
// caller; any other is a *ParamError, as is every error.
func ParseSLAQuery(values url.Values, now time.Time, extra ...string) (SLAQuery, error) {
	known := append([]string{"from", "to", "group_by", "interval"}, extra...)
	for name, vs := range values {
		if !slices.Contains(known, name) {
			return SLAQuery{}, unknownParam(name, known)
		}
		if len(vs) > 1 {
			return SLAQuery{}, paramErr(name, "参数只能出现一次")
		}
	}
	day := func(name string, def time.Time) (time.Time, error) {
		v := strings.TrimSpace(values.Get(name))
		if v == "" {
			return def, nil
		}
		t, err := time.ParseInLocation(time.DateOnly, v, chinaTime)
		if err != nil || t.Year() < 1700 || t.Year() > 2200 {
			return time.Time{}, paramErr(name, "日期格式无效，请使用 2006-01-02 格式")
		}
		return t, nil
	}
	today := now.In(chinaTime)
	monthStart := time.Date(today.Year(), today.Month(), 1, 0, 0, 0, 0, chinaTime)
	from, err := day("from", monthStart)
	if err != nil {
		return SLAQuery{}, err
	}
	last, err := day("to", time.Date(today.Year(), today.Month(), today.Day(), 0, 0, 0, 0, chinaTime))
	if err != nil {
		return SLAQuery{}, err
	}
	q := SLAQuery{From: from, To: last.AddDate(0, 0, 1), GroupBy: values.Get("group_by"), Interval: values.Get("interval")}
	return q.Normalize()
}

// Normalize fills in the defaults (group by category, a daily trend) and
// checks q: From before To, at most MaxSLADays days, a known grouping and
// interval. Every error is a *ParamError.
func (q SLAQuery) Normalize() (SLAQuery, error) {
	if q.GroupBy == "" {
		q.GroupBy = "category"
	}
	if q.Interval == "" {
		q.Interval = "day"
	}
	switch {
	case !slices.Contains(SLAGroups, q.GroupBy):
		return SLAQuery{}, paramErr("group_by", "未知的分组方式，可选值：%s", strings.Join(SLAGroups, "、"))
	case !slices.Contains(SLAIntervals, q.Interval):
		return SLAQuery{}, paramErr("interval", "未知的统计周期，可选值：%s", strings.Join(SLAIntervals, "、"))
	case q.From.IsZero() || q.To.IsZero() || !q.From.Before(q.To):
		return SLAQuery{}, paramErr("to", "结束日期不能早于开始日期")
	case q.To.Sub(q.From) > MaxSLADays*24*time.Hour:
		return SLAQuery{}, paramErr("to", "统计期间最长 %d 天", MaxSLADays)
	}
	return q, nil
}

// Durations are the working times of the cases that have one.
type Durations struct {
	// Count is how many cases have the time.
	Count int `json:"count"`
	// AvgHours is their exact mean in working hours (from whole minutes).
	AvgHours float64 `json:"avg_hours"`
	// P90Hours is the upper edge of the DurationEdges bucket holding the
	// 90th percentile case; nil when there is none or when it lies above
	// the last edge (P90Over).
	P90Hours *float64 `json:"p90_hours"`
	P90Over  bool     `json:"p90_over,omitempty"`
}

// Figures are the SLA figures of a set of cases: a group, a period of the
// trend or the whole report. A rate is nil when its denominator is zero.
type Figures struct {
	// Key is the group's value or the period's first day; empty for the
	// whole report.
	Key            string    `json:"key"`
	Received       int       `json:"received"`
	Valid          int       `json:"valid"`
	Invalid        int       `json:"invalid"`
	Resolved       int       `json:"resolved"`
	ResolvedOnTime int       `json:"resolved_on_time"`
	OnTimeRate     *float64  `json:"on_time_rate"` // 及时率: ResolvedOnTime / Resolved
	Breached       int       `json:"breached"`
	Reply          Durations `json:"reply"`
	Resolve        Durations `json:"resolve"`
	Repeats        int       `json:"repeats"`
	RepeatRate     *float64  `json:"repeat_rate"` // 重复投诉率: Repeats / Received
	Batches        int       `json:"batches"`     // distinct batch incidents
	FollowUps      int       `json:"follow_ups"`
	Satisfied      int       `json:"satisfied"`
	SatisfiedRate  *float64  `json:"satisfied_rate"` // 满意率: Satisfied / FollowUps
}

// FiguresFromCounts computes the figures of the cases whose SLAField
// values were counted in counts.
func FiguresFromCounts(key string, counts map[string]int) Figures {
	f := Figures{
		Key: key, Received: counts[FactReceived], Valid: counts[FactValid], Invalid: counts[FactInvalid],
		Resolved: counts[FactResolved], ResolvedOnTime: counts[FactOnTime], Breached: counts[FactBreached],
		Repeats: counts[FactRepeat], Satisfied: counts[FactSatisfied],
		Reply: durations(factReplyPrefix, counts), Resolve: durations(factResolvePrefix, counts),
	}
	f.FollowUps = f.Satisfied + counts[FactUnsatisfied]
	for v := range counts {
		if strings.HasPrefix(v, factBatch) {
			f.Batches++
		}
	}
	f.OnTimeRate = rate(f.ResolvedOnTime, f.Resolved)
	f.RepeatRate = rate(f.Repeats, f.Received)
	f.SatisfiedRate = rate(f.Satisfied, f.FollowUps)
	return f
}

func rate(n, of int) *float64 {
	if of == 0 {
		return nil
	}
	r := float64(n) / float64(of)
	return &r
}

// durations reads the working times of prefix from the bit and bucket
// counts.
func durations(prefix string, counts map[string]int) Durations {
	d := Durations{Count: counts[prefix]}
	if d.Count == 0 {
		return d
	}
	var minutes float64
	for k := 0; k < 64; k++ {
		minutes += math.Ldexp(float64(counts[prefix+factBitSuffix+strconv.Itoa(k)]), k)
	}
	d.AvgHours = minutes / float64(d.Count) / 60
	need := int(math.Ceil(0.9 * float64(d.Count)))
	seen := 0
	for _, e := range DurationEdges {
		seen += counts[prefix+factBucketSuffix+formatEdge(e)]
		if seen >= need {
			d.P90Hours = &e
			return d
		}
	}
	d.P90Over = true
	return d
}

// SLAReport is an SLA report: the figures of the whole period, of each
// group (by received cases, most first, at most MaxSLAGroups) and of each
// period of the trend.
type SLAReport struct {
	From     string    `json:"from"` // first day
	To       string    `json:"to"`   // last day, included
	GroupBy  string    `json:"group_by"`
	Interval string    `json:"interval"`
	Total    Figures   `json:"total"`
	Groups   []Figures `json:"groups"`
	Trend    []Figures `json:"trend"`
}

// MaxSLAGroups bounds the rows of a report's groups.
const MaxSLAGroups = 100

// Counter counts the SLAField values of the cases matching a query
// (Text, Filters, From, To and Scope; paging and sort are ignored). Both
// backends implement it with one aggregation; it is safe for concurrent use
// and blocks until done or ctx ends.
type Counter interface {
	SLACounts(ctx context.Context, q Query) (map[string]int, error)
}

// BuildSLA computes the report for q with the counts of idx: one count for
// the period, one per group and one per period of the trend; no case is
// read.
func BuildSLA(ctx context.Context, idx Counter, q SLAQuery) (SLAReport, error) {
	q, err := q.Normalize()
	if err != nil {
		return SLAReport{}, err
	}
	base := Query{From: q.From, To: q.To, Scope: q.Scope}
	r := SLAReport{From: q.From.Format(time.DateOnly), To: q.To.AddDate(0, 0, -1).Format(time.DateOnly),
		GroupBy: q.GroupBy, Interval: q.Interval, Groups: []Figures{}, Trend: []Figures{}}
	counts, err := idx.SLACounts(ctx, base)
	if err != nil {
		return SLAReport{}, err
	}
	r.Total = FiguresFromCounts("", counts)
	for _, key := range groupKeys(counts, q.GroupBy) {
		g := base
		g.Filters = map[string]string{q.GroupBy: key}
		counts, err := idx.SLACounts(ctx, g)
		if err != nil {
			return SLAReport{}, err
		}
		r.Groups = append(r.Groups, FiguresFromCounts(key, counts))
	}
	for start := q.From; start.Before(q.To); {
		end := nextPeriod(start, q.Interval)
		p := Query{From: start, To: minTime(end, q.To), Scope: q.Scope}
		counts, err := idx.SLACounts(ctx, p)
		if err != nil {
			return SLAReport{}, err
		}
		r.Trend = append(r.Trend, FiguresFromCounts(start.Format(time.DateOnly), counts))
		start = end
	}
	return r, nil
}

// groupKeys are the values of the filter group in counts, most cases
// first (on a tie in byte order), at most MaxSLAGroups.
func groupKeys(counts map[string]int, group string) []string {
	prefix := group + "="
	var keys []string
	for v := range counts {
		if k, ok := strings.CutPrefix(v, prefix); ok {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b string) int {
		if c := counts[prefix+b] - counts[prefix+a]; c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	if len(keys) > MaxSLAGroups {
		keys = keys[:MaxSLAGroups]
	}
	return keys
}

// nextPeriod is the start of the day, ISO week (from Monday) or month
// after the one holding t, a midnight in China Standard Time.
func nextPeriod(t time.Time, interval string) time.Time {
	t = t.In(chinaTime)
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, chinaTime)
	switch interval {
	case "week":
		return day.AddDate(0, 0, 7-(int(day.Weekday())+6)%7)
	case "month":
		return time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, chinaTime)
	}
	return day.AddDate(0, 0, 1)
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
