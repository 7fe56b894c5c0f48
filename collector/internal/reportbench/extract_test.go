package reportbench

import (
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fleetproof/fleetproof/collector/internal/cpumeter"
	"github.com/fleetproof/fleetproof/collector/internal/extract"
	"github.com/fleetproof/fleetproof/collector/internal/store"
)

// The compliance and extract benchmarks' control: CC6.1 is evidenced by
// disk_encryption and screen_lock, two hourly checks on every OS.
const benchControl = "CC6.1"

// extractBytesPerRow is the scratch disk an extract needs per row of its
// big files at its peak, measured on this data set with every result in
// evidence.csv: the CSV (245 bytes a row) and the worksheet XML excelize
// streams to temp files (1,061 bytes a row, 1 GB per million rows) are
// all on disk while the workbook is compressed into evidence.xlsx. A
// quarter of CC6.1 with every result (43M rows) needs about 60 GB; the
// default bundle (daily counts and the sample's results) about 2 GB.
const extractBytesPerRow = 1500

// diskShare is how much of the temp dir's free space the extract may
// plan to use: the machine is shared, and a full disk fails more than
// this benchmark.
const diskShare = 0.25

// extractDays is how many days of the period the extract benchmark
// covers: all of them if the bundle fits in diskShare of the free space
// where it is written, else as many as fit (at least one), unless
// REPORTBENCH_EXTRACT_DAYS says. rows is the evidence rows of the whole
// period.
func extractDays(tb testing.TB, dir string, days int, rows uint64) (int, string) {
	if v := os.Getenv("REPORTBENCH_EXTRACT_DAYS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 || n > days {
			tb.Fatalf("REPORTBENCH_EXTRACT_DAYS=%q: want 1..%d", v, days)
		}
		return n, "REPORTBENCH_EXTRACT_DAYS"
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		tb.Fatal(err)
	}
	free := float64(st.Bavail) * float64(st.Bsize)
	need := float64(rows) * extractBytesPerRow
	if need <= diskShare*free {
		return days, "whole period"
	}
	n := max(int(float64(days)*diskShare*free/need), 1)
	return n, "disk: the whole period needs ~" + strconv.Itoa(int(need/(1<<30))) + " GB of scratch, " +
		strconv.Itoa(int(free/(1<<30))) + " GB free"
}

