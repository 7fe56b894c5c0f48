package posture_test

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/fleetproof/fleetproof/collector/internal/posture"
	"github.com/fleetproof/fleetproof/collector/internal/store"
	"github.com/fleetproof/fleetproof/queries"
)

// checkYAML is a minimal valid check; only id, interval and platforms vary.
func checkYAML(id, interval string, platforms ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `id: %s
title: Title of %s
version: 1
description: why it matters
criteria: [CC6.1]
severity: high
interval: %s
pass_when: what passing looks like
remediation: what to do
platforms:
`, id, id, interval)
	for _, p := range platforms {
		fmt.Fprintf(&b, "  %s:\n    sql: SELECT 1 AS compliant;\n", p)
	}
	return b.String()
}

// testCatalog has a check on every OS, a macOS-only daily check and one
// that Linux lacks, so applicability and per-check intervals both show.
func testCatalog(t *testing.T) *queries.Catalog {
	t.Helper()
	cat, err := queries.Parse(fstest.MapFS{
		"pack.yaml":                   {Data: []byte("name: test-pack\nversion: 1.0.0\n")},
		"checks/disk_encryption.yaml": {Data: []byte(checkYAML("disk_encryption", "1h", "darwin", "linux", "windows"))},
		"checks/macos_sip.yaml":       {Data: []byte(checkYAML("macos_sip", "24h", "darwin"))},
		"checks/screen_lock.yaml":     {Data: []byte(checkYAML("screen_lock", "1h", "darwin", "windows"))},
	})
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

var at = time.Date(2025, 3, 14, 12, 0, 0, 0, time.UTC)

func device(id, os string, enrolled time.Time) store.Device {
	return store.Device{DeviceID: id, Hostname: id + ".example", OS: os, EnrolledAt: enrolled, UpdatedAt: enrolled}
}

func latest(dev, check, status string, observed time.Time) store.Latest {
	return store.Latest{DeviceID: dev, CheckID: check, Status: status, ObservedAt: observed, Rows: "[]"}
}

// describe renders an entry compactly so a table row can list what it
// expects in one line.
func describe(e posture.Entry) string {
	s := e.CheckID + "/" + e.DeviceID + "=" + e.Status
	if e.Stale {
		s += " stale"
	}
	if e.ObservedAt != nil {
		s += " @" + e.ObservedAt.Format("01-02T15:04:05")
	}
	if e.Reason != "" {
		s += " reason=" + e.Reason
	}
	if e.Detail != "" {
		s += " detail=" + e.Detail
	}
	return s
}

func TestBuild(t *testing.T) {
	t.Parallel()
	cat := testCatalog(t)
	old := at.Add(-30 * 24 * time.Hour)
	for _, tc := range []struct {
		name    string
		devices []store.Device
		latest  []store.Latest
		opts    posture.Options
		want    []string
	}{
		{
			name:    "device enrolled after the instant is excluded",
			devices: []store.Device{device("late", "linux", at.Add(time.Second)), device("on-time", "linux", at)},
			latest:  []store.Latest{latest("late", "disk_encryption", "pass", at)},
			want:    []string{"disk_encryption/on-time=unknown reason=no result reported"},
		},
		{
			name:    "device without a result is unknown with a reason",
			devices: []store.Device{device("d1", "linux", old)},
			want:    []string{"disk_encryption/d1=unknown reason=no result reported"},
		},
		{
			name:    "result older than three intervals is unknown and stale",
			devices: []store.Device{device("d1", "linux", old), device("d2", "linux", old)},
			latest: []store.Latest{
				latest("d1", "disk_encryption", "pass", at.Add(-3*time.Hour-time.Second)),
				// Exactly at the edge of the window still counts.
				latest("d2", "disk_encryption", "fail", at.Add(-3*time.Hour)),
			},
			want: []string{
				"disk_encryption/d1=unknown stale @03-14T08:59:59 reason=last result (pass, 2025-03-14T08:59:59Z) is older than 3h0m0s",
				"disk_encryption/d2=fail @03-14T09:00:00",
			},
		},
		{
			name:    "StaleAfter option narrows the window",
			devices: []store.Device{device("d1", "linux", old)},
			latest:  []store.Latest{latest("d1", "disk_encryption", "pass", at.Add(-61*time.Minute))},
			opts:    posture.Options{StaleAfter: 1},
			want: []string{
				"disk_encryption/d1=unknown stale @03-14T10:59:00 reason=last result (pass, 2025-03-14T10:59:00Z) is older than 1h0m0s",
			},
		},
		{
			name:    "staleness uses each check's own interval",
			devices: []store.Device{device("mac", "darwin", old)},
			latest: []store.Latest{
				latest("mac", "disk_encryption", "pass", at.Add(-48*time.Hour)),
				latest("mac", "macos_sip", "pass", at.Add(-48*time.Hour)), // daily: 72h window
				latest("mac", "screen_lock", "pass", at.Add(-time.Hour)),
			},
			want: []string{
				"disk_encryption/mac=unknown stale @03-12T12:00:00 reason=last result (pass, 2025-03-12T12:00:00Z) is older than 3h0m0s",
				"macos_sip/mac=pass @03-12T12:00:00",
				"screen_lock/mac=pass @03-14T11:00:00",
			},
		},
		{
			name:    "fail details the failing rows as sorted key=value",
			devices: []store.Device{device("d1", "linux", old)},
			latest: []store.Latest{{
				DeviceID: "d1", CheckID: "disk_encryption", Status: "fail", ObservedAt: at, Reason: "2 of 3 rows not compliant",
				Rows: `[{"device":"/dev/sda1","encrypted":"1","compliant":"1"},
				        {"type":"luks","device":"/dev/sda2","encrypted":"0","compliant":"0"},
				        {"device":"/dev/sdb1","encrypted":"0"}]`,
			}},
			// A row without a compliant column fails too (queries doc).
			want: []string{
				"disk_encryption/d1=fail @03-14T12:00:00 reason=2 of 3 rows not compliant " +
					"detail=device=/dev/sda2 encrypted=0 type=luks; device=/dev/sdb1 encrypted=0",
			},
		},
		{
			name:    "fail with unreadable rows has no detail",
			devices: []store.Device{device("d1", "linux", old)},
			latest: []store.Latest{{DeviceID: "d1", CheckID: "disk_encryption", Status: "fail", ObservedAt: at,
				Reason: "query returned no rows", Rows: "not json"}},
			want: []string{"disk_encryption/d1=fail @03-14T12:00:00 reason=query returned no rows"},
		},
		{
			name:    "only fail gets detail",
			devices: []store.Device{device("d1", "linux", old)},
			latest: []store.Latest{{DeviceID: "d1", CheckID: "disk_encryption", Status: "pass", ObservedAt: at,
				Rows: `[{"device":"/dev/sda1","compliant":"0"}]`}},
			want: []string{"disk_encryption/d1=pass @03-14T12:00:00"},
		},
		{
			name:    "error reports its error as the reason",
			devices: []store.Device{device("d1", "linux", old)},
			latest: []store.Latest{{DeviceID: "d1", CheckID: "disk_encryption", Status: "error", ObservedAt: at,
				Reason: "query failed", Error: "osquery: timeout after 30s", Rows: "[]"}},
			want: []string{"disk_encryption/d1=error @03-14T12:00:00 reason=osquery: timeout after 30s"},
		},
		{
			name: "checks apply only to the device's OS",
			devices: []store.Device{
				device("lin", "linux", old), device("mac", "darwin", old),
				device("win", "windows", old), device("odd", "plan9", old),
			},
			latest: []store.Latest{
				// A result for a check the OS does not run is not reported.
				latest("lin", "macos_sip", "pass", at),
				latest("odd", "disk_encryption", "pass", at),
			},
			want: []string{
				"disk_encryption/lin=unknown reason=no result reported",
				"disk_encryption/mac=unknown reason=no result reported",
				"disk_encryption/win=unknown reason=no result reported",
				"macos_sip/mac=unknown reason=no result reported",
				"screen_lock/mac=unknown reason=no result reported",
				"screen_lock/win=unknown reason=no result reported",
			},
		},
		{
			name:    "results of devices not enrolled are ignored",
			devices: []store.Device{device("d1", "linux", old)},
			latest:  []store.Latest{latest("ghost", "disk_encryption", "pass", at), latest("d1", "disk_encryption", "pass", at)},
			want:    []string{"disk_encryption/d1=pass @03-14T12:00:00"},
		},
		{
			name: "entries sort by check then device, whatever the input order",
			devices: []store.Device{
				device("b", "windows", old), device("a", "windows", old),
			},
			latest: []store.Latest{
				latest("b", "screen_lock", "pass", at), latest("a", "screen_lock", "pass", at),
				latest("b", "disk_encryption", "pass", at), latest("a", "disk_encryption", "pass", at),
			},
			want: []string{
				"disk_encryption/a=pass @03-14T12:00:00", "disk_encryption/b=pass @03-14T12:00:00",
				"screen_lock/a=pass @03-14T12:00:00", "screen_lock/b=pass @03-14T12:00:00",
			},
		},
		{
			name: "no devices",
			want: nil,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := posture.Build(at, tc.devices, tc.latest, cat, tc.opts)
			var got []string
			for _, e := range rep.Entries {
				got = append(got, describe(e))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("entries:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestBuildEntriesCarryDeviceAndCheckNames(t *testing.T) {
	t.Parallel()
	// A non-UTC instant: the report is stated in UTC either way.
	rep := posture.Build(at.In(time.FixedZone("PST", -8*3600)), []store.Device{device("mac", "darwin", at)}, nil, testCatalog(t), posture.Options{})
	if !rep.At.Equal(at) || rep.At.Location() != time.UTC {
		t.Errorf("At = %s, want %s in UTC", rep.At, at)
	}
	e := rep.Entries[0]
	if e.Hostname != "mac.example" || e.OS != "darwin" || e.Title != "Title of disk_encryption" || e.ObservedAt != nil {
		t.Errorf("entry = %+v", e)
	}
}

func TestBuildSummaryCountsPerStatus(t *testing.T) {
	t.Parallel()
	old := at.Add(-time.Hour * 24)
	devices := []store.Device{
		device("w1", "windows", old), device("w2", "windows", old), device("w3", "windows", old),
		device("w4", "windows", old), device("w5", "windows", old), device("w6", "windows", old),
		device("lin", "linux", old),
		device("future", "windows", at.Add(time.Hour)), // not in scope yet: counted nowhere
	}
	ls := []store.Latest{
		latest("w1", "disk_encryption", "pass", at),
		latest("w2", "disk_encryption", "pass", at),
		latest("w3", "disk_encryption", "fail", at),
		latest("w4", "disk_encryption", "error", at),
		latest("w5", "disk_encryption", "not_applicable", at),
		latest("w6", "disk_encryption", "pass", at.Add(-4*time.Hour)), // stale: unknown, never a pass
		latest("lin", "disk_encryption", "pass", at),
		latest("w1", "screen_lock", "fail", at),
	}
	rep := posture.Build(at, devices, ls, testCatalog(t), posture.Options{})
	want := []posture.Summary{
		{CheckID: "disk_encryption", Title: "Title of disk_encryption", Devices: 7, Pass: 3, Fail: 1, Error: 1, NotApplicable: 1, Unknown: 1},
		// macos_sip applies to no device here, so it has no summary row.
		{CheckID: "screen_lock", Title: "Title of screen_lock", Devices: 6, Fail: 1, Unknown: 5},
	}
	if !slices.Equal(rep.Summary, want) {
		t.Errorf("summary:\n got %+v\nwant %+v", rep.Summary, want)
	}
	for _, s := range rep.Summary {
		if s.Pass+s.Fail+s.Error+s.NotApplicable+s.Unknown != s.Devices {
			t.Errorf("%s: statuses do not add up to %d devices", s.CheckID, s.Devices)
		}
	}
}

// Build walks latest in check-then-device order; the report must not
// depend on the order either input comes in.
func TestBuildIgnoresInputOrder(t *testing.T) {
	t.Parallel()
	old := at.Add(-24 * time.Hour)
	devices := []store.Device{device("w2", "windows", old), device("lin", "linux", old), device("w1", "windows", old), device("m", "darwin", old)}
	ls := []store.Latest{
		latest("w1", "screen_lock", "fail", at), latest("w2", "disk_encryption", "pass", at),
		latest("lin", "disk_encryption", "fail", at), latest("w1", "disk_encryption", "error", at),
		latest("gone", "disk_encryption", "pass", at), // a device no longer listed
		latest("m", "macos_sip", "pass", at), latest("m", "disk_encryption", "pass", at.Add(-4*time.Hour)),
	}
	cat := testCatalog(t)
	want := posture.Build(at, devices, ls, cat, posture.Options{})
	if len(want.Entries) == 0 || !slices.IsSortedFunc(want.Entries, func(a, b posture.Entry) int {
		return cmp.Or(strings.Compare(a.CheckID, b.CheckID), strings.Compare(a.DeviceID, b.DeviceID))
	}) {
		t.Fatalf("entries not in check, device order: %+v", want.Entries)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		d, l := slices.Clone(devices), slices.Clone(ls)
		rng.Shuffle(len(d), func(i, j int) { d[i], d[j] = d[j], d[i] })
		rng.Shuffle(len(l), func(i, j int) { l[i], l[j] = l[j], l[i] })
		if got := posture.Build(at, d, l, cat, posture.Options{}); !reflect.DeepEqual(got, want) {
			t.Fatalf("devices %v, latest %v:\n got %+v\nwant %+v", d, l, got, want)
		}
	}
}
