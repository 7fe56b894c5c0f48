CREATE TABLE IF NOT EXISTS devices ON CLUSTER fleet (
    device_id        String,
    public_key       String,
    hostname         String,
    os               String,
    platform         String,
    platform_version String,
    kernel_version   String,
    arch             String,
    hardware_uuid    String,
    serial           String,
    agent_version    String,
    tags             String,
    enrolled_at      DateTime,
    updated_at       DateTime
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/fleetproof/devices', '{replica}', updated_at)
ORDER BY device_id;

CREATE TABLE IF NOT EXISTS results ON CLUSTER fleet (
    device_id     String,
    check_id      String,
    observed_at   DateTime,
    
    
    observed_ns   UInt32,
    status        Enum8('pass' = 1, 'fail' = 2, 'error' = 3, 'not_applicable' = 4),
    check_version UInt32,
    pack          String,
    pack_version  String,
    rows          String,
    reason        String,
    error         String,
    duration_ms   UInt32,
    engine        String,
    agent_version String,
    envelope_seq  UInt64,
    received_at   DateTime
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/fleetproof/results', '{replica}')
PARTITION BY toYYYYMM(observed_at)
ORDER BY (device_id, check_id, observed_at, observed_ns);

CREATE TABLE IF NOT EXISTS heartbeats ON CLUSTER fleet (
    device_id    String,
    observed_at  DateTime,
    hostname     String,
    uptime_s     Int64,
    spool_depth  UInt32,
    envelope_seq UInt64,
    received_at  DateTime
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/fleetproof/heartbeats', '{replica}')
PARTITION BY toYYYYMM(observed_at)
ORDER BY (device_id, observed_at);

CREATE TABLE IF NOT EXISTS gaps ON CLUSTER fleet (
    device_id    String,
    gap_from     DateTime,
    gap_to       DateTime,
    dropped      UInt32,
    reason       String,
    envelope_seq UInt64,
    received_at  DateTime
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/fleetproof/gaps', '{replica}')
PARTITION BY toYYYYMM(gap_from)
ORDER BY (device_id, gap_from, reason);

CREATE TABLE IF NOT EXISTS dead_letters ON CLUSTER fleet (
    stream      String,
    stream_seq  UInt64,
    subject     String,
    msg_id      String,
    device_id   String,
    reason      String,
    payload     String,
    received_at DateTime
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/fleetproof/dead_letters', '{replica}')
PARTITION BY toYYYYMM(received_at)
ORDER BY (stream, stream_seq);

CREATE TABLE IF NOT EXISTS revocations ON CLUSTER fleet (
    device_id  String,
    public_key String,
    revoked_at DateTime,
    reason     String,
    revoked_by String
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/fleetproof/revocations', '{replica}')
ORDER BY (device_id, public_key);

CREATE TABLE IF NOT EXISTS enrollment_events ON CLUSTER fleet (
    at            DateTime,
    device_id     String,
    public_key    String,
    outcome       String,
    hostname      String,
    agent_version String,
    remote_addr   String
) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/fleetproof/enrollment_events', '{replica}')
PARTITION BY toYYYYMM(at)
ORDER BY (device_id, at);

CREATE TABLE IF NOT EXISTS results_daily ON CLUSTER fleet (
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
) ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/fleetproof/results_daily', '{replica}')
PARTITION BY toYYYYMM(day)
ORDER BY (check_id, device_id, day);

CREATE MATERIALIZED VIEW IF NOT EXISTS results_daily_mv ON CLUSTER fleet TO results_daily AS
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

CREATE TABLE IF NOT EXISTS inventory_snapshots ON CLUSTER fleet (
    snapshot_id  String,
    imported_at  DateTime,
    source       String,
    file_sha256  String,
    row_count    UInt32,
    
    skipped_rows UInt32,
    imported_by  String
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/fleetproof/inventory_snapshots', '{replica}')
ORDER BY snapshot_id;

CREATE TABLE IF NOT EXISTS inventory_items ON CLUSTER fleet (
    snapshot_id   String,
    
    line          UInt32,
    serial        String,
    hardware_uuid String,
    hostname      String,
    owner         String,
    platform      String,
    in_scope      UInt8,
    
    raw           String
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/fleetproof/inventory_items', '{replica}')
ORDER BY (snapshot_id, serial);

CREATE TABLE IF NOT EXISTS exceptions ON CLUSTER fleet (
    id          String,
    device_id   String,
    tag         String,
    check_id    String,
    reason      String,
    approved_by String,
    created_at  DateTime,
    expires     DateTime,
    
    revoked_at  DateTime,
    revoked_by  String,
    
    version     UInt64
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/fleetproof/exceptions', '{replica}', version)
ORDER BY id;

CREATE TABLE IF NOT EXISTS api_tokens ON CLUSTER fleet (
    token_id    String,
    name        String,
    role        String,
    secret_hash String,
    controls    Array(String),
    period_from DateTime,
    period_to   DateTime,
    created_at  DateTime,
    created_by  String,
    expires     DateTime,
    revoked_at  DateTime,
    version     UInt64
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/fleetproof/api_tokens', '{replica}', version)
ORDER BY token_id;

CREATE TABLE IF NOT EXISTS api_access ON CLUSTER fleet (
    at          DateTime,
    token_id    String,
    role        String,
    method      String,
    path        String,
    query       String,
    status      UInt16,
    duration_ms UInt32,
    remote_addr String
) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/fleetproof/api_access', '{replica}')
PARTITION BY toYYYYMM(at)
ORDER BY (at, token_id);

CREATE TABLE IF NOT EXISTS results_by_time ON CLUSTER fleet (
    observed_at DateTime,
    device_id   String,
    check_id    String,
    observed_ns UInt32,
    status      Enum8('pass' = 1, 'fail' = 2, 'error' = 3, 'not_applicable' = 4),
    rows        String,
    reason      String,
    error       String
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/fleetproof/results_by_time', '{replica}')
PARTITION BY toYYYYMM(observed_at)
ORDER BY (observed_at, device_id, check_id, observed_ns);

CREATE MATERIALIZED VIEW IF NOT EXISTS results_by_time_mv ON CLUSTER fleet TO results_by_time AS
SELECT observed_at, device_id, check_id, observed_ns, status, rows, reason, error
FROM results;

CREATE TABLE IF NOT EXISTS result_pairs ON CLUSTER fleet (
    device_id String,
    check_id  String,
    first_t   AggregateFunction(min, UInt64)
) ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/fleetproof/result_pairs', '{replica}')
ORDER BY (device_id, check_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS result_pairs_mv ON CLUSTER fleet TO result_pairs AS
SELECT device_id, check_id, minState(toUInt64(observed_at) * 1000000000 + observed_ns) AS first_t
FROM results
GROUP BY device_id, check_id;

INSERT INTO results_by_time (observed_at, device_id, check_id, observed_ns, status, rows, reason, error)
SELECT observed_at, device_id, check_id, observed_ns, status, rows, reason, error
FROM results;

INSERT INTO result_pairs (device_id, check_id, first_t)
SELECT device_id, check_id, minState(toUInt64(observed_at) * 1000000000 + observed_ns)
FROM results
GROUP BY device_id, check_id;

ALTER TABLE results ON CLUSTER fleet DROP PARTITION 202401;
