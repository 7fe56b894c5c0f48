package compliance_test

import (
	"fmt"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/fleetproof/fleetproof/collector/internal/compliance"
	"github.com/fleetproof/fleetproof/collector/internal/store"
	"github.com/fleetproof/fleetproof/queries"
)

func checkYAML(id, interval string, criteria string, platforms ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `id: %s
title: Title of %s
version: 1
description: why it matters
criteria: [%s]
severity: high
interval: %s
pass_when: what passing looks like
remediation: what to do
platforms:
`, id, id, criteria, interval)
	for _, p := range platforms {
		fmt.Fprintf(&b, "  %s:\n    sql: SELECT 1 AS compliant;\n", p)
	}
	return b.String()
}

// testCatalog: disk (everywhere) and lock (not Linux) evidence CC6.1;
// sip (macOS, every 6h) evidences CC6.8 only.
func testCatalog(t *testing.T) *queries.Catalog {
	t.Helper()
	cat, err := queries.Parse(fstest.MapFS{
		"pack.yaml":        {Data: []byte("name: test-pack\nversion: 1.0.0\n")},
		"checks/disk.yaml": {Data: []byte(checkYAML("disk", "1h", "CC6.1, CC6.7", "darwin", "linux", "windows"))},
		"checks/lock.yaml": {Data: []byte(checkYAML("lock", "30m", "CC6.1", "darwin", "windows"))},
		"checks/sip.yaml":  {Data: []byte(checkYAML("sip", "6h", "CC6.8", "darwin"))},
	})
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

// d0 is day 0 of every test period, which lasts five days.
var d0 = time.Date(2025, 3, 10, 0, 0, 0, 0, time.UTC)

func at(day int, hour float64) time.Time {
	return d0.AddDate(0, 0, day).Add(time.Duration(hour * float64(time.Hour)))
}

// verdicts reads one letter a day: . P F E N.
func verdicts(s string) []store.Verdict {
	out := make([]store.Verdict, len(s))
	for i, c := range s {
		out[i] = store.Verdict(strings.IndexRune(".PFEN", c))
	}
	return out
}

func device(id, os string, enrolled time.Time, tags ...string) store.Device {
	d := store.Device{DeviceID: id, Hostname: id + ".example", OS: os, EnrolledAt: enrolled, Tags: map[string]string{}}
	for _, kv := range tags {
		k, v, _ := strings.Cut(kv, "=")
		d.Tags[k] = v
	}
	return d
}

func days(dev, check, v string) store.CheckDays {
	return store.CheckDays{DeviceID: dev, CheckID: check, Days: verdicts(v)}
}

// summary renders a device's row: status share days C/F/E/gap/X/NA.
func summary(d compliance.Device) string {
	sh := "-"
	if d.Share != nil {
		sh = fmt.Sprintf("%.2f", *d.Share)
	}
	return fmt.Sprintf("%s %s %d:%d/%d/%d/%d/%d/%d", d.Status, sh, d.Days,
		d.Compliant, d.Failing, d.Error, d.NoEvidence, d.Excepted, d.NotApplicable)
}

func TestBuildOneCheck(t *testing.T) {
	t.Parallel()
	cat := testCatalog(t)
	disk, _ := cat.Check("disk")
	enrolled := d0.AddDate(0, -1, 0)
	laptop := device("dev-a", "linux", enrolled, "team=lab")
	exc := func(from, to time.Time) store.Exception {
		return store.Exception{ID: "x", DeviceID: "dev-a", CheckID: "disk", CreatedAt: from, Expires: to}
	}
	for _, tc := range []struct {
		name    string
		dev     store.Device
		days    []store.CheckDays
		excs    []store.Exception
		revoked []store.Revocation
		now     time.Time
		want    string // summary, or "" when the device is not in the population
	}{
		{"every day passing is compliant", laptop, []store.CheckDays{days("dev-a", "disk", "PPPPP")}, nil, nil, time.Time{},
			"compliant 1.00 5:5/0/0/0/0/0"},
		{"a day without evidence is a gap, never compliant", laptop, []store.CheckDays{days("dev-a", "disk", "PP.PP")}, nil, nil, time.Time{},
			"partial 1.00 5:4/0/0/1/0/0"},
		{"failing days lower the share", laptop, []store.CheckDays{days("dev-a", "disk", "PFFPP")}, nil, nil, time.Time{},
			"partial 0.60 5:3/2/0/0/0/0"},
		{"an error day is not compliant", laptop, []store.CheckDays{days("dev-a", "disk", "PPEPP")}, nil, nil, time.Time{},
			"partial 0.80 5:4/0/1/0/0/0"},
		{"never compliant", laptop, []store.CheckDays{days("dev-a", "disk", "FFE.F")}, nil, nil, time.Time{},
			"never 0.00 5:0/3/1/1/0/0"},
		{"no results at all", laptop, nil, nil, nil, time.Time{},
			"no_evidence - 5:0/0/0/5/0/0"},
		{"not applicable throughout", laptop, []store.CheckDays{days("dev-a", "disk", "NNNNN")}, nil, nil, time.Time{},
			"not_applicable - 5:0/0/0/0/0/5"},
		{"exceptions covering whole days replace their verdicts", laptop, []store.CheckDays{days("dev-a", "disk", "PFFPP")},
			[]store.Exception{exc(at(1, 0), at(3, 0))}, nil, time.Time{},
			"excepted 1.00 5:3/0/0/0/2/0"},
		{"an exception granted mid-day leaves that day to its results", laptop, []store.CheckDays{days("dev-a", "disk", "PFFPP")},
			[]store.Exception{exc(at(1, 12), at(3, 0))}, nil, time.Time{},
			"partial 0.75 5:3/1/0/0/1/0"},
		{"an exception expiring mid-day leaves that day to its results", laptop, []store.CheckDays{days("dev-a", "disk", "PFFPP")},
			[]store.Exception{exc(at(1, 0), at(2, 12))}, nil, time.Time{},
			"partial 0.75 5:3/1/0/0/1/0"},
		{"back-to-back exceptions cover a day together", laptop, []store.CheckDays{days("dev-a", "disk", "PFPPP")},
			[]store.Exception{exc(at(1, 0), at(1, 12)), exc(at(1, 12), at(2, 0))}, nil, time.Time{},
			"excepted 1.00 5:4/0/0/0/1/0"},
		{"a revoked exception stops covering", laptop, []store.CheckDays{days("dev-a", "disk", "PFFPP")},
			[]store.Exception{func() store.Exception { e := exc(at(1, 0), at(4, 0)); e.RevokedAt = at(2, 0); return e }()}, nil, time.Time{},
			"partial 0.75 5:3/1/0/0/1/0"},
		{"an exception by tag", laptop, []store.CheckDays{days("dev-a", "disk", "PFPPP")},
			[]store.Exception{{Tag: "team=lab", CheckID: "disk", CreatedAt: at(0, 0), Expires: at(9, 0)}}, nil, time.Time{},
			"excepted - 5:0/0/0/0/5/0"},
		{"an exception for another check does not apply", laptop, []store.CheckDays{days("dev-a", "disk", "PFPPP")},
			[]store.Exception{{DeviceID: "dev-a", CheckID: "lock", CreatedAt: at(0, 0), Expires: at(9, 0)}}, nil, time.Time{},
			"partial 0.80 5:4/1/0/0/0/0"},
		{"days before enrollment are out of scope", device("dev-a", "linux", at(2, 10)), []store.CheckDays{days("dev-a", "disk", "..PPP")}, nil, nil, time.Time{},
			"compliant 1.00 3:3/0/0/0/0/0"},
		{"evidence before enrollment widens the scope", device("dev-a", "linux", at(2, 10)), []store.CheckDays{days("dev-a", "disk", ".F.PP")}, nil, nil, time.Time{},
			"partial 0.67 4:2/1/0/1/0/0"},
		{"a revoked device leaves scope after its revocation day", laptop, []store.CheckDays{days("dev-a", "disk", "PP...")}, nil,
			[]store.Revocation{{DeviceID: "dev-a", RevokedAt: at(1, 15)}}, time.Time{},
			"compliant 1.00 2:2/0/0/0/0/0"},
		{"enrolled after the period: not in the population", device("dev-a", "linux", at(5, 0)), nil, nil, nil, time.Time{}, ""},
		{"revoked before the period: not in the population", laptop, nil, nil, []store.Revocation{{DeviceID: "dev-a", RevokedAt: at(-1, 0)}}, time.Time{}, ""},
		{"the check does not apply to the OS: not in the population", device("dev-a", "plan9", enrolled), nil, nil, nil, time.Time{}, ""},
		{"days that have not happened are not gaps", laptop, []store.CheckDays{days("dev-a", "disk", "PPP..")}, nil, nil, at(2, 9),
			"compliant 1.00 3:3/0/0/0/0/0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := compliance.Build(compliance.Input{CheckID: "disk", From: d0, To: at(5, 0), Now: tc.now,
				Checks: []queries.Check{disk}, Devices: []store.Device{tc.dev}, Revocations: tc.revoked,
				Exceptions: tc.excs, Days: tc.days})
			got := ""
			if len(rep.Devices) > 0 {
				got = summary(rep.Devices[0])
			}
			if got != tc.want || len(rep.Devices) > 1 {
				t.Errorf("device = %q, want %q (%d devices)", got, tc.want, len(rep.Devices))
			}
			if rep.Fleet.Devices != len(rep.Devices) {
				t.Errorf("fleet counts %d devices, the report lists %d", rep.Fleet.Devices, len(rep.Devices))
			}
		})
	}
}

