package inventory

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fleetproof/fleetproof/collector/internal/store"
)

// Writer is the part of the store an import writes to.
type Writer interface {
	InsertInventory(ctx context.Context, snap store.InventorySnapshot, items []store.InventoryItem) error
}

// Reader is the part of the store a reconciliation reads.
type Reader interface {
	InventorySnapshot(ctx context.Context, id string) (store.InventorySnapshot, error)
	InventorySnapshotAt(ctx context.Context, at time.Time) (store.InventorySnapshot, error)
	InventoryItems(ctx context.Context, snapshotID string) ([]store.InventoryItem, error)
	Devices(ctx context.Context) ([]store.Device, error)
}

// ImportOptions describe where an export came from.
type ImportOptions struct {
	Source     string // e.g. "jamf" or the file name; required
	ImportedBy string // who ran the import; required
	Mapping    Mapping
	Now        time.Time // the import instant; zero means the current time
}

// ImportResult reports an import.
type ImportResult struct {
	Snapshot     store.InventorySnapshot `json:"snapshot"`
	InScope      int                     `json:"in_scope"`
	SkippedLines []int                   `json:"skipped_lines,omitempty"`
	Delimiter    string                  `json:"delimiter"`
	Columns      map[string]string       `json:"columns"`
}

// Import parses an export and stores it as a new snapshot. Nothing is
// stored when the file has a problem.
func Import(ctx context.Context, w Writer, data []byte, opts ImportOptions) (ImportResult, error) {
	opts.Source, opts.ImportedBy = strings.TrimSpace(opts.Source), strings.TrimSpace(opts.ImportedBy)
	if opts.Source == "" || opts.ImportedBy == "" {
		return ImportResult{}, errors.New("inventory: import: a source name and who imports are required (kept as evidence)")
	}
	p, err := Parse(data, opts.Mapping)
	if err != nil {
		return ImportResult{}, err
	}
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	snap := NewSnapshot(data, p, opts)
	if err := w.InsertInventory(ctx, snap, p.Items); err != nil {
		return ImportResult{}, fmt.Errorf("inventory: import: %w", err)
	}
	return ImportResult{Snapshot: snap, InScope: p.InScope(), SkippedLines: p.SkippedLines, Delimiter: p.Delimiter,
		Columns: p.Columns}, nil
}

// NewSnapshot describes a parsed file as a snapshot imported at opts.Now.
// The id starts with the import time, so ids sort by time, and ends with
// the start of the file's hash, so retrying the same import writes the
// same snapshot rather than a second one.
func NewSnapshot(data []byte, p Parsed, opts ImportOptions) store.InventorySnapshot {
	sum := sha256.Sum256(data)
	hash := hex.EncodeToString(sum[:])
	at := opts.Now.UTC().Truncate(time.Second)
	return store.InventorySnapshot{
		ID:          "inv-" + at.Format("20060102T150405Z") + "-" + hash[:8],
		ImportedAt:  at,
		Source:      opts.Source,
		FileSHA256:  hash,
		Rows:        uint32(len(p.Items)),
		SkippedRows: uint32(len(p.SkippedLines)),
		ImportedBy:  opts.ImportedBy,
	}
}

// ReconcileAt reconciles an inventory snapshot with the devices enrolled
// at or before at. The snapshot is the one named, or else the newest one
// imported at or before at, so a report for a past date uses the
// inventory known then. It wraps store.ErrNotFound when there is none.
func ReconcileAt(ctx context.Context, r Reader, at time.Time, snapshotID string) (Reconciliation, error) {
	var snap store.InventorySnapshot
	var err error
	if snapshotID != "" {
		snap, err = r.InventorySnapshot(ctx, snapshotID)
	} else {
		snap, err = r.InventorySnapshotAt(ctx, at)
	}
	if err != nil {
		return Reconciliation{}, fmt.Errorf("inventory: reconcile: %w", err)
	}
	items, err := r.InventoryItems(ctx, snap.ID)
	if err != nil {
		return Reconciliation{}, fmt.Errorf("inventory: reconcile: %w", err)
	}
	all, err := r.Devices(ctx)
	if err != nil {
		return Reconciliation{}, fmt.Errorf("inventory: reconcile: %w", err)
	}
	var devices []store.Device
	for _, d := range all {
		if !d.EnrolledAt.After(at) {
			devices = append(devices, d)
		}
	}
	rec := Reconcile(items, devices)
	rec.At, rec.Snapshot = at.UTC(), &snap
	return rec, nil
}
