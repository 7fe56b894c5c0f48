package inventory_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/fleetproof/fleetproof/collector/internal/inventory"
	"github.com/fleetproof/fleetproof/collector/internal/store"
)

func item(line int, serial, host string, inScope bool) inventory.Item {
	return inventory.Item{Line: line, Serial: serial, Hostname: host, InScope: inScope}
}

func device(id, serial, uuid, host string) store.Device {
	return store.Device{DeviceID: id, Serial: serial, HardwareUUID: uuid, Hostname: host}
}

// rowKeys renders rows as status/matched_by/line/device for comparison.
func rowKeys(rows []inventory.Row) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		by := string(r.MatchedBy)
		if r.Weak {
			by += "(weak)"
		}
		out[i] = fmt.Sprintf("%s/%s/%d/%s", r.Status, by, r.Line, r.DeviceID)
	}
	return out
}

func TestReconcile(t *testing.T) {
	t.Parallel()
	withUUID := func(it inventory.Item, uuid string) inventory.Item { it.HardwareUUID = uuid; return it }
	for _, tc := range []struct {
		name    string
		items   []inventory.Item
		devices []store.Device
		want    []string
		note    string // a row's note must contain this, when set
	}{
		{name: "serial matches ignoring case and surrounding space",
			items:   []inventory.Item{item(2, " c02abc ", "alice-mbp", true)},
			devices: []store.Device{device("d1", "C02ABC", "", "renamed")},
			want:    []string{"matched/serial/2/d1"}},
		{name: "never enrolled is missing, not in inventory is unknown",
			items:   []inventory.Item{item(2, "S1", "h1", true)},
			devices: []store.Device{device("d9", "S9", "", "h9")},
			want:    []string{"missing//2/", "unknown//0/d9"}},
		{name: "hardware UUID column when the serials differ",
			items:   []inventory.Item{withUUID(item(2, "CMDB-TAG-1", "h1", true), "{8f1c2d3e-0000-4000-8000-000000000001}")},
			devices: []store.Device{device("d1", "C02REAL", "8F1C2D3E-0000-4000-8000-000000000001", "other")},
			want:    []string{"matched/hardware_uuid/2/d1"}},
		{name: "a VM's UUID recorded as its serial",
			items:   []inventory.Item{item(2, "564d1234-abcd-ef01-2345-6789abcdef01", "vm-build-01", true)},
			devices: []store.Device{device("d1", "VMware-56 4d 12 34", "564D1234-ABCD-EF01-2345-6789ABCDEF01", "vm-build-01")},
			want:    []string{"matched/hardware_uuid/2/d1"}},
		{name: "hostname is the weak last resort, by first label",
			items:   []inventory.Item{item(2, "S1", "Alice-MBP", true)},
			devices: []store.Device{device("d1", "", "", "alice-mbp.corp.example.com.")},
			want:    []string{"matched/hostname(weak)/2/d1"}},
		{name: "hostname does not pair machines whose serials differ",
			items:   []inventory.Item{item(2, "OLD-SERIAL", "alice-mbp", true)},
			devices: []store.Device{device("d1", "NEW-SERIAL", "", "alice-mbp")},
			want:    []string{"missing//2/", "unknown//0/d1"},
			note:    `has this hostname but serial`},
		{name: "a shared hostname matches nothing",
			items:   []inventory.Item{item(2, "S1", "lab-pc", true)},
			devices: []store.Device{device("d1", "", "", "lab-pc"), device("d2", "", "", "LAB-PC")},
			want:    []string{"missing//2/", "unknown//0/d1", "unknown//0/d2"},
			note:    "hostname shared by 1 rows and 2 devices"},
		{name: "placeholder serials identify nothing",
			items:   []inventory.Item{item(2, "To Be Filled By O.E.M.", "h1", true)},
			devices: []store.Device{device("d1", "to be filled by o.e.m.", "00000000-0000-0000-0000-000000000000", "h2")},
			want:    []string{"missing//2/", "unknown//0/d1"}},
		{name: "a serial match wins over another device's hostname",
			items:   []inventory.Item{item(2, "S1", "h1", true)},
			devices: []store.Device{device("d1", "", "", "h1"), device("d2", "S1", "", "renamed")},
			want:    []string{"unknown//0/d1", "matched/serial/2/d2"}},
		{name: "a device of an out-of-scope row is listed with it, not as unknown",
			items:   []inventory.Item{item(2, "S1", "kiosk", false)},
			devices: []store.Device{device("d1", "S1", "", "kiosk")},
			want:    []string{"out_of_scope/serial/2/d1"}},
		{name: "a re-enrolled machine matches both enrollments",
			items:   []inventory.Item{item(2, "S1", "h1", true)},
			devices: []store.Device{device("d1", "S1", "", "h1"), device("d2", "s1", "", "h1")},
			want:    []string{"matched/serial/2/d1", "matched/serial/2/d2"},
			note:    "2 enrolled devices share this serial"},
		{name: "gaps are listed first, then matches, then out of scope",
			items: []inventory.Item{item(2, "S1", "", true), item(3, "S2", "", false), item(4, "S3", "", true),
				item(5, "S4", "", true)},
			devices: []store.Device{device("d4", "S4", "", ""), device("d0", "S0", "", ""), device("d1", "S1", "", "")},
			want:    []string{"missing//4/", "unknown//0/d0", "matched/serial/2/d1", "matched/serial/5/d4", "out_of_scope//3/"}},
		{name: "empty inventory and fleet", want: []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := inventory.Reconcile(tc.items, tc.devices)
			if got := rowKeys(rec.Rows); !slices.Equal(got, tc.want) {
				t.Errorf("rows:\n got %q\nwant %q", got, tc.want)
			}
			if tc.note != "" && !slices.ContainsFunc(rec.Rows, func(r inventory.Row) bool { return strings.Contains(r.Note, tc.note) }) {
				t.Errorf("no row notes %q: %+v", tc.note, rec.Rows)
			}
		})
	}
}

func TestReconcileSummaryCountsItemsOnce(t *testing.T) {
	t.Parallel()
	items := []inventory.Item{
		item(2, "S1", "h1", true),     // matched twice (re-enrolled)
		item(3, "S2", "h2", true),     // weak, by hostname
		item(4, "S3", "h3", true),     // missing
		item(5, "S4", "h4", false),    // out of scope, not reporting
		item(6, "S5", "kiosk", false), // out of scope, reporting
	}
	devices := []store.Device{
		device("a", "S1", "", "h1"), device("b", "S1", "", "h1"), device("c", "", "", "h2"),
		device("d", "S5", "", "kiosk"), device("e", "S9", "", "h9"),
	}
	got := inventory.Reconcile(items, devices).Summary
	want := inventory.Summary{InventoryRows: 5, InScope: 3, Matched: 2, WeakMatches: 1, Missing: 1, OutOfScope: 2,
		Devices: 5, Unknown: 1, Coverage: 200.0 / 3}
	if got != want {
		t.Errorf("Summary:\n got %+v\nwant %+v", got, want)
	}
}
