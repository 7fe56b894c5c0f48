// Package metrics defines the collector's Prometheus metrics (ingest rate,
// batch sizes, insert latency, dead letters, consumer lag, enrollments)
// and serves them on /metrics with the Go and process collectors.
package metrics
