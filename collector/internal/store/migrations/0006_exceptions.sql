-- Exceptions to checks, approved by someone until a date. Each change is
-- a new version of the exception's row (granted, then possibly revoked),
-- and the newest version carries the whole story: who approved it, why,
-- until when, and who revoked it when. Queries read FINAL so they are
-- right before ReplacingMergeTree has merged the versions. Kept forever
-- (evidence): no partitions.
CREATE TABLE IF NOT EXISTS exceptions (
    id          String,
    device_id   String,
    tag         String,
    check_id    String,
    reason      String,
    approved_by String,
    created_at  DateTime,
    expires     DateTime,
    -- 1970-01-01 00:00:00 (0) while the exception stands.
    revoked_at  DateTime,
    revoked_by  String,
    -- Unix nanoseconds of the change; the highest version wins.
    version     UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY id;
