-- Posture as of an instant reads each (device, check) pair's newest
-- result at or before it. results is sorted by device and check first (the
-- order history and extracts read), so the newest rows of every pair lie
-- in every granule of the month and the whole month's evidence columns
-- must be decompressed to find them: about 3 s for a month of a 10,000
-- device fleet, however short the window asked for. Two small structures
-- make it a read of the recent window alone (store.LatestResults):
--
-- results_by_time holds the columns posture shows, sorted by time first,
-- so a window of hours reads only the granules of those hours. It costs a
-- second copy of the evidence columns (they compress well: repeated rows
-- of the same pair), and goes with results under retention.
CREATE TABLE IF NOT EXISTS results_by_time (
    observed_at DateTime,
    device_id   String,
    check_id    String,
    observed_ns UInt32,
    status      Enum8('pass' = 1, 'fail' = 2, 'error' = 3, 'not_applicable' = 4),
    rows        String,
    reason      String,
    error       String
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(observed_at)
ORDER BY (observed_at, device_id, check_id, observed_ns);

CREATE MATERIALIZED VIEW IF NOT EXISTS results_by_time_mv TO results_by_time AS
SELECT observed_at, device_id, check_id, observed_ns, status, rows, reason, error
FROM results;

-- result_pairs is every pair ever observed with its first observation,
-- one row per pair (the daily rollup has one per pair-day): the pairs
-- that exist at an instant but were silent through the window, whose
-- newest result is then looked up on its own. min is idempotent under
-- redelivered rows, like the rollup's aggregates.
CREATE TABLE IF NOT EXISTS result_pairs (
    device_id String,
    check_id  String,
    first_t   AggregateFunction(min, UInt64)
) ENGINE = AggregatingMergeTree
ORDER BY (device_id, check_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS result_pairs_mv TO result_pairs AS
SELECT device_id, check_id, minState(toUInt64(observed_at) * 1000000000 + observed_ns) AS first_t
FROM results
GROUP BY device_id, check_id;

-- Backfill what was stored before the views existed; as in 0004, rows the
-- views also saw collapse (ReplacingMergeTree keys, min).
INSERT INTO results_by_time (observed_at, device_id, check_id, observed_ns, status, rows, reason, error)
SELECT observed_at, device_id, check_id, observed_ns, status, rows, reason, error
FROM results;

INSERT INTO result_pairs (device_id, check_id, first_t)
SELECT device_id, check_id, minState(toUInt64(observed_at) * 1000000000 + observed_ns)
FROM results
GROUP BY device_id, check_id;
