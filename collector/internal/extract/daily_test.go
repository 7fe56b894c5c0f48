package extract_test

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/fleetproof/fleetproof/collector/internal/extract"
)

// By default evidence.csv lists the sampled devices' results only, and
// evidence_daily.csv counts every device's results per day. Both are
// checked against an --all-results extract of the same data: the sample's
// rows exactly, and each day's counts, times and statuses recomputed here
// from the full list of results (the bundle reads them from the rollup).
func TestDefaultBundleListsTheSamplesResultsAndCountsEveryDay(t *testing.T) {
	st := fleet(t)
	allDir, _ := write(t, st, options(t))
	o := options(t)
	o.AllResults = false
	dir, m := write(t, st, o)
	full := readCSV(t, filepath.Join(allDir, extract.EvidenceFile))

	sample := column(t, readCSV(t, filepath.Join(dir, extract.SampleFile)), "device_id")
	want := [][]string{full[0]}
	for _, r := range full[1:] {
		if slices.Contains(sample, r[0]) {
			want = append(want, r)
		}
	}
	if len(want) < 2 || len(want) == len(full) {
		t.Fatalf("the fixture's sample %v has %d of %d results: the test needs some, not all", sample, len(want)-1, len(full)-1)
	}
	got := readCSV(t, filepath.Join(dir, extract.EvidenceFile))
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("evidence.csv holds\n%q\nwant the sampled devices' results\n%q", got, want)
	}

	type day struct {
		counts                                   [5]int // results, pass, fail, error, not_applicable
		first, last, lastStatus, firstFail, host string
	}
	days := map[[3]string]*day{}
	var order [][3]string
	h := full[0]
	col := func(r []string, name string) string { return r[slices.Index(h, name)] }
	for _, r := range full[1:] { // ordered by device, check and time
		at := col(r, "observed_at")
		k := [3]string{col(r, "device_id"), col(r, "check_id"), at[:10]}
		d := days[k]
		if d == nil {
			d = &day{first: at, host: col(r, "hostname")}
			days[k] = d
			order = append(order, k)
		}
		d.counts[0]++
		d.counts[1+slices.Index([]string{"pass", "fail", "error", "not_applicable"}, col(r, "status"))]++
		d.last, d.lastStatus = at, col(r, "status")
		if d.firstFail == "" && d.lastStatus == "fail" {
			d.firstFail = at
		}
	}
	var wantDaily [][]string
	for _, k := range order {
		d := days[k]
		row := []string{k[0], d.host, k[1], k[2]}
		for _, n := range d.counts {
			row = append(row, strconv.Itoa(n))
		}
		wantDaily = append(wantDaily, append(row, d.first, d.last, d.lastStatus, d.firstFail))
	}
	daily := readCSV(t, filepath.Join(dir, extract.DailyFile))
	if !slices.EqualFunc(daily[1:], wantDaily, slices.Equal) {
		t.Errorf("evidence_daily.csv:\n got %q\nwant %q", daily[1:], wantDaily)
	}
	if i := slices.IndexFunc(m.Files, func(f extract.FileEntry) bool { return f.Name == extract.DailyFile }); i < 0 || *m.Files[i].Rows != len(wantDaily) {
		t.Error("the manifest does not list evidence_daily.csv with its row count")
	}

	// Compliance is derived from the daily counts in both modes.
	a, _ := os.ReadFile(filepath.Join(allDir, extract.ComplianceFile))
	b, _ := os.ReadFile(filepath.Join(dir, extract.ComplianceFile))
	if !bytes.Equal(a, b) {
		t.Error("compliance.csv differs between a default and an --all-results extract of the same data")
	}
	readme, _ := os.ReadFile(filepath.Join(dir, extract.ReadmeFile))
	if !bytes.Contains(readme, []byte("of the sampled devices (sample.csv)")) {
		t.Error("the README does not say evidence.csv lists the sampled devices' results")
	}
}

// evidence_daily goes in the workbook when the population's device-days
// fit one worksheet, and is the CSV file alone (the README says so) when
// they could not: decided before a row is read, so the same inputs always
// give the same workbook.
func TestDailyCountsLeaveTheWorkbookWhenTheyCouldOutgrowASheet(t *testing.T) {
	st := fleet(t)
	sheets := func(dir string) []string {
		f, err := excelize.OpenFile(filepath.Join(dir, extract.WorkbookFile))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		return f.GetSheetList()
	}
	dir, _ := write(t, st, options(t))
	if !slices.Contains(sheets(dir), "evidence_daily") {
		t.Errorf("a small fleet's daily counts are not in the workbook: sheets %q", sheets(dir))
	}
	// The fixture's population is 13 devices over 181 days: a few
	// thousand device-days.
	defer extract.SetMaxSheetRows(extract.SetMaxSheetRows(1000))
	dir, m := write(t, st, options(t))
	if got := sheets(dir); slices.Contains(got, "evidence_daily") || !slices.Contains(got, "compliance") {
		t.Errorf("sheets %q: want every table but evidence_daily", got)
	}
	readme, _ := os.ReadFile(filepath.Join(dir, extract.ReadmeFile))
	if !bytes.Contains(readme, []byte("evidence_daily.csv (")) || !bytes.Contains(readme, []byte("is not in evidence.xlsx")) {
		t.Error("the README does not say evidence_daily.csv was left out of the workbook")
	}
	if res, err := extract.Verify(dir, m.SigningKey.Fingerprint); err != nil || !res.OK() {
		t.Errorf("the bundle does not verify: %v %v", err, res)
	}
}
