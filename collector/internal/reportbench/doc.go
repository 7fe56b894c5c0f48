// Package reportbench measures the collector's reports on a fleet of the
// size the issue names: 10,000 devices x 20 checks x 90 days of hourly
// results, 432M rows, in a ClickHouse server of its own. Figures on a
// test database of a few hundred rows say nothing about a quarter of a
// real fleet; these are the questions an operator and an auditor ask of
// one:
//
//   - BenchmarkPostureAsOf: `fleetproof-collector posture -at T` before
//     rendering (store.Devices, store.LatestResults, posture.Build), at
//     the period's last second and in its middle. Target < 1 s.
//     BenchmarkPostureFullScan times LatestResults' former full scan at the
//     same instants, for comparison.
//   - BenchmarkCompliance: `fleetproof-collector compliance` for 90 days,
//     for one check and for one control (exceptions, then
//     compliance.Compute). Target < 2 s.
//   - BenchmarkExtract: `fleetproof-collector extract` of one control over
//     the 90 days into a temp dir (the default bundle: every device-day
//     counted, the sample's results in full), with the rows and bytes
//     written and the time per file; BenchmarkEvidenceScan is the read an
//     -all-results extract adds, every result of the control. Target
//     < 30 s.
//   - BenchmarkDataset reports the data set: rows, seeding time, size.
//
// TestLatestResultsMatchFullScanOnLargeFleet proves on this data that
// LatestResults answers exactly as the full scan (it runs with
// REPORTBENCH=1).
//
// # The data set
//
// Seed generates it inside ClickHouse with one INSERT ... SELECT from
// numbers() per day, through the real schema (store.Open's migrations),
// so the materialized view fills the daily rollup as ingest would; see
// seed.go for the distributions. Open caches it under DefaultRoot with a
// stamp naming SeedVersion and the scale, and later runs start a server
// on it without seeding. The period is fixed (Start, 2025-01-01), so the
// data and the instants asked about never depend on the wall clock.
//
// The extract benchmark writes a real bundle. It extracts as many days as
// fit in a quarter of the free space (REPORTBENCH_EXTRACT_DAYS
// overrides; the default bundle of a quarter needs ~2 GB of scratch) and
// the table projects the period from the days, every phase being a
// stream.
//
// # What the figures say (2 cores, 18.16)
//
// Posture as of an instant: 0.94-0.97 s (4.35 s before migration 0008,
// and 16 s for the full scan before that). LatestResults is ~0.87 s of
// it: the last two hours of results_by_time for every pair (0.4 s on the
// server, 0.2 s decoding 200,000 rows in Go), the pair catalog read
// meanwhile (0.1 s), the rest of the 25-hour window for the ~120 pairs of
// 6 silent devices (0.15 s) and lookups for the 80 silent longer (0.1 s);
// posture.Build ~40 ms, store.Devices ~30 ms. It is under the target by
// little: on a busy machine it is over. Tried and dropped: ORDER BY on
// the server (slower than sorting in Go), one argMax of a tuple (slower),
// LIMIT 1 BY (no gain), grouping by a hash (no gain), a "latest per
// pair" table (another full copy of every row on ingest).
//
// Extract: the default bundle of one control over the quarter takes
// ~14 s: evidence_daily.csv, 1.8M device-days from the rollup (9 s, the
// read ~6 s of it), the sample's 108,000 results (1.6 s), compliance
// (2.3 s). With every result (-all-results, 43M rows) it is minutes: the
// read alone takes 65 s, and the workbook ~1 GB of worksheet XML per
// million rows.
//
// `make bench-report` runs everything and pipes the output to
// cmd/reporttable, which prints the data set, each figure against its
// target, and where the extract's time went. Nothing here asserts a time:
// on a shared 2-core machine a slow figure may be another job's load, so
// each figure carries the cores this process, ClickHouse and everything
// else used while it was measured.
package reportbench
