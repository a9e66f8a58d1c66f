package alertsink

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the Prometheus metrics of a Dispatcher.
type metrics struct {
	deliveries *prometheus.CounterVec
	seconds    *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer, sinks []string) (metrics, error) {
	m := metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tousu_alert_deliveries_total",
			Help: "Alert notices by sink and outcome: delivered, failed (transient, retried), rejected (permanent, dead-lettered) and filtered (not for this sink).",
		}, []string{"sink", "outcome"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tousu_alert_delivery_duration_seconds",
			Help:    "Time one sink took to deliver (or fail to deliver) an alert notice.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12),
		}, []string{"sink"}),
	}
	for _, s := range sinks {
		for _, outcome := range []string{"delivered", "failed", "rejected"} {
			m.deliveries.WithLabelValues(s, outcome)
		}
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.deliveries, m.seconds} {
		if err := reg.Register(c); err != nil {
			return m, fmt.Errorf("alertsink: register metrics: %w", err)
		}
	}
	return m, nil
}
