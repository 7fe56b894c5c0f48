package reportbench

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fleetproof/fleetproof/collector/internal/compliance"
	"github.com/fleetproof/fleetproof/collector/internal/cpumeter"
	"github.com/fleetproof/fleetproof/collector/internal/posture"
	"github.com/fleetproof/fleetproof/collector/internal/store"
	"github.com/fleetproof/fleetproof/queries"
)

// The data set is opened (and seeded, the first time) by the first
// benchmark that needs it, so `go test ./...` without -bench never
// starts a server or writes gigabytes.
var (
	dsOnce sync.Once
	dsData *Dataset
	dsErr  error
)

// TestMain stops the data set's server after the run.
func TestMain(m *testing.M) {
	code := m.Run()
	if dsData != nil {
		if err := dsData.Close(); err != nil {
			slog.Error("reportbench: close data set", "err", err)
		}
	}
	os.Exit(code)
}

// scale is Full unless REPORTBENCH_SCALE=devices,checks,days asks for a
// smaller (or larger) fleet, e.g. to try the benchmarks quickly.
func scale() (Scale, error) {
	v := os.Getenv("REPORTBENCH_SCALE")
	if v == "" {
		return Full, nil
	}
	var n [3]int
	parts := strings.Split(v, ",")
	for i := range n {
		if len(parts) != 3 {
			break
		}
		n[i], _ = strconv.Atoi(strings.TrimSpace(parts[i]))
	}
	if n[0] <= 0 || n[1] <= 0 || n[2] <= 0 {
		return Scale{}, fmt.Errorf("REPORTBENCH_SCALE=%q: want devices,checks,days", v)
	}
	return Scale{Devices: n[0], Checks: n[1], Days: n[2]}, nil
}

func dataset(tb testing.TB) *Dataset {
	tb.Helper()
	dsOnce.Do(func() {
		root := os.Getenv("REPORTBENCH_DIR")
		if root == "" {
			root = DefaultRoot
		}
		sc, err := scale()
		if err != nil {
			dsErr = err
			return
		}
		log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
		dsData, dsErr = Open(context.Background(), root, sc, log)
	})
	if dsErr != nil {
		tb.Fatal(dsErr)
	}
	return dsData
}

func catalog(tb testing.TB) *queries.Catalog {
	tb.Helper()
	cat, err := queries.Load()
	if err != nil {
		tb.Fatal(err)
	}
	return cat
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// reportCores adds the meter's figures: the cores this process and
// ClickHouse used while timed, and what the rest of the machine used.
func reportCores(b *testing.B, m *cpumeter.Meter) {
	self, ch, other := m.Cores()
	b.ReportMetric(self, "go-cores")
	b.ReportMetric(ch, "clickhouse-cores")
	b.ReportMetric(other, "other-cores")
}

// BenchmarkDataset times nothing: it reports the data set the other
// benchmarks read (its scale, rows, seeding time and size) so the table
// can print them next to the figures.
func BenchmarkDataset(b *testing.B) {
	ds := dataset(b)
	sizes, err := ds.Sizes(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
	}
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(ds.Fleet.Devices), "devices")
	b.ReportMetric(float64(ds.Fleet.Checks), "checks")
	b.ReportMetric(float64(ds.Fleet.Days), "days")
	b.ReportMetric(float64(ds.Stamp.Rows), "rows")
	b.ReportMetric(float64(ds.Stamp.RollupRows), "rollup-rows")
	b.ReportMetric(ds.Stamp.SeedSeconds, "seed-s")
	b.ReportMetric(ds.Stamp.InsertSeconds, "insert-s")
	b.ReportMetric(map[bool]float64{false: 0, true: 1}[ds.Cached], "cached")
	b.ReportMetric(float64(ds.DiskBytes())/(1<<20), "disk-MB")
	for _, s := range sizes {
		switch s.Table {
		case "results":
			b.ReportMetric(float64(s.Compressed)/(1<<20), "results-MB")
			b.ReportMetric(float64(s.Uncompressed)/(1<<20), "results-raw-MB")
		case "results_daily":
			b.ReportMetric(float64(s.Compressed)/(1<<20), "rollup-MB")
		}
	}
}

