package extract

import (
	"context"
	"time"

	"github.com/fleetproof/fleetproof/collector/internal/store"
)

// Source is what an extract reads; *store.Store implements it. An
// interface so the API handler and tests can hand in what holds the data.
type Source interface {
	Devices(ctx context.Context) ([]store.Device, error)
	Revocations(ctx context.Context) ([]store.Revocation, error)
	EachResult(ctx context.Context, checks, devices []string, from, to time.Time, fn func(store.ResultRow) error) error
	EachDay(ctx context.Context, checks []string, from, to time.Time, fn func(store.DailyRow) error) error
	ComplianceDays(ctx context.Context, checks []string, from, to time.Time) ([]store.CheckDays, error)
	Gaps(ctx context.Context, from, to time.Time) ([]store.SpoolGap, error)
	Exceptions(ctx context.Context, at time.Time) ([]store.ExceptionRecord, error)
	InventorySnapshot(ctx context.Context, id string) (store.InventorySnapshot, error)
	InventorySnapshotAt(ctx context.Context, at time.Time) (store.InventorySnapshot, error)
	InventorySnapshots(ctx context.Context) ([]store.InventorySnapshot, error)
	InventoryItems(ctx context.Context, snapshotID string) ([]store.InventoryItem, error)
}

var _ Source = (*store.Store)(nil)

// DeviceCheck names one check on one device.
type DeviceCheck struct{ DeviceID, CheckID string }
