package csvdrop

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the watcher's Prometheus collectors, labelled by folder.
type metrics struct {
	files         *prometheus.CounterVec
	rows          *prometheus.CounterVec
	publishErrors *prometheus.CounterVec
	seconds       *prometheus.HistogramVec
	waiting       *prometheus.GaugeVec
	pruned        *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, folders []string) (*metrics, error) {
	m := &metrics{
		files: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tousu_csvdrop_files_total",
			Help: "Hotline CSV files taken, by folder and outcome: processed (moved to processed/) or failed (moved to failed/).",
		}, []string{"folder", "outcome"}),
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tousu_csvdrop_rows_total",
			Help: "Hotline CSV rows by folder and outcome: published (acknowledged by the broker), duplicate, rejected.",
		}, []string{"folder", "outcome"}),
		publishErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tousu_csvdrop_publish_errors_total",
			Help: "Rows the broker did not acknowledge; their file stays in the folder and is retried.",
		}, []string{"folder"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tousu_csvdrop_file_duration_seconds",
			Help:    "Time from taking a hotline CSV file to moving it to processed/.",
			Buckets: prometheus.ExponentialBuckets(0.01, 3, 10),
		}, []string{"folder"}),
		waiting: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tousu_csvdrop_files_waiting",
			Help: "Files in a drop folder not taken yet: incomplete, or backing off after an error.",
		}, []string{"folder"}),
		pruned: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tousu_csvdrop_ledger_pruned_total",
			Help: "Row ids the folder's ledger forgot because they were acknowledged more than dedupe_window ago; such a row dropped again is published again.",
		}, []string{"folder"}),
	}
	for _, f := range folders {
		for _, o := range []string{OutcomeProcessed, OutcomeFailed} {
			m.files.WithLabelValues(f, o)
		}
		for _, o := range []string{"published", "duplicate", "rejected"} {
			m.rows.WithLabelValues(f, o)
		}
		m.publishErrors.WithLabelValues(f)
		m.waiting.WithLabelValues(f)
		m.pruned.WithLabelValues(f)
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.files, m.rows, m.publishErrors, m.seconds, m.waiting, m.pruned} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("csvdrop: register metrics: %w", err)
		}
	}
	return m, nil
}
