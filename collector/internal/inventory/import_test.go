package inventory_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fleetproof/fleetproof/collector/internal/chtest"
	"github.com/fleetproof/fleetproof/collector/internal/inventory"
	"github.com/fleetproof/fleetproof/collector/internal/store"
)

func TestMain(m *testing.M) { chtest.Main(m) }

func openStore(t *testing.T) *store.Store {
	t.Helper()
	dsn := chtest.Database(t)
	s, err := store.Open(t.Context(), dsn, slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var march = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

func TestImportKeepsDatedSnapshotsAndReconcilesAsOf(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ctx := t.Context()
	jamf := readFixture(t, "jamf.csv")
	res, err := inventory.Import(ctx, s, jamf, inventory.ImportOptions{Source: "jamf", ImportedBy: "it@example.com", Now: march})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(jamf)
	want := store.InventorySnapshot{ID: "inv-20260301T090000Z-" + hex.EncodeToString(sum[:4]), ImportedAt: march, Source: "jamf",
		FileSHA256: hex.EncodeToString(sum[:]), Rows: 5, SkippedRows: 1, ImportedBy: "it@example.com"}
	if res.Snapshot != want || res.InScope != 4 || !slices.Equal(res.SkippedLines, []int{8}) {
		t.Fatalf("Import = %+v\nwant snapshot %+v, 4 in scope, line 8 skipped", res, want)
	}
	m, err := inventory.LoadMapping(filepath.Join("testdata", "intune-mapping.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	april := march.AddDate(0, 1, 0)
	later, err := inventory.Import(ctx, s, readFixture(t, "intune.csv"), inventory.ImportOptions{Source: "intune",
		ImportedBy: "it@example.com", Mapping: m, Now: april})
	if err != nil {
		t.Fatal(err)
	}

	for _, d := range []store.Device{
		{DeviceID: "d-alice", Serial: "C02AAA111AAA", Hostname: "alice-mbp", EnrolledAt: march.AddDate(0, 0, -10)},
		{DeviceID: "d-carol", Serial: "", Hostname: "Carol-MBA.local", EnrolledAt: march.AddDate(0, 0, -10)},
		{DeviceID: "d-vm", Serial: "VMware-56 4d 12 34", HardwareUUID: "564D1234-ABCD-EF01-2345-6789ABCDEF01", Hostname: "vm-build-01",
			EnrolledAt: march.AddDate(0, 0, -10)},
		{DeviceID: "d-dave", Serial: "5CG1234XYZ", Hostname: "DESKTOP-7F3K2L", EnrolledAt: march.AddDate(0, 0, 5)},
	} {
		d.UpdatedAt = d.EnrolledAt
		if err := s.UpsertDevice(ctx, d); err != nil {
			t.Fatal(err)
		}
	}

	for _, tc := range []struct {
		name     string
		at       time.Time
		snapshot string
		wantSnap string
		want     []string
	}{
		{name: "as of the day of the first import: Jamf, Dave not yet enrolled", at: march, wantSnap: res.Snapshot.ID,
			want: []string{"missing//3/", "matched/serial/2/d-alice", "matched/hostname(weak)/6/d-carol",
				"matched/hardware_uuid/9/d-vm", "out_of_scope//5/"}},
		{name: "between imports: still Jamf, Dave unknown", at: march.AddDate(0, 0, 20), wantSnap: res.Snapshot.ID,
			want: []string{"missing//3/", "unknown//0/d-dave", "matched/serial/2/d-alice", "matched/hostname(weak)/6/d-carol",
				"matched/hardware_uuid/9/d-vm", "out_of_scope//5/"}},
		{name: "after the second import: Intune", at: april.Add(time.Hour), wantSnap: later.Snapshot.ID,
			want: []string{"missing//3/", "missing//6/", "unknown//0/d-alice", "unknown//0/d-carol", "matched/serial/2/d-dave",
				"matched/serial/5/d-vm", "out_of_scope//4/"}},
		{name: "a named snapshot overrides the date", at: april.Add(time.Hour), snapshot: res.Snapshot.ID, wantSnap: res.Snapshot.ID,
			want: []string{"missing//3/", "unknown//0/d-dave", "matched/serial/2/d-alice", "matched/hostname(weak)/6/d-carol",
				"matched/hardware_uuid/9/d-vm", "out_of_scope//5/"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, err := inventory.ReconcileAt(ctx, s, tc.at, tc.snapshot)
			if err != nil {
				t.Fatal(err)
			}
			if rec.Snapshot == nil || rec.Snapshot.ID != tc.wantSnap || !rec.At.Equal(tc.at) {
				t.Errorf("reconciled snapshot %+v at %s, want %s at %s", rec.Snapshot, rec.At, tc.wantSnap, tc.at)
			}
			if got := rowKeys(rec.Rows); !slices.Equal(got, tc.want) {
				t.Errorf("rows:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
	if _, err := inventory.ReconcileAt(ctx, s, march.Add(-time.Second), ""); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ReconcileAt before any import: %v, want ErrNotFound", err)
	}
	if _, err := inventory.ReconcileAt(ctx, s, march, "inv-nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ReconcileAt of an unknown snapshot: %v, want ErrNotFound", err)
	}
}

// failingWriter records whether an import reached the store.
type failingWriter struct{ called bool }

func (w *failingWriter) InsertInventory(context.Context, store.InventorySnapshot, []store.InventoryItem) error {
	w.called = true
	return errors.New("down")
}

func TestImportRefusesBadInputBeforeWriting(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		data    []byte
		opts    inventory.ImportOptions
		wantErr string
	}{
		{"malformed file", readFixture(t, "malformed.csv"), inventory.ImportOptions{Source: "x", ImportedBy: "y"}, "duplicate serial"},
		{"no source", readFixture(t, "jamf.csv"), inventory.ImportOptions{ImportedBy: "y"}, "source"},
		{"no importer", readFixture(t, "jamf.csv"), inventory.ImportOptions{Source: "x", ImportedBy: " "}, "who imports"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := &failingWriter{}
			_, err := inventory.Import(t.Context(), w, tc.data, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || w.called {
				t.Errorf("Import = %v (store called: %v), want an error about %q before writing", err, w.called, tc.wantErr)
			}
		})
	}
}

func TestWriteReconciliation(t *testing.T) {
	t.Parallel()
	rec := inventory.Reconcile(
		[]inventory.Item{item(2, "S1", "h1", true), item(3, "S2", "h2\tx", true), item(4, "S3", "kiosk", false)},
		[]store.Device{device("d1", "", "", "h1"), device("d9", "S9", "", "stray")})
	rec.At = march
	rec.Snapshot = &store.InventorySnapshot{ID: "inv-1", ImportedAt: march, Source: "jamf", FileSHA256: "abc", Rows: 3, ImportedBy: "it"}
	for _, tc := range []struct {
		format string
		want   []string
	}{
		{"table", []string{
			"Inventory reconciliation as of 2026-03-01T09:00:00Z",
			"Snapshot inv-1: jamf, imported 2026-03-01T09:00:00Z by it, 3 rows (0 skipped without a serial), sha256 abc",
			"missing - 3 S2 h2 x - - - -",
			"unknown - - - - - d9 S9 stray",
			"matched hostname (weak) 2 S1 h1 - d1 - h1",
			"In scope 2: matched 1 (1 weak, by hostname only), missing 1; coverage 50.0%.",
			"Enrolled devices 2: unknown to the inventory 1. Out-of-scope inventory rows 1.",
		}},
		{"csv", []string{
			"status,matched_by,weak,line,serial,hostname,owner,platform,device_id,device_serial,device_hostname,note\n",
			"missing,,false,3,S2,h2\tx,,,,,,\n",
			"unknown,,false,,,,,,d9,S9,stray,\n",
			"matched,hostname,true,2,S1,h1,,,d1,,h1,\n",
			"out_of_scope,,false,4,S3,kiosk,,,,,,\n",
		}},
		{"json", []string{`"coverage_percent": 50`, `"matched_by": "hostname"`, `"weak": true`, `"file_sha256": "abc"`}},
	} {
		t.Run(tc.format, func(t *testing.T) {
			var b bytes.Buffer
			if err := rec.Write(&b, tc.format); err != nil {
				t.Fatal(err)
			}
			out := b.String()
			if tc.format == "table" { // column widths aside
				out = regexp.MustCompile(` +`).ReplaceAllString(out, " ")
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("no %q in:\n%s", w, b.String())
				}
			}
		})
	}
	if err := rec.Write(&bytes.Buffer{}, "xml"); err == nil {
		t.Error("Write accepted format xml")
	}
}
