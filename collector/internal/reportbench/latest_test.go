package reportbench

import (
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/fleetproof/fleetproof/collector/internal/cpumeter"
	"github.com/fleetproof/fleetproof/collector/internal/store"
)

// fullScan is store.LatestResultsFullScan, the definition LatestResults
// keeps to; BenchmarkPostureFullScan times it as the "before".
func fullScan(tb testing.TB, st *store.Store, at time.Time) []store.Latest {
	tb.Helper()
	out, err := st.LatestResultsFullScan(tb.Context(), at)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// observationNear returns the instant of a stored result: device dev's
// check c in the hour starting at hour, found by the sort key.
func observationNear(tb testing.TB, ds *Dataset, dev int, check string, hour time.Time) (time.Time, bool) {
	tb.Helper()
	var at time.Time
	var ns uint32
	err := ds.Store.Conn().QueryRow(tb.Context(), `SELECT observed_at, observed_ns FROM results
		WHERE device_id = ? AND check_id = ? AND observed_at >= toDateTime(?) AND observed_at < toDateTime(?) LIMIT 1`,
		DeviceID(dev), check, hour.Unix(), hour.Add(time.Hour).Unix()).Scan(&at, &ns)
	if err != nil {
		return time.Time{}, false
	}
	return at.UTC().Add(time.Duration(ns)), true
}

// The large data set's proof that LatestResults (window + rollup +
// lookups) answers exactly as the full scan: at the benchmarks' instants,
// at random ones, exactly at a stored observation and a nanosecond
// before it, and at a midnight. Each full scan reads the whole history,
// so this takes minutes; it runs when REPORTBENCH=1 (make bench-report
// sets it), never in a plain `go test ./...`.
func TestLatestResultsMatchFullScanOnLargeFleet(t *testing.T) {
	if os.Getenv("REPORTBENCH") == "" {
		t.Skip("set REPORTBENCH=1 to compare with the full scan on the large data set (make bench-report does)")
	}
	ds := dataset(t)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 2))
	var instants []time.Time
	for _, in := range postureInstants(ds.Fleet) {
		instants = append(instants, in.at)
	}
	span := int64(ds.Fleet.End().Sub(Start))
	instants = append(instants, Start.Add(time.Duration(rng.Int64N(span))), Start.AddDate(0, 0, 1+rng.IntN(ds.Fleet.Days-1)))
	for range 2 {
		hour := Start.Add(time.Duration(rng.IntN(ds.Fleet.Days*24)) * time.Hour)
		if at, ok := observationNear(t, ds, rng.IntN(ds.Fleet.Devices), ds.Fleet.CheckIDs[rng.IntN(ds.Fleet.Checks)], hour); ok {
			instants = append(instants, at, at.Add(-time.Nanosecond))
		}
	}
	for _, at := range instants {
		began := time.Now()
		got, err := ds.Store.LatestResults(t.Context(), at)
		if err != nil {
			t.Fatal(err)
		}
		took := time.Since(began)
		began = time.Now()
		want := fullScan(t, ds.Store, at)
		t.Logf("as of %s: %d pairs; LatestResults %s, full scan %s", at.Format(time.RFC3339Nano), len(want),
			took.Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
		if i := firstDifference(got, want); i >= 0 {
			t.Errorf("as of %s: LatestResults differs from the full scan (%d vs %d pairs), first at %d:\n got %+v\nwant %+v",
				at.Format(time.RFC3339Nano), len(got), len(want), i, at0(got, i), at0(want, i))
		}
	}
}

func firstDifference(a, b []store.Latest) int {
	for i := range max(len(a), len(b)) {
		if i >= len(a) || i >= len(b) {
			return i
		}
		x, y := a[i], b[i]
		if x.DeviceID != y.DeviceID || x.CheckID != y.CheckID || x.Status != y.Status || !x.ObservedAt.Equal(y.ObservedAt) ||
			x.Reason != y.Reason || x.Error != y.Error || x.Rows != y.Rows {
			return i
		}
	}
	return -1
}

func at0(ls []store.Latest, i int) any {
	if i < len(ls) {
		return ls[i]
	}
	return "(none)"
}

// BenchmarkPostureFullScan times LatestResults' former query, the full
// scan, at the same instants as BenchmarkPostureAsOf: the "before" of the
// rollup-based query.
func BenchmarkPostureFullScan(b *testing.B) {
	ds := dataset(b)
	for _, in := range postureInstants(ds.Fleet) {
		b.Run(in.name, func(b *testing.B) {
			m := cpumeter.NewMeter(ds.Server.Pid())
			var n int
			for b.Loop() {
				m.Start()
				n = len(fullScan(b, ds.Store, in.at))
				m.Stop()
			}
			reportCores(b, m)
			b.ReportMetric(float64(n), "pairs")
		})
	}
}
