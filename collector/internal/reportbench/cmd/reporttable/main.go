// Command reporttable reads `go test -bench` output of the reportbench
// package on stdin, echoes it, and then prints the data set the figures
// were measured on and each figure against its target (posture as of an
// instant < 1 s, period compliance for 90 days < 2 s, a full extract
// < 30 s), with where the extract's time went. Benchmarks only report;
// the judging happens here, so `go test` never fails on a slow machine.
//
// It exits non-zero when the benchmark run failed or measured nothing.
package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/fleetproof/fleetproof/collector/internal/benchfmt"
)

// equivalence is the large-data proof that LatestResults answers as the
// full scan: "PASS", "FAIL", "SKIP" or "" when it did not run.
var equivalence string

const equivalenceTest = "TestLatestResultsMatchFullScanOnLargeFleet"

func main() {
	results, failed, err := read(os.Stdin, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "reporttable:", err)
		os.Exit(1)
	}
	if len(results) == 0 {
		fmt.Fprintln(os.Stderr, "reporttable: no benchmark results in the input")
		os.Exit(1)
	}
	fmt.Println()
	table(os.Stdout, results)
	if failed {
		fmt.Fprintln(os.Stderr, "reporttable: the benchmark run failed (see FAIL above)")
		os.Exit(1)
	}
}

// read is benchfmt.Read, noting on the way how the equivalence test
// ended.
func read(in io.Reader, echo io.Writer) ([]benchfmt.Result, bool, error) {
	equivalence = ""
	return benchfmt.Read(in, echo, func(line string) {
		for _, v := range []string{"PASS", "FAIL", "SKIP"} {
			if strings.HasPrefix(strings.TrimSpace(line), "--- "+v+": "+equivalenceTest) {
				equivalence = v
			}
		}
	})
}

// dur formats seconds for people: 412 ms, 3.27 s, 4 m 05 s.
func dur(s float64) string {
	switch {
	case s < 1:
		return fmt.Sprintf("%.0f ms", s*1000)
	case s < 120:
		return fmt.Sprintf("%.2f s", s)
	default:
		return fmt.Sprintf("%d m %02d s", int(s)/60, int(s)%60)
	}
}

// busyOther is how much CPU other processes may take (in cores, while a
// figure was measured) before the table calls the figure unreliable.
const busyOther = 0.25

// target is one figure the issue sets a limit for.
type target struct {
	label, bench string
	limit        float64 // seconds
	detail       func(m map[string]float64) string
}

// name is the label with the period's days (%[1]d) and its middle day
// (%[2]d) filled in.
func (t target) name(days int) string {
	if !strings.Contains(t.label, "%") {
		return t.label
	}
	return fmt.Sprintf(t.label, days, days/2+1)
}

// targets' labels may name the period's days and middle day (see name).
var targets = []target{
	{"posture as of the period's last second", "BenchmarkPostureAsOf/end", 1, postureDetail},
	{"posture as of mid-period (day %[2]d 12:34:56)", "BenchmarkPostureAsOf/middle", 1, postureDetail},
	{"compliance, %[1]d days, one check", "BenchmarkCompliance/check=disk_encryption", 2, complianceDetail},
	{"compliance, %[1]d days, one control (CC6.1)", "BenchmarkCompliance/control=CC6.1", 2, complianceDetail},
	{"extract, %[1]d days, one control (CC6.1)", "BenchmarkExtract/control=CC6.1", 30, extractDetail},
}

func postureDetail(m map[string]float64) string {
	return fmt.Sprintf("LatestResults %s, Devices %s; %s pairs, %s entries",
		dur(m["latest-ms"]/1000), dur(m["devices-ms"]/1000), benchfmt.Num(m["pairs"]), benchfmt.Num(m["entries"]))
}

func complianceDetail(m map[string]float64) string {
	return fmt.Sprintf("rollup read %s; %s devices, %s device-days",
		dur(m["rollup-ms"]/1000), benchfmt.Num(m["devices"]), benchfmt.Num(m["device-days"]))
}

func extractDetail(m map[string]float64) string {
	return fmt.Sprintf("%s rows, %s MB written", benchfmt.Num(m["rows"]), benchfmt.Num(m["MB"]))
}

