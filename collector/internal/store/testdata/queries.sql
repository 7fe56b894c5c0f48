-- Every statement the store package's Go code sends to ClickHouse, with
-- literal values where the Go code passes ? placeholders or batch rows.
-- TestQueriesFileMatchesGoCode fails when a Go query is missing here, and
-- TestSQLRunsOnCurrentClickHouse runs the migrations and then this file
-- through chdb-sql (ClickHouse 26.x). Keep the statements in the order the
-- collector issues them so the SELECTs have data to read.

-- Open: create the target database from the "default" database.
CREATE DATABASE IF NOT EXISTS fleetproof_check;

-- Migrate.
CREATE TABLE IF NOT EXISTS schema_migrations (
    version UInt32, name String, applied_at DateTime
) ENGINE = ReplacingMergeTree ORDER BY version;

SELECT DISTINCT version FROM schema_migrations;

INSERT INTO schema_migrations (version, name, applied_at)
VALUES (1, 'init', '2025-03-14 09:00:00');

-- UpsertDevice, Device, Devices.
INSERT INTO devices (device_id, public_key, hostname, os, platform,
    platform_version, kernel_version, arch, hardware_uuid, serial, agent_version, tags, enrolled_at, updated_at)
VALUES
    ('dev-a', 'UKEY1', 'a.example', 'linux', 'debian', '12', '6.1.0', 'amd64', 'HW-1', 'SN1', '0.3.1', '{"team":"infra"}', '2025-03-14 09:00:00', '2025-03-14 09:00:00'),
    ('dev-a', 'UKEY2', 'a.example', 'linux', 'debian', '12', '6.1.0', 'amd64', 'HW-1', 'SN1', '0.4.0', '{}', '2025-03-14 09:00:00', '2025-03-14 10:00:00');

SELECT device_id, public_key, hostname, os, platform, platform_version, kernel_version,
    arch, hardware_uuid, serial, agent_version, tags, enrolled_at, updated_at
FROM devices FINAL WHERE device_id = 'dev-a' ORDER BY device_id;

SELECT device_id, public_key, hostname, os, platform, platform_version, kernel_version,
    arch, hardware_uuid, serial, agent_version, tags, enrolled_at, updated_at
FROM devices FINAL  ORDER BY device_id;

-- InsertEnvelopes: one batch per table. The repeated 10:00:00.25 result
-- is a redelivery and collapses on its key; the 10:00:00.0 pass is an
-- earlier run within the same second, so the fail is the latest.
INSERT INTO results (device_id, check_id, observed_at, observed_ns, status,
    check_version, pack, pack_version, rows, reason, error, duration_ms, engine, agent_version,
    envelope_seq, received_at)
VALUES
    ('dev-a', 'disk_encryption', '2025-03-14 09:00:00', 0, 'pass', 1, 'fleetproof-core', '1.0.0', '[]', '', '', 12, 'builtin', '0.3.1', 1, '2025-03-14 09:01:00'),
    ('dev-a', 'disk_encryption', '2025-03-14 10:00:00', 250000000, 'fail', 1, 'fleetproof-core', '1.0.0', '[{"compliant":"0","device":"/dev/sda2"}]', '1 of 1 rows not compliant', '', 15, 'builtin', '0.3.1', 2, '2025-03-14 10:01:00'),
    ('dev-a', 'disk_encryption', '2025-03-14 10:00:00', 250000000, 'fail', 1, 'fleetproof-core', '1.0.0', '[{"compliant":"0","device":"/dev/sda2"}]', '1 of 1 rows not compliant', '', 15, 'builtin', '0.3.1', 2, '2025-03-14 10:05:00'),
    ('dev-a', 'disk_encryption', '2025-03-14 10:00:00', 0, 'pass', 1, 'fleetproof-core', '1.0.0', '[]', '', '', 15, 'builtin', '0.3.1', 2, '2025-03-14 10:01:00'),
    ('dev-a', 'disk_encryption', '2025-03-14 11:00:00', 0, 'pass', 1, 'fleetproof-core', '1.0.0', '[]', '', '', 11, 'builtin', '0.3.1', 3, '2025-03-14 11:01:00'),
    ('dev-b', 'firewall', '2025-03-14 09:30:00', 0, 'error', 1, 'fleetproof-core', '1.0.0', '[]', '', 'timeout', 30001, 'osquery', '0.3.1', 1, '2025-03-14 09:31:00');

INSERT INTO heartbeats (device_id, observed_at, hostname,
    uptime_s, spool_depth, envelope_seq, received_at)
VALUES ('dev-a', '2025-03-14 09:00:05', 'a.example', 86400, 3, 1, '2025-03-14 09:01:00');

INSERT INTO gaps (device_id, gap_from, gap_to, dropped,
    reason, envelope_seq, received_at)
VALUES ('dev-a', '2025-03-14 07:00:00', '2025-03-14 08:00:00', 42, 'spool full', 1, '2025-03-14 09:01:00');

-- InsertDeadLetters.
INSERT INTO dead_letters (stream, stream_seq, subject, msg_id,
    device_id, reason, payload, received_at)
VALUES ('EVIDENCE', 41, 'evidence.v1.dev-a.results', 'dev-a-3', 'dev-a', 'bad signature', '{"schema":1}', '2025-03-14 09:01:00');

-- Revoke, Revocations, Revoked.
INSERT INTO revocations (device_id, public_key, revoked_at, reason, revoked_by)
VALUES ('dev-b', 'UKEY9', '2025-03-14 12:00:00', 'laptop stolen', 'admin@example.com');

SELECT device_id, public_key, revoked_at, reason, revoked_by
FROM revocations FINAL ORDER BY revoked_at, device_id;