// evidenceRows counts the results an extract of checks over [from, to)
// lists (duplicates not yet merged aside; the data set is merged).
func evidenceRows(tb testing.TB, ds *Dataset, checks []string, from, to time.Time) uint64 {
	var n uint64
	err := ds.Store.Conn().QueryRow(tb.Context(), `SELECT count() FROM results
		WHERE observed_at >= toDateTime(?) AND observed_at < toDateTime(?) AND has(?, check_id)`,
		from.Unix(), to.Unix(), checks).Scan(&n)
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// BenchmarkExtract does what `fleetproof-collector extract -controls
// CC6.1 -from START -to END -out DIR` does, into a temp dir, and reports
// what it wrote and where the time went: each file's phase (from the
// extract's own progress lines), the part of evidence.csv spent waiting
// for rows rather than writing them, and the final hashing and signing.
// When the bundle of the whole period would not fit the disk (see
// extractDays) it extracts the first days that do and reports the
// evidence rows of the whole period, so the table can project.
func BenchmarkExtract(b *testing.B) {
	ds := dataset(b)
	cat := catalog(b)
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	checks := ds.Fleet.ControlChecks(cat, benchControl)
	fullRows := evidenceRows(b, ds, checks, Start, ds.Fleet.End())
	b.Run("control="+benchControl, func(b *testing.B) {
		// The bundle's big files: evidence_daily.csv, a row per pair-day
		// (results / 24 of hourly checks), and the sample's results.
		planned := fullRows/24 + uint64(25*len(checks)*ds.Fleet.Days*24)
		days, why := extractDays(b, os.TempDir(), ds.Fleet.Days, planned)
		if days < ds.Fleet.Days {
			b.Logf("extracting %d of %d days (%s)", days, ds.Fleet.Days, why)
		}
		last := Start.AddDate(0, 0, days-1)
		var man *extract.Manifest
		var src *Timed
		var phases *Phases
		var total time.Duration
		m := cpumeter.NewMeter(ds.Server.Pid())
		for range b.N {
			dir := filepath.Join(b.TempDir(), "bundle")
			src, phases = NewTimed(ds.Store), NewPhases()
			from, to := Start.Format(time.DateOnly), last.Format(time.DateOnly)
			o := extract.Options{Controls: []string{benchControl}, From: Start, To: last,
				SampleSize: 25, Seed: extract.DefaultSeed([]string{benchControl}, from, to), Catalog: cat, Key: key,
				Version: "reportbench", Progress: phases, ProgressEvery: 1 << 62}
			began := time.Now()
			m.Start()
			if man, err = extract.Write(b.Context(), dir, src, o); err != nil {
				b.Fatal(err)
			}
			m.Stop()
			total += time.Since(began)
			b.StopTimer()
			os.RemoveAll(dir) // gigabytes
			b.StartTimer()
		}
		reportCores(b, m)
		b.ReportMetric(float64(days), "extract-days")
		b.ReportMetric(float64(ds.Fleet.Days), "period-days")
		b.ReportMetric(float64(fullRows), "period-evidence-rows")
		b.ReportMetric(float64(fullRows)*extractBytesPerRow/(1<<30), "period-scratch-GB")
		var rows, bytes int64
		for _, f := range man.Files {
			bytes += f.Size
			if f.Rows != nil && f.Name != extract.WorkbookFile {
				rows += int64(*f.Rows)
			}
			switch f.Name {
			case extract.EvidenceFile:
				b.ReportMetric(float64(*f.Rows), "evidence-rows")
				b.ReportMetric(float64(f.Size)/(1<<20), "evidence-MB")
			case extract.DailyFile:
				b.ReportMetric(float64(*f.Rows), "daily-rows")
			case extract.WorkbookFile:
				b.ReportMetric(float64(f.Size)/(1<<20), "xlsx-MB")
			}
		}
		b.ReportMetric(float64(rows), "rows")
		b.ReportMetric(float64(bytes)/(1<<20), "MB")
		// Phases of the last run.
		var sum time.Duration
		for _, p := range phases.Done {
			sum += p.Took
			name := strings.TrimSuffix(p.File, ".csv")
			if p.File == extract.WorkbookFile {
				name = "workbook" // saving it: the sheets were filled with the CSVs
			}
			b.ReportMetric(p.Took.Seconds(), "phase-"+name+"-s")
		}
		b.ReportMetric((total/time.Duration(b.N) - sum).Seconds(), "phase-sign-s")
		b.ReportMetric((src.Spent["EachResult"] - src.RowsFn).Seconds(), "evidence-read-s")
		b.ReportMetric(src.RowsFn.Seconds(), "evidence-write-s")
		b.ReportMetric(src.Spent["ComplianceDays"].Seconds(), "rollup-s")
		b.ReportMetric(src.Spent["EachDay"].Seconds(), "daily-read-s")
	})
}

// BenchmarkEvidenceScan is the extract's one big read on its own, over
// the whole period: every result of the control's checks through
// store.EachResult, no files. With BenchmarkExtract it splits the
// extract's time between ClickHouse plus the driver and writing the
// bundle.
func BenchmarkEvidenceScan(b *testing.B) {
	ds := dataset(b)
	checks := ds.Fleet.ControlChecks(catalog(b), benchControl)
	b.Run("control="+benchControl, func(b *testing.B) {
		var n int64
		m := cpumeter.NewMeter(ds.Server.Pid())
		for b.Loop() {
			m.Start()
			n = 0
			err := ds.Store.EachResult(b.Context(), checks, nil, Start, ds.Fleet.End(), func(store.ResultRow) error {
				n++
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			m.Stop()
		}
		reportCores(b, m)
		b.ReportMetric(float64(n), "rows")
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	})
}
