-- Fleetproof schema v1. Runs on ClickHouse 18.16 and 26.x: no TTL, codecs,
-- DateTime64, LowCardinality or Map. Every table that ingest writes is a
-- ReplacingMergeTree keyed on a natural key, so a redelivered envelope
-- collapses into the row it duplicates; queries read with argMax/GROUP BY
-- or FINAL so they are right before merges happen.

CREATE TABLE IF NOT EXISTS devices (
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
) ENGINE = ReplacingMergeTree(updated_at)
ORDER BY device_id;

CREATE TABLE IF NOT EXISTS results (
    device_id     String,
    check_id      String,
    observed_at   DateTime,
    -- Sub-second part of the observation: DateTime64 is not on 18.16, and
    -- two runs of a check within one second are still two observations.
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
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(observed_at)
ORDER BY (device_id, check_id, observed_at, observed_ns);

CREATE TABLE IF NOT EXISTS heartbeats (
    device_id    String,
    observed_at  DateTime,
    hostname     String,
    uptime_s     Int64,
    spool_depth  UInt32,
    envelope_seq UInt64,
    received_at  DateTime
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(observed_at)
ORDER BY (device_id, observed_at);

CREATE TABLE IF NOT EXISTS gaps (
    device_id    String,
    gap_from     DateTime,
    gap_to       DateTime,
    dropped      UInt32,
    reason       String,
    envelope_seq UInt64,
    received_at  DateTime
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(gap_from)
ORDER BY (device_id, gap_from, reason);

CREATE TABLE IF NOT EXISTS dead_letters (
    stream      String,
    stream_seq  UInt64,
    subject     String,
    msg_id      String,
    device_id   String,
    reason      String,
    payload     String,
    received_at DateTime
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(received_at)
ORDER BY (stream, stream_seq);
