-- Revoked device keys. A revocation is evidence in itself (who, when,
-- why), so it is a row of its own rather than a flag on the device.
CREATE TABLE IF NOT EXISTS revocations (
    device_id  String,
    public_key String,
    revoked_at DateTime,
    reason     String,
    revoked_by String
) ENGINE = ReplacingMergeTree
ORDER BY (device_id, public_key);
