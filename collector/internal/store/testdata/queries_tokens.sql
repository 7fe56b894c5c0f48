-- PutToken, Token, Tokens.
INSERT INTO api_tokens (token_id, name, role, secret_hash, controls, period_from,
    period_to, created_at, created_by, expires, revoked_at, version)
VALUES ('tk1', 'ci', 'auditor', 'abc', ['CC6.1'], '2026-01-01 00:00:00', '2026-06-30 00:00:00',
    '2026-07-01 00:00:00', 'admin', '2026-12-31 00:00:00', '1970-01-01 00:00:00', 1);

SELECT token_id, name, role, secret_hash, controls, period_from, period_to, created_at,
    created_by, expires, revoked_at FROM api_tokens FINAL WHERE token_id = 'tk1' ORDER BY created_at, token_id;

-- InsertAccess.
INSERT INTO api_access (at, token_id, role, method, path, query, status,
    duration_ms, remote_addr)
VALUES ('2026-07-01 00:00:00', 'tk1', 'auditor', 'GET', '/api/v1/posture', '', 200, 3, '127.0.0.1:1');

-- DeviceKeys.
SELECT device_id, argMax(public_key, updated_at) FROM devices WHERE device_id IN ('dev-a', 'dev-b') GROUP BY device_id;

SELECT DISTINCT device_id FROM revocations WHERE device_id IN ('dev-a', 'dev-b');
