-- Daily rollup of results per (check, device, UTC day), so period
-- compliance over a year and a whole fleet reads one row per device-day
-- instead of every observation.
--
-- The materialized view sees every physical insert into results,
-- redelivered duplicates included (ReplacingMergeTree only collapses them
-- later, and never in a view). So every aggregate here is idempotent under
-- duplicate rows: observations are sets of the natural key t =
-- observed_at * 1e9 + observed_ns (exact distinct counts; for passes the
-- set itself, which remediation times need), and the times and last
-- status are min/max/argMax, which a repeated row cannot move. The same
-- property makes the backfill below safe to run again, and safe to overlap
-- with inserts the view already counted.
--
-- ORDER BY puts check_id first: compliance reads one check (or a
-- control's few) for every device over a period.
CREATE TABLE IF NOT EXISTS results_daily (
    check_id     String,
    device_id    String,
    day          Date,
    pass_times   AggregateFunction(groupUniqArrayIf, UInt64, UInt8),
    fail_obs     AggregateFunction(uniqExactIf, UInt64, UInt8),
    error_obs    AggregateFunction(uniqExactIf, UInt64, UInt8),
    na_obs       AggregateFunction(uniqExactIf, UInt64, UInt8),
    first_t      AggregateFunction(min, UInt64),
    last_t       AggregateFunction(max, UInt64),
    last_status  AggregateFunction(argMax, Enum8('pass' = 1, 'fail' = 2, 'error' = 3, 'not_applicable' = 4), UInt64),
    first_fail_t AggregateFunction(minIf, UInt64, UInt8),
    first_pass_t AggregateFunction(minIf, UInt64, UInt8),
    last_pass_t  AggregateFunction(maxIf, UInt64, UInt8)
) ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (check_id, device_id, day);

-- No subquery: 18.16 cannot push blocks through a view whose SELECT reads
-- results from a subquery, so t is defined inline with an alias.
CREATE MATERIALIZED VIEW IF NOT EXISTS results_daily_mv TO results_daily AS
SELECT check_id, device_id, toDate(observed_at, 'UTC') AS day,
       groupUniqArrayIfState(toUInt64(observed_at) * 1000000000 + observed_ns AS t, status = 'pass') AS pass_times,
       uniqExactIfState(t, status = 'fail') AS fail_obs,
       uniqExactIfState(t, status = 'error') AS error_obs,
       uniqExactIfState(t, status = 'not_applicable') AS na_obs,
       minState(t) AS first_t,
       maxState(t) AS last_t,
       argMaxState(status, t) AS last_status,
       minIfState(t, status = 'fail') AS first_fail_t,
       minIfState(t, status = 'pass') AS first_pass_t,
       maxIfState(t, status = 'pass') AS last_pass_t
FROM results
GROUP BY check_id, device_id, day;

-- Backfill what was stored before the view existed. It runs after the view
-- is created, so no row falls between the two; rows seen by both are
-- absorbed by the idempotent aggregates.
INSERT INTO results_daily (check_id, device_id, day, pass_times, fail_obs, error_obs, na_obs,
    first_t, last_t, last_status, first_fail_t, first_pass_t, last_pass_t)
SELECT check_id, device_id, toDate(observed_at, 'UTC') AS day,
       groupUniqArrayIfState(toUInt64(observed_at) * 1000000000 + observed_ns AS t, status = 'pass'),
       uniqExactIfState(t, status = 'fail'),
       uniqExactIfState(t, status = 'error'),
       uniqExactIfState(t, status = 'not_applicable'),
       minState(t),
       maxState(t),
       argMaxState(status, t),
       minIfState(t, status = 'fail'),
       minIfState(t, status = 'pass'),
       maxIfState(t, status = 'pass')
FROM results
GROUP BY check_id, device_id, day;