// For a control, a device's day is the worst of its applicable checks.
func TestBuildControlTakesTheWorstCheck(t *testing.T) {
	t.Parallel()
	cat := testCatalog(t)
	checks, err := compliance.ChecksFor(cat, "", "CC6.1")
	if err != nil {
		t.Fatal(err)
	}
	before := d0.AddDate(0, -1, 0)
	in := compliance.Input{Control: "CC6.1", From: d0, To: at(6, 0), Checks: checks,
		Devices: []store.Device{device("mac", "darwin", before), device("linux", "linux", before)},
		// Column by column: fail beats all; error beats no evidence; no
		// evidence beats excepted; excepted beats pass; N/A only if both.
		Days: []store.CheckDays{
			days("mac", "disk", "PEPPPN"),
			days("mac", "lock", "FP.PNN"),
			// lock does not apply to Linux: its rows are ignored.
			days("linux", "disk", "PPPPPP"),
			days("linux", "lock", "FFFFFF"),
		},
		Exceptions: []store.Exception{{DeviceID: "mac", CheckID: "disk", CreatedAt: at(3, 0), Expires: at(4, 0)}},
	}
	rep := compliance.Build(in)
	if got := strings.Join(rep.Checks, ","); got != "disk,lock" {
		t.Errorf("checks of CC6.1 = %s", got)
	}
	var got []string
	for _, d := range rep.Devices {
		got = append(got, d.DeviceID+" "+summary(d))
	}
	want := []string{"linux compliant 1.00 6:6/0/0/0/0/0", "mac partial 0.33 6:1/1/1/1/1/1"}
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Errorf("devices:\n got %q\nwant %q", got, want)
	}
	var trend []string
	for _, d := range rep.Trend {
		trend = append(trend, fmt.Sprintf("%s %d:%d/%d/%d/%d/%d", d.Day[5:], d.Devices, d.Passing, d.Failing, d.Unknown, d.Excepted, d.NotApplicable))
	}
	wantTrend := []string{"03-10 2:1/1/0/0/0", "03-11 2:1/0/1/0/0", "03-12 2:1/0/1/0/0",
		"03-13 2:1/0/0/1/0", "03-14 2:2/0/0/0/0", "03-15 2:1/0/0/0/1"}
	if strings.Join(trend, "; ") != strings.Join(wantTrend, "; ") {
		t.Errorf("trend:\n got %q\nwant %q", trend, wantTrend)
	}
	f := rep.Fleet
	if f.Devices != 2 || f.Compliant != 1 || f.Partial != 1 || f.DeviceDays.Days != 12 || f.DeviceDays.Compliant != 7 ||
		f.DeviceDays.Share == nil || *f.DeviceDays.Share != 7.0/9 {
		t.Errorf("fleet = %+v", f)
	}
}

