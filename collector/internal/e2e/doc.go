// Package e2e holds the end-to-end test of the evidence path: the real
// agent binary runs its checks and publishes through the collector's
// embedded NATS into a real ClickHouse, and posture reads them back. The
// external-cluster tests run a standalone nats-server configured from the
// `nats-config` fragment, two collectors sharing it with copies of one key
// directory, and a device enrolled, publishing and revoked through it.
package e2e
