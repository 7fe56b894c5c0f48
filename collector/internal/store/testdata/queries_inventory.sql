-- Statements of inventory snapshots (inventory.go) and exceptions
-- (exceptions_store.go), with literal values; see queries.sql.

-- InsertInventory: the items first, then the snapshot row that commits them.
INSERT INTO inventory_items (snapshot_id, line, serial, hardware_uuid,
    hostname, owner, platform, in_scope, raw)
VALUES
    ('inv-20250314T090000Z-0a1b2c3d', 2, 'C02AAA111', '', 'alice-mbp', 'alice@example.com', 'macOS', 1, '{"Serial Number":"C02AAA111"}'),
    ('inv-20250314T090000Z-0a1b2c3d', 3, 'SN1', 'HW-1', 'a.example', 'bob@example.com', 'Linux', 1, '{"Serial Number":"SN1"}'),
    ('inv-20250314T090000Z-0a1b2c3d', 4, 'C02BBB222', '', 'kiosk-1', '', 'macOS', 0, '{"Serial Number":"C02BBB222"}'),
    -- A retried insert collapses on (snapshot_id, serial).
    ('inv-20250314T090000Z-0a1b2c3d', 4, 'C02BBB222', '', 'kiosk-1', '', 'macOS', 0, '{"Serial Number":"C02BBB222"}');

INSERT INTO inventory_snapshots (snapshot_id, imported_at, source, file_sha256,
    row_count, skipped_rows, imported_by)
VALUES
    ('inv-20250314T090000Z-0a1b2c3d', '2025-03-14 09:00:00', 'jamf', 'aa11', 3, 1, 'it@example.com'),
    ('inv-20250401T090000Z-99887766', '2025-04-01 09:00:00', 'intune', 'bb22', 0, 0, 'it@example.com');

-- InventorySnapshots, InventorySnapshot, InventorySnapshotAt.
SELECT snapshot_id, imported_at, source, file_sha256, row_count, skipped_rows, imported_by
FROM inventory_snapshots FINAL ORDER BY imported_at, snapshot_id;

SELECT snapshot_id, imported_at, source, file_sha256, row_count, skipped_rows, imported_by
FROM inventory_snapshots FINAL WHERE snapshot_id = 'inv-20250314T090000Z-0a1b2c3d' ORDER BY imported_at, snapshot_id;

-- As of 2025-03-20 00:00:00 UTC: the March snapshot, not April's.
SELECT snapshot_id, imported_at, source, file_sha256, row_count, skipped_rows, imported_by
FROM inventory_snapshots FINAL WHERE imported_at <= toDateTime(1742428800)
ORDER BY imported_at DESC, snapshot_id DESC LIMIT 1;

-- InventoryItems.
SELECT line, serial, hardware_uuid, hostname, owner, platform, in_scope, raw
FROM inventory_items FINAL WHERE snapshot_id = 'inv-20250314T090000Z-0a1b2c3d' ORDER BY line, serial;

-- AddException, then RevokeException writes a newer version of the row.
INSERT INTO exceptions (id, device_id, tag, check_id, reason, approved_by,
    created_at, expires, revoked_at, revoked_by, version)
VALUES
    ('exc-00112233aabbccdd', 'dev-a', '', 'disk_encryption', 'lab machine, wiped nightly', 'ciso@example.com',
     '2025-03-14 09:00:00', '2025-06-30 23:59:59', '1970-01-01 00:00:00', '', 1741942800000000000),
    ('exc-44556677eeff0011', '', 'department=lab', 'screen_lock', 'kiosks', 'ciso@example.com',
     '2025-03-14 09:30:00', '2025-09-30 23:59:59', '1970-01-01 00:00:00', '', 1741944600000000000);

INSERT INTO exceptions (id, device_id, tag, check_id, reason, approved_by,
    created_at, expires, revoked_at, revoked_by, version)
VALUES
    ('exc-00112233aabbccdd', 'dev-a', '', 'disk_encryption', 'lab machine, wiped nightly', 'ciso@example.com',
     '2025-03-14 09:00:00', '2025-06-30 23:59:59', '2025-04-01 12:00:00', 'it@example.com', 1743508800000000000);

-- RevokeException reads the exception; Exceptions as of an instant.
SELECT id, device_id, tag, check_id, reason, approved_by, created_at, expires,
    revoked_at, revoked_by, version
FROM exceptions FINAL WHERE id = 'exc-00112233aabbccdd' ORDER BY created_at, id;

SELECT id, device_id, tag, check_id, reason, approved_by, created_at, expires,
    revoked_at, revoked_by, version
FROM exceptions FINAL WHERE created_at <= toDateTime(1742428800) ORDER BY created_at, id;