func TestBuildFleetTotalsAndRemediation(t *testing.T) {
	t.Parallel()
	cat := testCatalog(t)
	checks, err := compliance.ChecksFor(cat, "", "CC6.1")
	if err != nil {
		t.Fatal(err)
	}
	before := d0.AddDate(0, -1, 0)
	withFailure := func(cd store.CheckDays, ff, rem time.Time) store.CheckDays {
		cd.FirstFailure, cd.RemediatedAt = ff, rem
		return cd
	}
	rep := compliance.Build(compliance.Input{Control: "CC6.1", From: d0, To: at(3, 0), Checks: checks,
		Devices: []store.Device{
			device("a-ok", "linux", before), device("b-fixed", "darwin", before), device("c-open", "linux", before),
			device("d-gone", "linux", before), device("e-exc", "linux", before), device("f-na", "linux", before),
			device("g-slow", "linux", before),
		},
		Days: []store.CheckDays{
			days("a-ok", "disk", "PPP"),
			// The earlier failure of the two checks is the device's.
			withFailure(days("b-fixed", "disk", "PFP"), at(1, 9), at(2, 9)),
			withFailure(days("b-fixed", "lock", "FPP"), at(0, 8), at(0, 8.5)),
			withFailure(days("c-open", "disk", "FFF"), at(0, 1), time.Time{}),
			days("e-exc", "disk", "FFF"),
			days("f-na", "disk", "NNN"),
			withFailure(days("g-slow", "disk", "PFP"), at(1, 0), at(2, 0)),
		},
		Exceptions: []store.Exception{{DeviceID: "e-exc", CheckID: "disk", CreatedAt: before, Expires: at(9, 0)}},
	})
	byID := map[string]compliance.Device{}
	var statuses []string
	for _, d := range rep.Devices {
		byID[d.DeviceID] = d
		statuses = append(statuses, d.DeviceID+"="+d.Status)
	}
	if got, want := strings.Join(statuses, " "), "a-ok=compliant b-fixed=partial c-open=never d-gone=no_evidence e-exc=excepted f-na=not_applicable g-slow=partial"; got != want {
		t.Errorf("statuses:\n got %s\nwant %s", got, want)
	}
	b := byID["b-fixed"]
	if b.FirstFailure == nil || !b.FirstFailure.Equal(at(0, 8)) || b.FailedCheck != "lock" ||
		b.RemediatedAt == nil || !b.RemediatedAt.Equal(at(0, 8.5)) || b.RemediationSeconds == nil || *b.RemediationSeconds != 1800 {
		t.Errorf("b-fixed failure = %v %q %v %v", b.FirstFailure, b.FailedCheck, b.RemediatedAt, b.RemediationSeconds)
	}
	if c := byID["c-open"]; c.FirstFailure == nil || c.RemediatedAt != nil || c.RemediationSeconds != nil {
		t.Errorf("an open failure = %v %v", c.FirstFailure, c.RemediatedAt)
	}
	f := rep.Fleet
	want := compliance.Fleet{Devices: 7, Compliant: 1, Partial: 2, Never: 1, Excepted: 1, NoEvidence: 1, NotApplicable: 1,
		Failed: 3, Remediated: 2}
	f.DeviceDays, f.MedianRemediationSeconds = compliance.Tally{}, nil
	if f != want {
		t.Errorf("fleet:\n got %+v\nwant %+v", f, want)
	}
	// Median of 1800 s and 86400 s: the lower middle, an observed value.
	if m := rep.Fleet.MedianRemediationSeconds; m == nil || *m != 1800 {
		t.Errorf("median remediation = %v", m)
	}
}