func table(w io.Writer, rs []benchfmt.Result) {
	fmt.Fprintln(w, "== Fleetproof reports on a large fleet (ClickHouse 18.16, dedicated server) ==")
	days := 90 // the period, unless the data set says otherwise
	if ds, ok := benchfmt.Find(rs, "BenchmarkDataset"); ok && ds.Metrics["days"] > 0 {
		days = int(ds.Metrics["days"])
	}
	if ds, ok := benchfmt.Find(rs, "BenchmarkDataset"); ok {
		m := ds.Metrics
		full := m["devices"] == 10_000 && m["checks"] == 20 && m["days"] == 90
		scale := "the issue's full scale"
		if !full {
			scale = "SCALED DOWN from 10,000 x 20 x 90"
		}
		fmt.Fprintf(w, "Data set: %s devices x %s checks x %s days of hourly results (%s)\n",
			benchfmt.Num(m["devices"]), benchfmt.Num(m["checks"]), benchfmt.Num(m["days"]), scale)
		fmt.Fprintf(w, "  %s results (%s rollup rows); results %s MB on disk (%s MB uncompressed), rollup %s MB; data dir %s MB\n",
			benchfmt.Num(m["rows"]), benchfmt.Num(m["rollup-rows"]), benchfmt.Num(m["results-MB"]), benchfmt.Num(m["results-raw-MB"]), benchfmt.Num(m["rollup-MB"]), benchfmt.Num(m["disk-MB"]))
		cached := ""
		if m["cached"] == 1 {
			cached = " (when it was seeded; this run reused the cached data set)"
		}
		fmt.Fprintf(w, "  seeded server-side in %s, %s of it in the daily INSERT ... SELECTs, the rest merging%s\n",
			dur(m["seed-s"]), dur(m["insert-s"]), cached)
	}
	fmt.Fprintln(w, "Targets")
	fmt.Fprintf(w, "  %-46s %10s %9s %-8s %6s %6s %6s  %s\n", "figure", "measured", "target", "", "go", "CH", "other", "")
	fmt.Fprintf(w, "  %-46s %10s %9s %-8s %6s %6s %6s  %s\n", "", "", "", "", "cores", "cores", "cores", "")
	busy := 0.0
	for _, t := range targets {
		r, ok := benchfmt.Find(rs, t.bench)
		if !ok {
			fmt.Fprintf(w, "  %-46s %10s %9s %-8s\n", t.name(days), "-", "< "+dur(t.limit), "not run")
			continue
		}
		m := r.Metrics
		s := m["ns/op"] / 1e9
		label, detail := t.name(days), t.detail(m)
		if strings.HasPrefix(t.bench, "BenchmarkPostureAsOf/") {
			if fs, ok := benchfmt.Find(rs, strings.Replace(t.bench, "AsOf", "FullScan", 1)); ok {
				detail += fmt.Sprintf("; before (full scan): %s", dur(fs.Metrics["ns/op"]/1e9))
			}
		}
		days, period := m["extract-days"], m["period-days"]
		partial := days > 0 && days < period
		if partial {
			label = fmt.Sprintf("extract, %.0f of %.0f days, one control", days, period)
		}
		fmt.Fprintf(w, "  %-46s %10s %9s %-8s %6.2f %6.2f %6.2f  %s\n", label, dur(s), "< "+dur(t.limit), benchfmt.Verdict(s < t.limit),
			m["go-cores"], m["clickhouse-cores"], m["other-cores"], detail)
		if partial {
			// Every phase that matters streams rows (read, CSV, sheet XML,
			// deflate, SHA-256), and both big files grow with the days.
			p := s * period / days
			fmt.Fprintf(w, "  %-46s %10s %9s %-8s %6s %6s %6s  %s\n", fmt.Sprintf("extract, %.0f days (projected from the above)", period),
				"~"+dur(p), "< "+dur(t.limit), benchfmt.Verdict(p < t.limit), "", "", "",
				fmt.Sprintf("%s results in the period", benchfmt.Num(m["period-evidence-rows"])))
		}
		busy = max(busy, m["other-cores"])
	}
	switch equivalence {
	case "PASS":
		fmt.Fprintln(w, "  LatestResults = the full scan on this data set (random instants, at and just before an observation): yes")
	case "FAIL":
		fmt.Fprintln(w, "  LatestResults = the full scan on this data set: NO, see the FAIL above")
	default:
		fmt.Fprintln(w, "  LatestResults = the full scan on this data set: not checked in this run (REPORTBENCH=1 -run LargeFleet)")
	}
	if ex, ok := benchfmt.Find(rs, "BenchmarkExtract/control=CC6.1"); ok {
		extractPhases(w, ex.Metrics)
	}
	if sc, ok := benchfmt.Find(rs, "BenchmarkEvidenceScan/control=CC6.1"); ok {
		m := sc.Metrics
		fmt.Fprintf(w, "  the evidence read alone (store.EachResult, whole period, no files): %s for %s rows, %s rows/s\n",
			dur(m["ns/op"]/1e9), benchfmt.Num(m["rows"]), benchfmt.Num(m["rows/s"]))
	}
	if busy > busyOther {
		fmt.Fprintf(w, "  WARNING: other processes used up to %.2f cores while a figure was measured; the figures are\n"+
			"  slower than this machine can do. Run `make bench-report` again on a quieter machine.\n", busy)
	}
}

// extractPhases prints where the extract's time went, largest first.
func extractPhases(w io.Writer, m map[string]float64) {
	type phase struct {
		name string
		s    float64
	}
	var ps []phase
	for unit, v := range m {
		if name, ok := strings.CutPrefix(unit, "phase-"); ok {
			ps = append(ps, phase{strings.TrimSuffix(name, "-s"), v})
		}
	}
	if len(ps) == 0 {
		return
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].s > ps[j].s })
	total := m["ns/op"] / 1e9
	fmt.Fprintf(w, "Where the extract's %s went (the last run; each file from the end of the one before)\n", dur(total))
	for _, p := range ps {
		note := ""
		switch p.name {
		case "evidence":
			note = fmt.Sprintf("(the sample's results: waiting for rows %s, writing CSV + worksheet %s; %s rows, CSV %s MB)",
				dur(m["evidence-read-s"]), dur(m["evidence-write-s"]), benchfmt.Num(m["evidence-rows"]), benchfmt.Num(m["evidence-MB"]))
		case "evidence_daily":
			note = fmt.Sprintf("(every device's days from the rollup: read %s; %s rows; of %s results in the period)",
				dur(m["daily-read-s"]), benchfmt.Num(m["daily-rows"]), benchfmt.Num(m["period-evidence-rows"]))
		case "evidence_workbook", "workbook":
			note = fmt.Sprintf("(saving evidence.xlsx, %s MB)", benchfmt.Num(m["xlsx-MB"]))
		case "compliance":
			note = fmt.Sprintf("(of it the rollup read %s)", dur(m["rollup-s"]))
		case "sign":
			note = "(README, hashing every file, manifest and signature)"
		}
		fmt.Fprintf(w, "  %-22s %10s %5.1f%%  %s\n", p.name, dur(p.s), 100*p.s/total, note)
	}
}
