-- API tokens. Only a SHA-256 of each token's secret is stored; the token
-- itself is shown once at creation. Revoking writes a newer version.
CREATE TABLE IF NOT EXISTS api_tokens (
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
) ENGINE = ReplacingMergeTree(version)
ORDER BY token_id;

-- Every API call, with the token that made it: the access record an
-- auditor asks for ("who looked at what, when").
CREATE TABLE IF NOT EXISTS api_access (
    at          DateTime,
    token_id    String,
    role        String,
    method      String,
    path        String,
    query       String,
    status      UInt16,
    duration_ms UInt32,
    remote_addr String
) ENGINE = MergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (at, token_id);
