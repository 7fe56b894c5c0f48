// Package scaleout holds tests, run against real processes, showing that the
// collector survives the failure of each component around it and scales out
// behind one shared JetStream consumer, without losing or double counting
// evidence:
//
//   - two `fleetproof-collector serve` processes joined to the same external
//     NATS (-nats-url) share the durable pull consumer: each ingests part of
//     the stream, and ClickHouse ends up with exactly the published rows;
//   - a collector killed with SIGKILL in the middle of its work is replaced by
//     a new process on the same data dir; the messages it had fetched but not
//     acknowledged are redelivered, the duplicate rows this writes collapse in
//     the ReplacingMergeTree tables, and the logical count is exact;
//   - while ClickHouse is stopped the collector keeps running, answers 503 on
//     /readyz and leaves the evidence in JetStream (nothing acknowledged);
//     once ClickHouse is back it reports ready and stores exactly the backlog;
//   - when the NATS server is shut down and started again on the same port
//     and store, the collector reconnects by itself and stores exactly what
//     was published before and after the restart.
//
// The "external" NATS is an in-process nats-server (file store in a temp
// dir) configured from a file that includes the trust fragment of
// `fleetproof-collector nats-config`, and every collector is given that key
// directory (-nats-keys-dir). ClickHouse is the real clickhouse-server (the
// shared chtest server, or a test's own when it must stop it), and the
// collectors are the real binary, built once per test binary. Everything
// listens on loopback.
// The tests are skipped under -short.
package scaleout
