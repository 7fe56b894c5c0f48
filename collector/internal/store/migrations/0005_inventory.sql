-- Asset inventory snapshots: each import of an MDM/CMDB export is kept as
-- a dated snapshot, so a reconciliation "as of" an audit date uses the
-- inventory that was known then, and the file's hash ties it to the file
-- the auditor was given. Small tables, kept forever (evidence): no
-- monthly partitions, so retention never drops them.
--
-- The items of an import are inserted before its snapshot row, which acts
-- as the commit marker: readers start from inventory_snapshots, so an
-- import that failed half-way is invisible, and a retry with the same
-- snapshot id collapses onto the rows it duplicates.
CREATE TABLE IF NOT EXISTS inventory_snapshots (
    snapshot_id  String,
    imported_at  DateTime,
    source       String,
    file_sha256  String,
    row_count    UInt32,
    -- Data rows left out because they had no serial (visible, not hidden).
    skipped_rows UInt32,
    imported_by  String
) ENGINE = ReplacingMergeTree
ORDER BY snapshot_id;

CREATE TABLE IF NOT EXISTS inventory_items (
    snapshot_id   String,
    -- Line of the row in the imported file, so a finding points at it.
    line          UInt32,
    serial        String,
    hardware_uuid String,
    hostname      String,
    owner         String,
    platform      String,
    in_scope      UInt8,
    -- The whole row as a JSON object keyed by the file's headers.
    raw           String
) ENGINE = ReplacingMergeTree
ORDER BY (snapshot_id, serial);
