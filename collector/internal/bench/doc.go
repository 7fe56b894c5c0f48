// Package bench measures the collector's evidence path with Go benchmarks
// and compares it with raw ceilings measured in the same run, on the same
// machine, at the same moment. A throughput figure alone says little on a
// shared 2-core box whose speed varies from run to run; the ratio of the
// end-to-end rate to what JetStream and ClickHouse can do on their own
// says whether the collector's code, rather than the machine, is the limit.
//
// The benchmarks live in the test files (this file exists so the package
// has a non-test source and a place for this comment):
//
//   - BenchmarkRawJetStreamPublish: async publish to an embedded NATS
//     server (natsd, file storage, the ingest stream's configuration) of
//     messages as large as a realistic signed envelope of 20 results.
//   - BenchmarkRawClickHouseInsert: 50,000-row batches of results,
//     decoded before timing, stored by store.InsertEncoded (ingest's own
//     insert) into the results table store.Open created, from one and
//     from two concurrent inserters; the better is the ceiling.
//   - BenchmarkEndToEnd: envelopes signed by 1,000 enrolled devices,
//     published to JetStream and ingested by the real ingest.Ingester
//     (decode, verify, batch insert, ack). "ingest/..." sub-benchmarks
//     publish before the timer starts and vary BatchSize and the number of
//     Ingesters sharing the durable consumer; "concurrent/..." publishes
//     while it ingests.
//
// Besides rates, the benchmarks report the CPU this process (ingester and
// embedded NATS) and the ClickHouse server used while timed, and what the
// rest of the machine used meanwhile ("other-cores", from /proc/stat). On
// a shared host the rates move with other jobs' load; CPU per result does
// not, and "other-cores" says when a rate is not to be trusted.
//
// `make bench` runs them and pipes the output to cmd/benchtable, which
// prints the ratios and judges the targets. Nothing here asserts a time:
// numbers are reported, not judged, so a slow or busy machine never fails
// a build.
package bench
