package reportbench

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/fleetproof/fleetproof/collector/internal/chserver"
)

// intHash64 is ClickHouse's intHash64 (the MurmurHash3 finalizer of the
// argument xor a fixed seed), so Go can tell what the seed SQL wrote.
func intHash64(x uint64) uint64 {
	x ^= 0x4CF2D2BAAE6DA887
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

// silentAt mirrors silentSQL.
func (f *Fleet) silentAt(dev, hr int) bool {
	dh, hours := intHash64(uint64(dev)+1000003), uint64(f.Days*24)
	from := dh / 100 % hours
	return dh%100 < 2 && uint64(hr) >= from && uint64(hr) < from+24*(1+dh/100000%10)
}

// statusAt mirrors statusSQL.
func (f *Fleet) statusAt(dev, c, hr int) string {
	ph := intHash64(uint64(dev)*64 + uint64(c))
	oh := intHash64((uint64(dev)*64+uint64(c))*65536 + uint64(hr))
	start, hours := ph/100%uint64(f.Days*24), uint64(hr)
	switch {
	case !f.applies[c][osOf(dev)]:
		return "not_applicable"
	case ph%1000 < 5:
		return "fail"
	case ph%100 < 8 && hours >= start && hours < start+1+ph/1000000%120:
		return "fail"
	case oh%1000 < 2:
		return "fail"
	case oh%1000 < 4:
		return "error"
	}
	return "pass"
}

// A small fleet seeded by the real SQL holds exactly what the Go mirror
// of its distributions says: every device enrolled with its OS, a row per
// device, check and hour unless the device was silent, each with its
// status, and the rollup filled by the materialized view. A second Open
// reuses the cached data set.
func TestSeedSmallFleet(t *testing.T) {
	root := t.TempDir()
	scale := Scale{Devices: 60, Checks: 12, Days: 4}
	ds, err := Open(t.Context(), root, scale, nil)
	if errors.Is(err, chserver.ErrNotInstalled) {
		t.Skip("clickhouse-server not installed")
	}
	if err != nil {
		t.Fatal(err)
	}
	f := ds.Fleet
	if ds.Cached || len(f.CheckIDs) != scale.Checks || f.CheckIDs[len(f.CheckIDs)-1] != "check_12" {
		t.Errorf("cached %v, checks %v", ds.Cached, f.CheckIDs)
	}
	want := map[string]int{}
	var rows uint64
	devDays := map[string]bool{}
	for dev := range scale.Devices {
		for c := range scale.Checks {
			for hr := range scale.Days * 24 {
				if f.silentAt(dev, hr) {
					continue
				}
				rows++
				want[fmt.Sprintf("%s %s %s", DeviceID(dev), f.CheckIDs[c], f.statusAt(dev, c, hr))]++
				devDays[fmt.Sprintf("%d/%d/%d", dev, c, hr/24)] = true
			}
		}
	}
	if ds.Stamp.Rows != rows || ds.Stamp.RollupRows != uint64(len(devDays)) {
		t.Errorf("seeded %d rows, %d rollup rows; the mirror says %d and %d", ds.Stamp.Rows, ds.Stamp.RollupRows, rows, len(devDays))
	}
	got := map[string]int{}
	q, err := ds.Store.Conn().Query(t.Context(), `SELECT device_id, check_id, toString(status), count() FROM results
		GROUP BY device_id, check_id, status`)
	if err != nil {
		t.Fatal(err)
	}
	for q.Next() {
		var dev, check, st string
		var n uint64
		if err := q.Scan(&dev, &check, &st, &n); err != nil {
			t.Fatal(err)
		}
		got[dev+" "+check+" "+st] = int(n)
	}
	q.Close()
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%s: %d rows, want %d", k, got[k], n)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d (device, check, status) groups, want %d", len(got), len(want))
	}
	devices, err := ds.Store.Devices(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(devices) != scale.Devices {
		t.Fatalf("%d devices enrolled, want %d", len(devices), scale.Devices)
	}
	for i, d := range devices {
		if d.DeviceID != DeviceID(i) || d.OS != osNames[osOf(i)] || !d.EnrolledAt.Before(Start) {
			t.Errorf("device %d: %s %s enrolled %s", i, d.DeviceID, d.OS, d.EnrolledAt)
		}
	}
	if err := ds.Close(); err != nil {
		t.Fatal(err)
	}

	began := time.Now()
	again, err := Open(t.Context(), root, scale, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if !again.Cached || again.Stamp != ds.Stamp {
		t.Errorf("second open: cached %v, stamp %+v, want the first one's %+v", again.Cached, again.Stamp, ds.Stamp)
	}
	t.Logf("reopened the cached data set in %s", time.Since(began).Round(time.Millisecond))
}
