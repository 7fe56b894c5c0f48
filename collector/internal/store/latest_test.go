package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/fleetproof/fleetproof/collector/internal/chtest"
	"github.com/fleetproof/fleetproof/collector/internal/store"
)

// fullScanLatest is the definition LatestResults must keep to.
func fullScanLatest(t *testing.T, s *store.Store, at time.Time) []store.Latest {
	t.Helper()
	out, err := s.LatestResultsFullScan(t.Context(), at)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// obsRow is one result row as the test writes it.
type obsRow struct {
	dev, check string
	at         time.Time
	status     string
	reason     string
	err        string
	rows       string
}

func insertObs(t *testing.T, conn driver.Conn, rs []obsRow) {
	t.Helper()
	b, err := conn.PrepareBatch(t.Context(), `INSERT INTO results (device_id, check_id, observed_at, observed_ns, status,
		check_version, pack, pack_version, rows, reason, error, duration_ms, engine, agent_version, envelope_seq, received_at)`)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rs {
		if err := b.Append(r.dev, r.check, r.at.Truncate(time.Second), uint32(r.at.Nanosecond()), r.status, uint32(1),
			"fleetproof-core", "1.0.0", r.rows, r.reason, r.err, uint32(10), "osquery", "0.1.0", uint64(i+1), r.at.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
}

// latestFleet writes a small fleet shaped to break a rollup-based answer
// if it were wrong anywhere: hourly reporters across a month boundary,
// pairs silent for days or since a previous month, several runs within
// one second (inserted out of order), redelivered duplicates in separate
// parts, results exactly at midnight and at the last nanosecond of a day.
// It returns every row written.
func latestFleet(t *testing.T, conn driver.Conn, rng *rand.Rand) []obsRow {
	t.Helper()
	start := time.Date(2025, 2, 24, 0, 0, 0, 0, time.UTC)
	statuses := []string{"pass", "pass", "pass", "pass", "fail", "error", "not_applicable"}
	var all []obsRow
	obs := func(dev, check string, at time.Time) obsRow {
		st := statuses[rng.IntN(len(statuses))]
		r := obsRow{dev: dev, check: check, at: at, status: st, rows: "[]"}
		switch st {
		case "pass":
			r.reason, r.rows = "1 of 1 rows compliant", fmt.Sprintf(`[{"n":"%d","compliant":"1"}]`, rng.IntN(1000))
		case "fail":
			r.reason, r.rows = "1 of 1 rows not compliant", fmt.Sprintf(`[{"n":"%d","compliant":"0"}]`, rng.IntN(1000))
		case "error":
			r.err = fmt.Sprintf("timeout %d", rng.IntN(1000))
		}
		return r
	}
	var batch []obsRow
	flush := func() {
		if len(batch) > 0 {
			insertObs(t, conn, batch)
			all = append(all, batch...)
			batch = nil
		}
	}
	// Hourly reporters over 12 days (February into March), each device at
	// its own minute; dev-03 goes silent for four days in the middle and
	// dev-04 stops on day 3 for good.
	for day := range 12 {
		for dev := 1; dev <= 4; dev++ {
			for h := range 24 {
				if dev == 3 && day >= 4 && day < 8 || dev == 4 && day >= 3 {
					continue
				}
				at := start.AddDate(0, 0, day).Add(time.Duration(h)*time.Hour + time.Duration(dev*7)*time.Minute +
					time.Duration(rng.IntN(1e9)))
				for _, c := range []string{"disk_encryption", "firewall"} {
					batch = append(batch, obs(fmt.Sprintf("dev-%02d", dev), c, at))
				}
			}
		}
		flush() // a part per day, as hourly ingest would leave before merges
	}
	// One result long ago, in January, and nothing since.
	batch = append(batch, obs("dev-old", "disk_encryption", time.Date(2025, 1, 3, 4, 5, 6, 7, time.UTC)))
	// Runs within one second, the later inserted first; and the edges of
	// a day.
	sec := start.AddDate(0, 0, 5).Add(10*time.Hour + 30*time.Minute)
	late, early := obs("dev-sub", "screen_lock", sec.Add(900*time.Millisecond)), obs("dev-sub", "screen_lock", sec.Add(100*time.Millisecond))
	batch = append(batch, late, obs("dev-mid", "screen_lock", start.AddDate(0, 0, 6)),
		obs("dev-mid", "firewall", start.AddDate(0, 0, 6).Add(-time.Nanosecond)))
	flush()
	batch = append(batch, early)
	flush()
	// Redeliveries of rows already stored, in a part of their own.
	for range 20 {
		batch = append(batch, all[rng.IntN(len(all))])
	}
	flush()
	return all
}

func equalLatest(a, b []store.Latest) bool {
	return slices.EqualFunc(a, b, func(x, y store.Latest) bool {
		return x.DeviceID == y.DeviceID && x.CheckID == y.CheckID && x.Status == y.Status && x.ObservedAt.Equal(y.ObservedAt) &&
			x.Reason == y.Reason && x.Error == y.Error && x.Rows == y.Rows
	})
}

// LatestResults reads a window of results by time, and looks up the pairs
// silent through it by key (or, when many are, from every pair's rollup);
// at every instant it must answer exactly as the full scan does: random
// instants, the instant of every kind of observation, a nanosecond before
// it, midnights, and before and after all data. Not parallel: it sets
// SetLatestThresholds.
func TestLatestResultsMatchesFullScan(t *testing.T) {
	s := openStore(t, chtest.Database(t))
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	all := latestFleet(t, s.Conn(), rng)

	first, last := all[0].at, all[0].at
	for _, r := range all {
		if r.at.Before(first) {
			first = r.at
		}
		if r.at.After(last) {
			last = r.at
		}
	}
	var instants []time.Time
	for range 40 {
		instants = append(instants, first.Add(time.Duration(rng.Int64N(int64(last.Sub(first))))))
	}
	for range 40 {
		r := all[rng.IntN(len(all))]
		instants = append(instants, r.at, r.at.Add(-time.Nanosecond))
	}
	for d := first.Truncate(24 * time.Hour); !d.After(last); d = d.AddDate(0, 0, 1) {
		instants = append(instants, d, d.Add(-time.Nanosecond))
	}
	// Just past the window after a pair's last result before it went
	// silent: the newest result is before the window on the window's
	// first day, or on an earlier day.
	byPair := map[[2]string][]time.Time{}
	for _, r := range all {
		byPair[[2]string{r.dev, r.check}] = append(byPair[[2]string{r.dev, r.check}], r.at)
	}
	for _, ts := range byPair {
		slices.SortFunc(ts, time.Time.Compare)
		for i, at := range ts {
			if i == len(ts)-1 || ts[i+1].Sub(at) > 26*time.Hour {
				for _, d := range []time.Duration{time.Nanosecond, time.Minute, 30 * time.Minute, 25 * time.Hour} {
					instants = append(instants, at.Add(25*time.Hour+d))
				}
				// Silent longer than the recent part of the window only.
				for _, d := range []time.Duration{2*time.Hour + time.Nanosecond, 3 * time.Hour, 24 * time.Hour} {
					instants = append(instants, at.Add(d))
				}
			}
		}
	}
	instants = append(instants, first.Add(-time.Hour), last, last.Add(time.Hour), last.AddDate(0, 1, 0),
		time.Date(2025, 3, 1, 0, 30, 0, 0, time.UTC), // just after a month boundary
		time.Unix(0, 0), time.Unix(-5, 0))
	for _, scanAbove := range []int{1 << 30, 0} {
		oldPairs, oldDevices := store.SetLatestThresholds(scanAbove, scanAbove)
		for _, at := range instants {
			got, err := s.LatestResults(t.Context(), at)
			if err != nil {
				t.Fatal(err)
			}
			want := fullScanLatest(t, s, at)
			if !equalLatest(got, want) {
				t.Errorf("as of %s (every pair's rollup and every device above %d silent): LatestResults differs from the full scan:\n got %v\nwant %v",
					at.Format(time.RFC3339Nano), scanAbove, got, want)
			}
		}
		store.SetLatestThresholds(oldPairs, oldDevices)
	}
}

// Retention drops old months of results, then of the rollup. In between,
// a pair whose raw rows are all gone must be left out, as the full scan
// leaves it out, not reported from the rollup with empty evidence; a pair
// with newer rows is still found.
func TestLatestResultsDuringRetention(t *testing.T) {
	t.Parallel()
	s := openStore(t, chtest.Database(t))
	insertObs(t, s.Conn(), []obsRow{
		{dev: "dev-a", check: "firewall", at: time.Date(2025, 1, 10, 8, 0, 0, 0, time.UTC), status: "pass", rows: "[]"},
		{dev: "dev-a", check: "firewall", at: time.Date(2025, 2, 10, 8, 0, 0, 0, time.UTC), status: "fail", rows: "[]"},
		{dev: "dev-b", check: "firewall", at: time.Date(2025, 1, 10, 8, 0, 0, 0, time.UTC), status: "fail", rows: "[]"},
		{dev: "dev-b", check: "firewall", at: time.Date(2025, 3, 5, 8, 0, 0, 0, time.UTC), status: "pass", rows: "[]", reason: "kept"},
	})
	for _, p := range []string{"202501", "202502"} {
		if err := s.Conn().Exec(context.Background(), "ALTER TABLE results DROP PARTITION "+p); err != nil {
			t.Fatal(err)
		}
	}
	at := time.Date(2025, 3, 15, 0, 0, 0, 0, time.UTC)
	got, err := s.LatestResults(t.Context(), at)
	if err != nil {
		t.Fatal(err)
	}
	want := fullScanLatest(t, s, at)
	if len(want) != 1 || want[0].DeviceID != "dev-b" || want[0].Reason != "kept" {
		t.Fatalf("the full scan finds %v; the test expects only dev-b's March pass", want)
	}
	if !equalLatest(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}
