package bus

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// register registers c with reg and returns the collector to use: c, or
// the identical collector registered earlier (several consumers and
// producers of one process share one set of metrics). A nil reg registers
// nothing.
func register[T prometheus.Collector](reg prometheus.Registerer, c T) (T, error) {
	if reg == nil {
		return c, nil
	}
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(T); ok {
			return existing, nil
		}
	}
	return c, fmt.Errorf("bus: register metrics: %w", err)
}

// producerMetrics are the metrics of a Producer.
type producerMetrics struct {
	messages *prometheus.CounterVec
	errors   *prometheus.CounterVec
	latency  prometheus.Histogram
}

func newProducerMetrics(reg prometheus.Registerer) (*producerMetrics, error) {
	var m producerMetrics
	var err, e error
	m.messages, e = register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tousu_producer_messages_total",
		Help: "Messages acknowledged by the broker, by topic.",
	}, []string{"topic"}))
	err = errors.Join(err, e)
	m.errors, e = register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tousu_producer_errors_total",
		Help: "Messages whose write failed, by topic.",
	}, []string{"topic"}))
	err = errors.Join(err, e)
	m.latency, e = register(reg, prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "tousu_producer_write_duration_seconds",
		Help:    "Duration of Producer.Write calls until every message was acknowledged (acks=all) or failed.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}))
	err = errors.Join(err, e)
	return &m, err
}

// consumerMetrics are the metrics of a Consumer, labelled by group and topic.
type consumerMetrics struct {
	consumed     *prometheus.CounterVec
	committed    *prometheus.CounterVec
	deadLettered *prometheus.CounterVec
	retried      *prometheus.CounterVec
	errors       *prometheus.CounterVec
	duration     *prometheus.HistogramVec
}

func newConsumerMetrics(reg prometheus.Registerer) (*consumerMetrics, error) {
	labels := []string{"group", "topic"}
	counter := func(name, help string) (*prometheus.CounterVec, error) {
		return register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels))
	}
	var m consumerMetrics
	var err, e error
	m.consumed, e = counter("tousu_consumer_messages_consumed_total", "Messages fetched and handed to the handler (first attempt only).")
	err = errors.Join(err, e)
	m.committed, e = counter("tousu_consumer_messages_committed_total", "Messages whose offset was committed after handling or dead-lettering.")
	err = errors.Join(err, e)
	m.deadLettered, e = counter("tousu_consumer_messages_dead_lettered_total", "Messages rejected by the handler and written to complaints.dlq.")
	err = errors.Join(err, e)
	m.retried, e = counter("tousu_consumer_retries_total", "Handler attempts that failed transiently and were retried.")
	err = errors.Join(err, e)
	m.errors, e = register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tousu_consumer_errors_total",
		Help: "Broker-side consumer errors by kind (fetch, commit, dlq).",
	}, []string{"group", "topic", "kind"}))
	err = errors.Join(err, e)
	m.duration, e = register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "tousu_consumer_handle_duration_seconds",
		Help:    "Duration of one handler attempt.",
		Buckets: prometheus.DefBuckets,
	}, labels))
	err = errors.Join(err, e)
	return &m, err
}
