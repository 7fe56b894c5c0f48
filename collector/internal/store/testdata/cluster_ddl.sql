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

ALTER TABLE results ON CLUSTER fleet DROP PARTITION 202401;
