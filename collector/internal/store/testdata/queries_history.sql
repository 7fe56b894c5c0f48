-- Statements of history, daily rollup, period compliance and staleness
-- (history.go, compliance.go, staleness.go), with literal values for their
-- placeholders. Runs after queries.sql, whose rows it reads: dev-a's
-- disk_encryption on 2025-03-14 passes at 09:00, passes at 10:00:00.0,
-- fails at 10:00:00.25 (delivered twice) and passes at 11:00; dev-b's
-- firewall errs at 09:30.

-- History: the status before the window, then the window's observations.
SELECT check_id, toString(argMax(status, toUInt64(observed_at) * 1000000000 + observed_ns))
FROM results
WHERE device_id = 'dev-a' AND ('' = '' OR check_id = '')
  AND observed_at <= toDateTime(1741944600) AND toUInt64(observed_at) * 1000000000 + observed_ns < 1741944600000000000
GROUP BY check_id;

SELECT check_id, observed_at, observed_ns, toString(status), reason, error, rows
FROM results
WHERE device_id = 'dev-a' AND ('disk_encryption' = '' OR check_id = 'disk_encryption')
  AND observed_at >= toDateTime(1741944600) AND observed_at <= toDateTime(4294967295)
  AND toUInt64(observed_at) * 1000000000 + observed_ns >= 1741944600000000000
  AND toUInt64(observed_at) * 1000000000 + observed_ns < 9223372036854775807
ORDER BY check_id, observed_at, observed_ns;

-- Daily: the rollup of one device, duplicates counted once (1 fail).
SELECT device_id, check_id, day,
       length(groupUniqArrayIfMerge(pass_times)), uniqExactIfMerge(fail_obs),
       uniqExactIfMerge(error_obs), uniqExactIfMerge(na_obs),
       minMerge(first_t), maxMerge(last_t), toString(argMaxMerge(last_status))
FROM results_daily
WHERE device_id = 'dev-a' AND ('' = '' OR check_id = '')
  AND day >= toDate('2025-03-01') AND day < toDate('2025-04-01')
GROUP BY device_id, check_id, day
ORDER BY check_id, day;

-- ComplianceDays for March 2025: each rollup row packed as day index
-- 13 (2025-03-14) * 2^48 + last status pass (1) * 2^45 + failed * 2^44 +
-- 11:00 in microseconds; the first failure 10:00:00.25 had passes before
-- and after it that day, so its remediation is ambiguous and looked up in
-- the day's pass times. dev-b's day ended in error (3).
SELECT device_id, check_id, packed, ff,
       arrayReduce('min', arrayFilter(x -> x > ff, fps)) AS rem,
       arrayExists((a, b) -> a < ff AND b > ff, fps, lps) AS ambiguous
FROM (
    SELECT device_id, check_id,
           groupArray(toUInt64(day - toDate('2025-03-01')) * 281474976710656 + toUInt64(toUInt8(ls)) * 35184372088832
                      + toUInt64(f > 0) * 17592186044416 + intDiv(lt, 1000) % 86400000000) AS packed,
           minIf(f, f > 0) AS ff,
           groupArray(fp) AS fps,
           groupArray(lp) AS lps
    FROM (
        SELECT device_id, check_id, day,
               finalizeAggregation(first_fail_t) AS f,
               finalizeAggregation(first_pass_t) AS fp,
               finalizeAggregation(last_pass_t) AS lp,
               finalizeAggregation(last_status) AS ls,
               finalizeAggregation(last_t) AS lt
        FROM results_daily
        WHERE check_id IN ('disk_encryption', 'firewall') AND day >= toDate('2025-03-01') AND day < toDate('2025-04-01')
    )
    GROUP BY device_id, check_id
)
ORDER BY device_id, check_id;

-- The ambiguous day's pass times, from which the first after 10:00:00.25
-- is 11:00.
SELECT device_id, check_id, groupUniqArrayIfMerge(pass_times)
FROM results_daily
WHERE check_id IN ('disk_encryption') AND (device_id, check_id, day) IN (('dev-a', 'disk_encryption', '2025-03-14'))
GROUP BY device_id, check_id, day;

-- The same, for many ambiguous pairs at once: the server finds the
-- first-failure days itself (2025-03-14 for dev-a).
SELECT device_id, check_id, day, groupUniqArrayIfMerge(pass_times)
FROM results_daily
WHERE check_id IN ('disk_encryption', 'firewall') AND day >= toDate('2025-03-01') AND day < toDate('2025-04-01')
  AND (device_id, check_id, day) IN (
      SELECT device_id, check_id, toDate(toDateTime(intDiv(ff, 1000000000)), 'UTC')
      FROM (
          SELECT device_id, check_id, minIf(f, f > 0) AS ff, groupArray(fp) AS fps, groupArray(lp) AS lps
          FROM (
              SELECT device_id, check_id,
                     finalizeAggregation(first_fail_t) AS f,
                     finalizeAggregation(first_pass_t) AS fp,
                     finalizeAggregation(last_pass_t) AS lp
              FROM results_daily
              WHERE check_id IN ('disk_encryption', 'firewall') AND day >= toDate('2025-03-01') AND day < toDate('2025-04-01')
          )
          GROUP BY device_id, check_id
      )
      WHERE ff > 0 AND arrayExists((a, b) -> a < ff AND b > ff, fps, lps)
  )
GROUP BY device_id, check_id, day;

-- LastSeen as of 2025-03-14 12:00 with a 3h recent window, then, per
-- kind, the devices that window did not show it for.
SELECT device_id, max(hb), max(res) FROM (
    SELECT device_id, observed_at AS hb, toDateTime(0) AS res FROM heartbeats
    WHERE observed_at > toDateTime(1741942800) AND observed_at <= toDateTime(1741953600)
    UNION ALL
    SELECT device_id, toDateTime(0) AS hb, observed_at AS res FROM results
    WHERE observed_at > toDateTime(1741942800) AND observed_at <= toDateTime(1741953600)
) GROUP BY device_id;

SELECT device_id, max(observed_at), toDateTime(0) FROM heartbeats
WHERE device_id IN ('dev-b', 'dev-c') AND observed_at <= toDateTime(1741953600)
GROUP BY device_id;

SELECT device_id, toDateTime(0), max(observed_at) FROM results
WHERE device_id IN ('dev-c') AND observed_at <= toDateTime(1741953600)
GROUP BY device_id;

-- Gaps overlapping 2025-03-14.
SELECT device_id, gap_from, max(gap_to), max(dropped), reason
FROM gaps
WHERE gap_from < toDateTime(1742000400) AND gap_to >= toDateTime(1741910400)
GROUP BY device_id, gap_from, reason
ORDER BY device_id, gap_from, reason;
