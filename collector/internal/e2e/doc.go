// Package e2e holds the end-to-end test of the evidence path: the real
// agent binary runs its checks and publishes through the collector's
// embedded NATS into a real ClickHouse, and posture reads them back.
package e2e
