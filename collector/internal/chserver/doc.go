// Package chserver runs a local clickhouse-server as a child process.
//
// The collector uses it when no ClickHouse DSN is configured, so a single
// host install works without operating a database separately (the same way
// it embeds NATS). The test harness in chtest uses the same code, so tests
// exercise the server configuration that ships.
//
// Both Debian's clickhouse-server 18.16 and the current single `clickhouse`
// binary are supported; the generated config sticks to settings both accept.
package chserver
