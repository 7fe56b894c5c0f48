-- Every enrollment decision, kept as evidence: who joined the fleet when,
-- key changes (a reinstall, or a spoofing attempt), and refusals.
CREATE TABLE IF NOT EXISTS enrollment_events (
    at            DateTime,
    device_id     String,
    public_key    String,
    outcome       String,
    hostname      String,
    agent_version String,
    remote_addr   String
) ENGINE = MergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (device_id, at);
