-- Statements of auditor extracts (extract.go), with literal values; see
-- queries.sql, whose results rows they read.

-- EachResult: disk_encryption and firewall observed in March 2025 (the
-- period [2025-03-01, 2025-04-01) as whole seconds), one row per key.
SELECT device_id, check_id, observed_at, observed_ns, toString(status) AS st, check_version,
       pack, pack_version, rows, reason, error, duration_ms, engine, agent_version, received_at
FROM results FINAL
WHERE observed_at >= toDateTime(1740787200) AND observed_at < toDateTime(1743465600)
  AND has(['disk_encryption', 'firewall'], check_id)
ORDER BY device_id, check_id, observed_at, observed_ns;