func TestChecksFor(t *testing.T) {
	t.Parallel()
	cat := testCatalog(t)
	for _, tc := range []struct {
		check, control string
		want           string // ids, or "error: ..." substring
	}{
		{"disk", "", "disk"},
		{"", "CC6.1", "disk,lock"},
		{"", "CC6.8", "sip"},
		{"", "CC9.9", "error: no check in pack test-pack 1.0.0 evidences \"CC9.9\""},
		{"nope", "", "error: no check \"nope\""},
		{"disk", "CC6.1", "error: not both or neither"},
		{"", "", "error: not both or neither"},
	} {
		cs, err := compliance.ChecksFor(cat, tc.check, tc.control)
		var got string
		if err != nil {
			got = "error: " + err.Error()
			if !strings.Contains(got, strings.TrimPrefix(tc.want, "error: ")) || !strings.HasPrefix(tc.want, "error: ") {
				t.Errorf("ChecksFor(%q, %q) = %v, want %s", tc.check, tc.control, err, tc.want)
			}
			continue
		}
		for i, c := range cs {
			if i > 0 {
				got += ","
			}
			got += c.ID
		}
		if got != tc.want {
			t.Errorf("ChecksFor(%q, %q) = %s, want %s", tc.check, tc.control, got, tc.want)
		}
	}
}

// A year of a two-check control over ten thousand devices: the Go side of
// a large report (go test -bench Build -benchmem).
func BenchmarkBuildYearOfTenThousandDevices(b *testing.B) {
	cat, err := queries.Parse(fstest.MapFS{
		"pack.yaml":        {Data: []byte("name: test-pack\nversion: 1.0.0\n")},
		"checks/disk.yaml": {Data: []byte(checkYAML("disk", "1h", "CC6.1", "linux"))},
		"checks/lock.yaml": {Data: []byte(checkYAML("lock", "1h", "CC6.1", "linux"))},
	})
	if err != nil {
		b.Fatal(err)
	}
	in := compliance.Input{Control: "CC6.1", From: d0, To: d0.AddDate(1, 0, 0), Checks: cat.Checks}
	year := strings.Repeat("PPPPPPPPPPPPFPPPPPPPPP.PPPPPPE", 13)[:365]
	for i := range 10000 {
		id := fmt.Sprintf("dev-%05d", i)
		in.Devices = append(in.Devices, device(id, "linux", d0.AddDate(0, -1, 0)))
		in.Days = append(in.Days, days(id, "disk", year), days(id, "lock", year))
	}
	b.ResetTimer()
	for b.Loop() {
		rep := compliance.Build(in)
		if len(rep.Devices) != 10000 {
			b.Fatal(len(rep.Devices))
		}
	}
}
