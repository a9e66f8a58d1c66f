package imap

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the Prometheus metrics of a Reader, labelled by mailbox.
type metrics struct {
	seen, published, quarantined, ignored, errors *prometheus.CounterVec
	lastSuccess                                   *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer, mailboxes []string) (*metrics, error) {
	counter := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{"mailbox"})
	}
	m := &metrics{
		seen:        counter("tousu_imap_messages_seen_total", "Messages fetched from the mailbox (a message fetched again after a failure counts again)."),
		published:   counter("tousu_imap_messages_published_total", "Messages published as complaints and acknowledged to the server."),
		quarantined: counter("tousu_imap_messages_quarantined_total", "Messages that could not become a complaint and went to quarantine."),
		ignored:     counter("tousu_imap_messages_ignored_total", "Automatic messages (auto-replies, bounces, bulk, our own mail) recorded and acknowledged without a complaint."),
		errors:      counter("tousu_imap_errors_total", "Failed polls: connection, login, fetch, publish or acknowledgement errors."),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tousu_imap_last_success_timestamp_seconds",
			Help: "Unix time of the mailbox's last successful poll.",
		}, []string{"mailbox"}),
	}
	for _, name := range mailboxes {
		for _, c := range []*prometheus.CounterVec{m.seen, m.published, m.quarantined, m.ignored, m.errors} {
			c.WithLabelValues(name)
		}
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.seen, m.published, m.quarantined, m.ignored, m.errors, m.lastSuccess} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("imap: register metrics: %w", err)
		}
	}
	return m, nil
}
