// Package serve runs the collector: ClickHouse (an existing one, or a
// local server it manages), NATS (embedded with JetStream, or an external
// cluster), the ingest loop, and the HTTP endpoints for enrollment and
// health. Run wires them together and takes them down in reverse order.
package serve