// Instants the posture benchmarks ask about: the last second of the
// period, and the middle of it (mid-day, so part of that day is after the
// instant).
func postureInstants(f *Fleet) []struct {
	name string
	at   time.Time
} {
	mid := Start.AddDate(0, 0, f.Days/2).Add(12*time.Hour + 34*time.Minute + 56*time.Second)
	return []struct {
		name string
		at   time.Time
	}{{"end", f.End().Add(-time.Second)}, {"middle", mid}}
}

// BenchmarkPostureAsOf does what `fleetproof-collector posture -at T`
// does before rendering: the devices, the latest result per device and
// check at T, and posture.Build.
func BenchmarkPostureAsOf(b *testing.B) {
	ds := dataset(b)
	cat := catalog(b)
	for _, in := range postureInstants(ds.Fleet) {
		b.Run(in.name, func(b *testing.B) {
			var devices, latest time.Duration
			var entries, pairs int
			m := cpumeter.NewMeter(ds.Server.Pid())
			for b.Loop() {
				src := NewTimed(ds.Store)
				m.Start()
				rep, err := posture.Compute(b.Context(), src, in.at, cat, posture.Options{StaleAfter: 3})
				if err != nil {
					b.Fatal(err)
				}
				m.Stop()
				devices, latest = devices+src.Spent["Devices"], latest+src.Spent["LatestResults"]
				entries, pairs = len(rep.Entries), src.Pairs
			}
			reportCores(b, m)
			n := float64(b.N)
			b.ReportMetric(ms(devices)/n, "devices-ms")
			b.ReportMetric(ms(latest)/n, "latest-ms")
			b.ReportMetric(float64(pairs), "pairs")
			b.ReportMetric(float64(entries), "entries")
		})
	}
}

// BenchmarkCompliance does what `fleetproof-collector compliance -from
// START -to END` does before rendering: the exceptions known at the end,
// then compliance.Compute (devices, revocations, the rollup, Build), for
// one check and for one control over the whole period.
func BenchmarkCompliance(b *testing.B) {
	ds := dataset(b)
	cat := catalog(b)
	for _, req := range []struct{ name, check, control string }{
		{"check=disk_encryption", "disk_encryption", ""},
		{"control=" + benchControl, "", benchControl},
	} {
		b.Run(req.name, func(b *testing.B) {
			src := NewTimed(ds.Store)
			var rep compliance.Report
			m := cpumeter.NewMeter(ds.Server.Pid())
			for b.Loop() {
				m.Start()
				recs, err := ds.Store.Exceptions(b.Context(), ds.Fleet.End())
				if err != nil {
					b.Fatal(err)
				}
				excs := make([]store.Exception, len(recs))
				for i, r := range recs {
					excs[i] = r.Exception()
				}
				rep, err = compliance.Compute(b.Context(), src, cat, compliance.Request{CheckID: req.check, Control: req.control,
					From: Start, To: ds.Fleet.End(), Now: time.Now()}, excs)
				if err != nil {
					b.Fatal(err)
				}
				m.Stop()
			}
			reportCores(b, m)
			n := float64(b.N)
			b.ReportMetric(ms(src.Spent["ComplianceDays"])/n, "rollup-ms")
			b.ReportMetric(ms(src.Spent["Devices"])/n, "devices-ms")
			b.ReportMetric(float64(rep.Fleet.Devices), "devices")
			b.ReportMetric(float64(rep.Fleet.DeviceDays.Days), "device-days")
			if s := rep.Fleet.DeviceDays.Share; s != nil {
				b.ReportMetric(*s, "share")
			}
		})
	}
}
