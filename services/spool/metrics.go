package spool

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the spool's counters; its depth, size and oldest age are
// read from the spool when scraped.
type metrics struct {
	spooled, relayed, refused, unreadable prometheus.Counter
}

// newMetrics registers the spool's metrics with reg (nil: none); depth
// tells the spool's state at scrape time.
func newMetrics(reg prometheus.Registerer, depth func() (int, time.Time, int64)) metrics {
	m := metrics{
		spooled: prometheus.NewCounter(prometheus.CounterOpts{Name: "tousu_spool_spooled_total",
			Help: "Submissions the gateway wrote to its spool because the broker did not take them in time (or older ones were still waiting)."}),
		relayed: prometheus.NewCounter(prometheus.CounterOpts{Name: "tousu_spool_relayed_total",
			Help: "Spooled submissions the broker acknowledged later."}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{Name: "tousu_spool_refused_total",
			Help: "Submissions refused (503) because the spool was full."}),
		unreadable: prometheus.NewCounter(prometheus.CounterOpts{Name: "tousu_spool_unreadable_total",
			Help: "Spooled files that no longer decoded and were moved aside into the spool's folder unreadable."}),
	}
	if reg == nil {
		return m
	}
	reg.MustRegister(m.spooled, m.relayed, m.refused, m.unreadable,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tousu_spool_depth",
			Help: "Submissions in the gateway's spool, waiting for the broker."},
			func() float64 { n, _, _ := depth(); return float64(n) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tousu_spool_bytes",
			Help: "Bytes of the submissions in the gateway's spool."},
			func() float64 { _, _, b := depth(); return float64(b) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tousu_spool_oldest_age_seconds",
			Help: "Age of the oldest submission in the gateway's spool; 0 when it is empty."},
			func() float64 {
				_, oldest, _ := depth()
				if oldest.IsZero() {
					return 0
				}
				return time.Since(oldest).Seconds()
			}))
	return m
}
