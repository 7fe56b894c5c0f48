package main

import (
	"strings"
	"testing"
)

// A run's lines, trimmed to the metrics the table reads.
const sample = `=== RUN   TestLatestResultsMatchFullScanOnLargeFleet
--- PASS: TestLatestResultsMatchFullScanOnLargeFleet (111.92s)
BenchmarkDataset-2   5   1.000 cached   20.00 checks   90.00 days   10000 devices   10620 disk-MB   827.7 insert-s   6627 results-MB   64114 results-raw-MB   3977 rollup-MB   17981840 rollup-rows   431470040 rows   983.7 seed-s
BenchmarkPostureAsOf/end-2   5   4348155540 ns/op   1.672 clickhouse-cores   23.54 devices-ms   71000 entries   0.2231 go-cores   4065 latest-ms   0.003220 other-cores   200000 pairs
BenchmarkCompliance/check=disk_encryption-2   5   912376963 ns/op   1.098 clickhouse-cores   900000 device-days   10000 devices   0.3289 go-cores   0 other-cores   855.6 rollup-ms
BenchmarkExtract/control=CC6.1-2   1   7000000000 ns/op   140 MB   4.5 daily-read-s   899092 daily-rows   0.23 evidence-read-s   54000 evidence-rows   0.5 evidence-write-s   45.00 extract-days   90.00 period-days   43147004 period-evidence-rows   4.6 phase-evidence_daily-s   0.8 phase-evidence-s   0.2 phase-workbook-s   0.1 phase-sign-s   953092 rows   0.40 other-cores
BenchmarkPostureFullScan/end-2   1   16048746360 ns/op   200000 pairs
PASS
`

func TestTableJudgesEachFigureAgainstItsTarget(t *testing.T) {
	var echo strings.Builder
	rs, failed, err := read(strings.NewReader(sample), &echo)
	if err != nil || failed || len(rs) != 5 || echo.String() != sample {
		t.Fatalf("read: %d results, failed %v, err %v", len(rs), failed, err)
	}
	var out strings.Builder
	table(&out, rs)
	got := out.String()
	for _, want := range []string{
		"the issue's full scale",
		"seeded server-side in 16 m 23 s",
		"posture as of the period's last second             4.35 s  < 1.00 s NOT MET",
		"before (full scan): 16.05 s",
		"posture as of mid-period (day 46 12:34:56)              -  < 1.00 s not run",
		"compliance, 90 days, one check                     912 ms  < 2.00 s met",
		// 45 of 90 days measured, the 90 projected by days.
		"extract, 45 of 90 days, one control",
		"extract, 90 days (projected from the above)",
		"~14.00 s < 30.00 s met",
		"43,147,004 results in the period",
		"899,092 rows",
		"Latest" + "Results = the full scan on this data set (random instants, at and just before an observation): yes",
		"evidence_daily             4.60 s",
		"WARNING: other processes used up to 0.40 cores",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("no %q in:\n%s", want, got)
		}
	}
}

func TestFailedRunIsReported(t *testing.T) {
	_, failed, _ := read(strings.NewReader("--- FAIL: TestLatestResultsMatchFullScanOnLargeFleet (1s)\nFAIL\n"), &strings.Builder{})
	if !failed || equivalence != "FAIL" {
		t.Errorf("failed %v, equivalence %q", failed, equivalence)
	}
}
