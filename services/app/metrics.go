package app

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Metric is one metric a process declares: its name, type, variable
// labels and help text, as registered.
type Metric struct {
	Name, Type, Help string
	Labels           []string
}

// registry is the process's Prometheus registry; it also remembers every
// metric ever registered with it, series or not, so that the README's
// table of metrics can be generated from what the code declares (a
// labelled metric without series yet does not appear in Gather).
// Unregistering does not forget a metric. It is safe for concurrent use.
type registry struct {
	*prometheus.Registry
	mu       sync.Mutex
	declared map[string]Metric
}

func newRegistry() *registry {
	return &registry{Registry: prometheus.NewRegistry(), declared: map[string]Metric{}}
}

// Register registers c and remembers its metrics.
func (r *registry) Register(c prometheus.Collector) error {
	if err := r.Registry.Register(c); err != nil {
		return err
	}
	types := collectedTypes(c)
	descs := make(chan *prometheus.Desc)
	go func() { c.Describe(descs); close(descs) }()
	r.mu.Lock()
	defer r.mu.Unlock()
	for d := range descs {
		m := describe(d)
		if m.Type = vecType(c); m.Type == "" {
			m.Type = types[d]
		}
		r.declared[m.Name] = m
	}
	return nil
}

// MustRegister registers cs with Register and panics on an error, as
// prometheus.Registry.MustRegister does.
func (r *registry) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

// Metrics returns the metrics whose names start with prefix, by name.
func (r *registry) Metrics(prefix string) []Metric {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Metric
	for _, name := range slices.Sorted(maps.Keys(r.declared)) {
		if strings.HasPrefix(name, prefix) {
			out = append(out, r.declared[name])
		}
	}
	return out
}

// descPattern reads a Desc's name, help and variable labels from its
// String form, the only way client_golang shows them.
var descPattern = regexp.MustCompile(`^Desc\{fqName: ("(?:[^"\\]|\\.)*"), help: ("(?:[^"\\]|\\.)*"), .*variableLabels: \{([^}]*)\}\}$`)

func describe(d *prometheus.Desc) Metric {
	s := d.String()
	sub := descPattern.FindStringSubmatch(s)
	if sub == nil {
		return Metric{Name: s}
	}
	name, _ := strconv.Unquote(sub[1])
	help, _ := strconv.Unquote(sub[2])
	var labels []string
	if sub[3] != "" {
		labels = strings.Split(sub[3], ",")
	}
	return Metric{Name: name, Help: help, Labels: labels}
}

// vecType names the Prometheus type of a labelled metric, or "" when c
// is not one.
func vecType(c prometheus.Collector) string {
	switch c.(type) {
	case *prometheus.CounterVec:
		return "counter"
	case *prometheus.GaugeVec:
		return "gauge"
	case *prometheus.HistogramVec:
		return "histogram"
	case *prometheus.SummaryVec:
		return "summary"
	}
	return ""
}

// collectedTypes names the Prometheus type of each metric c collects now,
// by its Desc.
func collectedTypes(c prometheus.Collector) map[*prometheus.Desc]string {
	ch := make(chan prometheus.Metric)
	go func() { c.Collect(ch); close(ch) }()
	types := map[*prometheus.Desc]string{}
	for m := range ch {
		var pb dto.Metric
		if m.Write(&pb) != nil {
			continue
		}
		switch {
		case pb.Counter != nil:
			types[m.Desc()] = "counter"
		case pb.Gauge != nil:
			types[m.Desc()] = "gauge"
		case pb.Histogram != nil:
			types[m.Desc()] = "histogram"
		case pb.Summary != nil:
			types[m.Desc()] = "summary"
		default:
			types[m.Desc()] = "untyped"
		}
	}
	return types
}

// MetricsTable is the README's table of metrics: one row per metric in
// metrics, with its type, labels and help text.
func MetricsTable(metrics []Metric) string {
	var b strings.Builder
	b.WriteString("| metric | type | labels | meaning |\n| --- | --- | --- | --- |\n")
	for _, m := range metrics {
		labels := "—"
		if len(m.Labels) > 0 {
			labels = "`" + strings.Join(m.Labels, "`, `") + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", m.Name, m.Type, labels, strings.ReplaceAll(m.Help, "|", `\|`))
	}
	return b.String()
}
