package store_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/fleetproof/fleetproof/collector/internal/chtest"
	"github.com/fleetproof/fleetproof/collector/internal/store"
)

func TestInventorySnapshotsAreKeptAndChosenAsOf(t *testing.T) {
	t.Parallel()
	s := openStore(t, chtest.Database(t))
	ctx := t.Context()

	march := store.InventorySnapshot{ID: "inv-20250314T090000Z-aa", ImportedAt: base, Source: "jamf",
		FileSHA256: "aa11", SkippedRows: 1, ImportedBy: "it@example.com"}
	marchItems := []store.InventoryItem{
		{Line: 2, Serial: "C02AAA111", Hostname: "alice-mbp", Owner: "alice@example.com", Platform: "macOS", InScope: true,
			Raw: []byte(`{"Serial Number":"C02AAA111"}`)},
		{Line: 4, Serial: "C02BBB222", HardwareUUID: "UUID-2", Hostname: "kiosk-1", Platform: "macOS"},
	}
	april := store.InventorySnapshot{ID: "inv-20250401T090000Z-bb", ImportedAt: base.AddDate(0, 0, 18), Source: "intune",
		FileSHA256: "bb22", ImportedBy: "it@example.com"}
	aprilItems := []store.InventoryItem{{Line: 2, Serial: "PF0XYZ", Hostname: "bob-laptop", InScope: true, Raw: []byte(`{}`)}}

	if err := s.InsertInventory(ctx, march, marchItems); err != nil {
		t.Fatal(err)
	}
	// A retried import (same snapshot id) must not double the items.
	if err := s.InsertInventory(ctx, march, marchItems); err != nil {
		t.Fatal(err)
	}
	if err := s.InsertInventory(ctx, april, aprilItems); err != nil {
		t.Fatal(err)
	}
	march.Rows, april.Rows = 2, 1

	snaps, err := s.InventorySnapshots(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []store.InventorySnapshot{march, april}; !reflect.DeepEqual(snaps, want) {
		t.Errorf("InventorySnapshots:\n got %+v\nwant %+v", snaps, want)
	}

	for _, tc := range []struct {
		name string
		at   time.Time
		want string
	}{
		{"at the import instant", base, march.ID},
		{"between imports", base.AddDate(0, 0, 10), march.ID},
		{"after the second", base.AddDate(1, 0, 0), april.ID},
	} {
		got, err := s.InventorySnapshotAt(ctx, tc.at)
		if err != nil || got.ID != tc.want {
			t.Errorf("%s: InventorySnapshotAt = %s, %v; want %s", tc.name, got.ID, err, tc.want)
		}
	}
	if _, err := s.InventorySnapshotAt(ctx, base.Add(-time.Second)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("InventorySnapshotAt before any import: %v, want ErrNotFound", err)
	}
	if got, err := s.InventorySnapshot(ctx, april.ID); err != nil || got != april {
		t.Errorf("InventorySnapshot(%s) = %+v, %v", april.ID, got, err)
	}
	if _, err := s.InventorySnapshot(ctx, "inv-nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("InventorySnapshot(unknown): %v, want ErrNotFound", err)
	}

	items, err := s.InventoryItems(ctx, march.ID)
	if err != nil {
		t.Fatal(err)
	}
	// An item stored without raw reads back as an empty object.
	wantItems := append([]store.InventoryItem(nil), marchItems...)
	wantItems[1].Raw = []byte(`{}`)
	if len(items) != 2 || !reflect.DeepEqual(items, wantItems) {
		t.Errorf("InventoryItems:\n got %+v\nwant %+v", items, wantItems)
	}
}

func TestInsertInventoryNeedsSnapshotID(t *testing.T) {
	t.Parallel()
	s := openStore(t, chtest.Database(t))
	if err := s.InsertInventory(t.Context(), store.InventorySnapshot{}, nil); err == nil {
		t.Fatal("InsertInventory without an id succeeded")
	}
}
