package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// InventorySnapshot is one import of an asset inventory (an MDM or CMDB
// export). Snapshots are never changed: a newer import is a new snapshot,
// so a reconciliation as of a past date can use what was known then.
type InventorySnapshot struct {
	ID         string    `json:"id"`
	ImportedAt time.Time `json:"imported_at"`
	Source     string    `json:"source"`
	FileSHA256 string    `json:"file_sha256"`
	Rows       uint32    `json:"rows"`
	// SkippedRows counts data rows left out for having no serial.
	SkippedRows uint32 `json:"skipped_rows"`
	ImportedBy  string `json:"imported_by"`
}

// InventoryItem is one device row of an inventory snapshot.
type InventoryItem struct {
	// Line is where the row starts in the imported file (the header is
	// line 1), so a finding can be traced back to the export.
	Line         int    `json:"line"`
	Serial       string `json:"serial"`
	HardwareUUID string `json:"hardware_uuid,omitempty"`
	Hostname     string `json:"hostname,omitempty"`
	Owner        string `json:"owner,omitempty"`
	Platform     string `json:"platform,omitempty"`
	InScope      bool   `json:"in_scope"`
	// Raw is the whole row as a JSON object keyed by the file's headers.
	Raw json.RawMessage `json:"raw,omitempty"`
}

// InsertInventory stores a snapshot and its items. The items go first and
// the snapshot row last: readers find items through the snapshot row, so
// an import that fails half-way leaves nothing visible, and retrying with
// the same snapshot id collapses onto the rows already written.
func (s *Store) InsertInventory(ctx context.Context, snap InventorySnapshot, items []InventoryItem) error {
	if snap.ID == "" {
		return errors.New("store: insert inventory: snapshot id is empty")
	}
	snap.Rows = uint32(len(items))
	if len(items) > 0 {
		b, err := s.conn.PrepareBatch(ctx, `INSERT INTO inventory_items (snapshot_id, line, serial, hardware_uuid,
			hostname, owner, platform, in_scope, raw)`)
		if err != nil {
			return fmt.Errorf("store: insert inventory items: %w", err)
		}
		for _, it := range items {
			raw := string(it.Raw)
			if raw == "" {
				raw = "{}"
			}
			var inScope uint8
			if it.InScope {
				inScope = 1
			}
			if err := b.Append(snap.ID, uint32(it.Line), it.Serial, it.HardwareUUID, it.Hostname, it.Owner,
				it.Platform, inScope, raw); err != nil {
				b.Abort()
				return fmt.Errorf("store: insert inventory items: %w", err)
			}
		}
		if err := b.Send(); err != nil {
			return fmt.Errorf("store: insert inventory items: %w", err)
		}
	}
	err := s.insertOne(ctx, `INSERT INTO inventory_snapshots (snapshot_id, imported_at, source, file_sha256,
		row_count, skipped_rows, imported_by)`,
		snap.ID, snap.ImportedAt.UTC(), snap.Source, snap.FileSHA256, snap.Rows, snap.SkippedRows, snap.ImportedBy)
	if err != nil {
		return fmt.Errorf("store: insert inventory snapshot: %w", err)
	}
	return nil
}

const snapshotColumns = `snapshot_id, imported_at, source, file_sha256, row_count, skipped_rows, imported_by`

// InventorySnapshots lists every snapshot, oldest first.
func (s *Store) InventorySnapshots(ctx context.Context) ([]InventorySnapshot, error) {
	return s.querySnapshots(ctx, "ORDER BY imported_at, snapshot_id")
}

// InventorySnapshot returns one snapshot, or ErrNotFound.
func (s *Store) InventorySnapshot(ctx context.Context, id string) (InventorySnapshot, error) {
	snaps, err := s.querySnapshots(ctx, "WHERE snapshot_id = ? ORDER BY imported_at, snapshot_id", id)
	if err != nil {
		return InventorySnapshot{}, err
	}
	if len(snaps) == 0 {
		return InventorySnapshot{}, fmt.Errorf("inventory snapshot %q: %w", id, ErrNotFound)
	}
	return snaps[0], nil
}

// InventorySnapshotAt returns the newest snapshot imported at or before
// at, or ErrNotFound. Snapshot ids start with their import time, so the
// id breaks a tie between two imports within one second.
func (s *Store) InventorySnapshotAt(ctx context.Context, at time.Time) (InventorySnapshot, error) {
	snaps, err := s.querySnapshots(ctx, "WHERE imported_at <= toDateTime(?) ORDER BY imported_at DESC, snapshot_id DESC LIMIT 1",
		at.UTC().Unix())
	if err != nil {
		return InventorySnapshot{}, err
	}
	if len(snaps) == 0 {
		return InventorySnapshot{}, fmt.Errorf("no inventory snapshot imported at or before %s: %w",
			at.UTC().Format(time.RFC3339), ErrNotFound)
	}
	return snaps[0], nil
}

func (s *Store) querySnapshots(ctx context.Context, tail string, args ...any) ([]InventorySnapshot, error) {
	rows, err := s.conn.Query(ctx, "SELECT "+snapshotColumns+" FROM inventory_snapshots FINAL "+tail, args...)
	if err != nil {
		return nil, fmt.Errorf("store: inventory snapshots: %w", err)
	}
	defer rows.Close()
	var out []InventorySnapshot
	for rows.Next() {
		var sn InventorySnapshot
		if err := rows.Scan(&sn.ID, &sn.ImportedAt, &sn.Source, &sn.FileSHA256, &sn.Rows, &sn.SkippedRows, &sn.ImportedBy); err != nil {
			return nil, fmt.Errorf("store: inventory snapshots: %w", err)
		}
		sn.ImportedAt = sn.ImportedAt.UTC()
		out = append(out, sn)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: inventory snapshots: %w", err)
	}
	return out, nil
}

// InventoryItems returns a snapshot's items in file order.
func (s *Store) InventoryItems(ctx context.Context, snapshotID string) ([]InventoryItem, error) {
	rows, err := s.conn.Query(ctx, `SELECT line, serial, hardware_uuid, hostname, owner, platform, in_scope, raw
		FROM inventory_items FINAL WHERE snapshot_id = ? ORDER BY line, serial`, snapshotID)
	if err != nil {
		return nil, fmt.Errorf("store: inventory items: %w", err)
	}
	defer rows.Close()
	var out []InventoryItem
	for rows.Next() {
		var it InventoryItem
		var line uint32
		var inScope uint8
		var raw string
		if err := rows.Scan(&line, &it.Serial, &it.HardwareUUID, &it.Hostname, &it.Owner, &it.Platform, &inScope, &raw); err != nil {
			return nil, fmt.Errorf("store: inventory items: %w", err)
		}
		it.Line, it.InScope, it.Raw = int(line), inScope != 0, json.RawMessage(raw)
		out = append(out, it)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: inventory items: %w", err)
	}
	return out, nil
}
