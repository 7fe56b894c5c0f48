package metrics

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

const ns = "fleetproof_collector"

// Metrics holds every collector metric on its own registry, so several
// collectors in one test process do not collide.
type Metrics struct {
	reg *prometheus.Registry

	envelopes      prometheus.Counter
	results        prometheus.Counter
	deadLetters    *prometheus.CounterVec
	batchMessages  prometheus.Histogram
	batchResults   prometheus.Histogram
	insertSeconds  prometheus.Histogram
	insertFailures prometheus.Counter
	enrollments    *prometheus.CounterVec
	pending        prometheus.Gauge
	ackPending     prometheus.Gauge
}

// New creates and registers the metrics.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	f := func(c prometheus.Collector) { m.reg.MustRegister(c) }
	m.envelopes = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "envelopes_ingested_total",
		Help: "Envelopes verified and stored."})
	m.results = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "results_ingested_total",
		Help: "Check results stored."})
	m.deadLetters = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "dead_letters_total",
		Help: "Messages refused and recorded as dead letters, by reason."}, []string{"reason"})
	m.batchMessages = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "batch_messages",
		Help: "Messages per ingest batch.", Buckets: prometheus.ExponentialBuckets(1, 2, 14)})
	m.batchResults = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "batch_results",
		Help: "Results per ClickHouse insert.", Buckets: prometheus.ExponentialBuckets(1, 4, 10)})
	m.insertSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "insert_seconds",
		Help: "Latency of storing one batch in ClickHouse.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)})
	m.insertFailures = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "insert_failures_total",
		Help: "Batches that could not be stored and were left in JetStream for retry."})
	m.enrollments = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "enrollments_total",
		Help: "Enrollment requests by outcome."}, []string{"outcome"})
	m.pending = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "consumer_pending_messages",
		Help: "Messages in the stream not yet delivered to the shared consumer (ingest lag)."})
	m.ackPending = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "consumer_ack_pending_messages",
		Help: "Messages delivered but not yet acknowledged."})
	for _, c := range []prometheus.Collector{m.envelopes, m.results, m.deadLetters, m.batchMessages, m.batchResults,
		m.insertSeconds, m.insertFailures, m.enrollments, m.pending, m.ackPending,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		f(c)
	}
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// ObserveBatch records one stored batch.
func (m *Metrics) ObserveBatch(messages, envelopes, results int, took time.Duration) {
	m.batchMessages.Observe(float64(messages))
	m.batchResults.Observe(float64(results))
	m.insertSeconds.Observe(took.Seconds())
	m.envelopes.Add(float64(envelopes))
	m.results.Add(float64(results))
}

// ObserveInsertFailure records a batch left for retry.
func (m *Metrics) ObserveInsertFailure() { m.insertFailures.Inc() }

// ObserveDeadLetter records one refused message.
func (m *Metrics) ObserveDeadLetter(reason string) { m.deadLetters.WithLabelValues(reason).Inc() }

// ObserveEnrollment records an enrollment outcome (enrolled, refused_secret, ...).
func (m *Metrics) ObserveEnrollment(outcome string) { m.enrollments.WithLabelValues(outcome).Inc() }

// ConsumerInfo is what the lag gauges need from JetStream.
type ConsumerInfo func(ctx context.Context) (pending uint64, ackPending int, err error)

// WatchConsumer refreshes the lag gauges every interval until ctx ends.
func (m *Metrics) WatchConsumer(ctx context.Context, info ConsumerInfo, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if p, a, err := info(ctx); err == nil {
			m.pending.Set(float64(p))
			m.ackPending.Set(float64(a))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
