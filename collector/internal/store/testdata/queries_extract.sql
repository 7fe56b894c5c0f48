-- Statements of auditor extracts (extract.go, daily.go), with literal
-- values; see queries.sql, whose results rows they read.

-- EachResult: disk_encryption and firewall observed in March 2025 (the
-- period [2025-03-01, 2025-04-01) as whole seconds), one row per key, of
-- every device. First where to cut the devices into chunks (device-days
-- per device in the rollup) ...
SELECT device_id, count()
FROM results_daily
WHERE check_id IN ('disk_encryption', 'firewall') AND day >= toDate('2025-03-01') AND day < toDate('2025-04-01')
GROUP BY device_id
ORDER BY device_id;

-- (of the sampled devices only, when there is a sample)
SELECT device_id, count()
FROM results_daily
WHERE check_id IN ('disk_encryption', 'firewall') AND day >= toDate('2025-03-01') AND day < toDate('2025-04-01') AND device_id IN ('dev-b')
GROUP BY device_id
ORDER BY device_id;

-- ... then each chunk of devices: here cut at dev-b, so dev-a's rows ...
SELECT device_id, check_id, observed_at, observed_ns, toString(status) AS st, check_version,
       pack, pack_version, rows, reason, error, duration_ms, engine, agent_version, received_at
FROM results FINAL
PREWHERE device_id >= '' AND device_id < 'dev-b'
  AND observed_at >= toDateTime(1740787200) AND observed_at < toDateTime(1743465600) AND has(['disk_encryption', 'firewall'], check_id)
ORDER BY device_id, check_id, observed_at, observed_ns;

-- ... and the last, open-ended chunk, dev-b's; here of the sampled
-- devices only (dev-b).
SELECT device_id, check_id, observed_at, observed_ns, toString(status) AS st, check_version,
       pack, pack_version, rows, reason, error, duration_ms, engine, agent_version, received_at
FROM results FINAL
PREWHERE device_id >= 'dev-b'
  AND observed_at >= toDateTime(1740787200) AND observed_at < toDateTime(1743465600) AND has(['disk_encryption', 'firewall'], check_id)
  AND device_id IN ('dev-b')
ORDER BY device_id, check_id, observed_at, observed_ns;

-- EachDay: every device's day of those checks in March, from the rollup.
SELECT device_id, check_id, day,
       length(groupUniqArrayIfMerge(pass_times)) AS pass,
       uniqExactIfMerge(fail_obs) AS fail,
       uniqExactIfMerge(error_obs) AS err,
       uniqExactIfMerge(na_obs) AS na,
       minMerge(first_t) AS first,
       maxMerge(last_t) AS last,
       toString(argMaxMerge(last_status)) AS last_status,
       minIfMerge(first_fail_t) AS first_fail
FROM results_daily
WHERE check_id IN ('disk_encryption', 'firewall') AND day >= toDate('2025-03-01') AND day < toDate('2025-04-01')
GROUP BY device_id, check_id, day
ORDER BY device_id, check_id, day;