SELECT count() FROM revocations WHERE device_id = 'dev-b';

-- RecordEnrollment.
INSERT INTO enrollment_events (at, device_id, public_key, outcome, hostname,
    agent_version, remote_addr)
VALUES ('2025-03-14 09:00:00', 'dev-a', 'UKEY1', 'enrolled', 'a.example', '0.1.0', '127.0.0.1:5555');

-- DropPartitionsBefore: list, then drop whole months.
SELECT DISTINCT partition FROM system.parts
WHERE database = currentDatabase() AND table = 'results' AND active;

ALTER TABLE dead_letters DROP PARTITION 202401;

-- LatestResults as of 2025-03-14 10:30:00 UTC reads the two hours before
-- it by time: the 11:00 pass is later and must be ignored, so dev-a's
-- disk_encryption is the 10:00 fail ...
SELECT device_id, check_id,
       toString(argMax(status, t)) AS st,
       max(observed_at) AS last,
       argMax(reason, t) AS rsn,
       argMax(error, t) AS err,
       argMax(rows, t) AS rws
FROM (
    SELECT device_id, check_id, status, observed_at, reason, error, rows,
           toUInt64(observed_at) * 1000000000 + observed_ns AS t
    FROM results_by_time
    WHERE observed_at >= toDateTime(1741941000) AND observed_at < toDateTime(1741948201)
      AND toUInt64(observed_at) * 1000000000 + observed_ns <= 1741948200000000000
)
GROUP BY device_id, check_id;

-- ... and the rest of the 25 hours for the pairs silent in those two,
-- here dev-b's (09:30 is within two hours, so in fact none).
SELECT device_id, check_id,
       toString(argMax(status, t)) AS st,
       max(observed_at) AS last,
       argMax(reason, t) AS rsn,
       argMax(error, t) AS err,
       argMax(rows, t) AS rws
FROM (
    SELECT device_id, check_id, status, observed_at, reason, error, rows,
           toUInt64(observed_at) * 1000000000 + observed_ns AS t
    FROM results_by_time
    WHERE observed_at >= toDateTime(1741858200) AND observed_at < toDateTime(1741941000)
      AND toUInt64(observed_at) * 1000000000 + observed_ns <= 1741948200000000000
      AND device_id IN ('dev-b')
)
GROUP BY device_id, check_id;

-- The pairs that existed then, to find those silent through the window.
SELECT device_id, check_id
FROM result_pairs
GROUP BY device_id, check_id
HAVING minMerge(first_t) <= 1741948200000000000;

-- As of 2025-03-16 10:30:00 UTC the window (from 2025-03-15 09:30) is
-- empty: every pair's newest result before it is looked for in the raw
-- results of the window's first day before the window ...
SELECT device_id, check_id,
       toString(argMax(status, t)) AS st,
       max(observed_at) AS last,
       argMax(reason, t) AS rsn,
       argMax(error, t) AS err,
       argMax(rows, t) AS rws
FROM (
    SELECT device_id, check_id, status, observed_at, reason, error, rows,
           toUInt64(observed_at) * 1000000000 + observed_ns AS t
    FROM results
    WHERE device_id IN ('dev-a', 'dev-b') AND (device_id, check_id) IN (('dev-a', 'disk_encryption'), ('dev-b', 'firewall'))
      AND observed_at >= toDateTime(1741996800) AND observed_at < toDateTime(1742031000)
)
GROUP BY device_id, check_id;

-- ... then in the rollup's last observation of the days before ...
SELECT device_id, check_id, maxMerge(last_t)
FROM results_daily
WHERE check_id IN ('disk_encryption', 'firewall') AND device_id IN ('dev-a', 'dev-b')
  AND (device_id, check_id) IN (('dev-a', 'disk_encryption'), ('dev-b', 'firewall'))
  AND day < toDate('2025-03-15')
GROUP BY device_id, check_id;

-- (or every pair's, when a whole fleet was silent)
SELECT device_id, check_id, maxMerge(last_t)
FROM results_daily
WHERE day < toDate('2025-03-15')
GROUP BY device_id, check_id;

-- ... and each is looked up by the sort key: dev-a's disk_encryption is
-- the 11:00 pass.
SELECT device_id, check_id,
       toString(argMax(status, t)) AS st,
       max(observed_at) AS last,
       argMax(reason, t) AS rsn,
       argMax(error, t) AS err,
       argMax(rows, t) AS rws
FROM (
    SELECT device_id, check_id, status, observed_at, reason, error, rows,
           toUInt64(observed_at) * 1000000000 + observed_ns AS t
    FROM results
    WHERE device_id IN ('dev-a', 'dev-b') AND observed_at >= toDateTime(1741944600) AND observed_at <= toDateTime(1741950000)
      AND (device_id, check_id, observed_at) IN (('dev-a', 'disk_encryption', 1741950000), ('dev-b', 'firewall', 1741944600))
)
GROUP BY device_id, check_id;

-- LatestResultsFullScan as of 2025-03-14 10:30:00 UTC: the definition
-- LatestResults keeps to, over every result up to the instant.
SELECT device_id, check_id,
       toString(argMax(status, t)) AS st,
       max(observed_at) AS last,
       argMax(reason, t) AS rsn,
       argMax(error, t) AS err,
       argMax(rows, t) AS rws
FROM (
    SELECT device_id, check_id, status, observed_at, reason, error, rows,
           toUInt64(observed_at) * 1000000000 + observed_ns AS t
    FROM results
    WHERE observed_at <= toDateTime(1741948200)
      AND toUInt64(observed_at) * 1000000000 + observed_ns <= 1741948200000000000
)
GROUP BY device_id, check_id
ORDER BY check_id, device_id;
