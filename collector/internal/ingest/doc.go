// Package ingest moves evidence from JetStream into ClickHouse. Collectors
// share one durable pull consumer, so any number of instances divide the
// work. Each fetched batch is verified (schema, subject against device,
// signature against the enrolled key), inserted in one batch per table, and
// acknowledged only after the insert succeeded. Messages that fail
// verification are recorded as dead letters with their reason and then
// acknowledged: bad input is kept, never retried forever, never silently
// dropped. When ClickHouse fails, the batch is negatively acknowledged with
// a delay and the loop backs off, so the messages wait in JetStream.
//
// Results' rows reach ClickHouse as the JSON the agent sent (after a scan
// proving it is exactly what the store would have written), not decoded
// into maps and encoded back: that round trip was the largest share of
// ingest's CPU, and the rows column stores JSON anyway.
package ingest
