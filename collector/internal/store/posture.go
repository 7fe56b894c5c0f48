package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Latest is the newest result of one check on one device at or before a
// given instant.
type Latest struct {
	DeviceID   string
	CheckID    string
	Status     string
	ObservedAt time.Time
	Reason     string
	Error      string
	Rows       string // JSON array of the rows that explain the status
}

// latestHead begins every query for a pair's newest result: argMax by
// the natural key t over the results of the table named next, with the
// columns scanLatest reads.
const latestHead = `
	SELECT device_id, check_id,
	       toString(argMax(status, t)) AS st,
	       max(observed_at) AS last,
	       argMax(reason, t) AS rsn,
	       argMax(error, t) AS err,
	       argMax(rows, t) AS rws
	FROM (
	    SELECT device_id, check_id, status, observed_at, reason, error, rows,
	           toUInt64(observed_at) * 1000000000 + observed_ns AS t
	    FROM `

// LatestResults returns, per (device, check), the newest result observed
// at or before at, ordered by check then device. argMax is correct before
// ReplacingMergeTree has merged duplicates: duplicates carry equal values.
//
// The answer is the one an argMax over every result up to at would give,
// but that scan reads the whole history: 17 s as of the end of a quarter
// of 10,000 devices x 20 hourly checks (432M rows), 8 s mid-quarter.
// Instead (migration 0008):
//
//  1. results_by_time, sorted by time first, for the recentWindow up to
//     at: the newest result of every pair that reported in it, with its
//     evidence, reading only those hours' granules;
//  2. result_pairs, one row per pair with its first observation: the
//     pairs that existed at at but were silent in that window;
//  3. for those, the rest of latestWindow, of their devices only when
//     they are few;
//  4. for the pairs still silent (devices switched off, checks retired),
//     the newest result before the window: from the raw results of the
//     window's first day before it, else from the daily rollup's last
//     observation time on an earlier day, looked up by the results
//     table's sort key.
//
// A pair seen in the window has nothing newer before it, and one not seen
// there has its newest observation before the window, so the union is the
// full scan's answer (TestLatestResultsMatchesFullScan, and the
// reportbench package on the large data set).
func (s *Store) LatestResults(ctx context.Context, at time.Time) ([]Latest, error) {
	at = at.UTC()
	if at.Unix() < 0 {
		return nil, nil // DateTime starts at 1970: nothing is observed before
	}
	windowStart := time.Unix(max(at.Unix()-int64(latestWindow/time.Second), 0), 0).UTC()
	recentStart := time.Unix(max(at.Unix()-int64(recentWindow/time.Second), 0), 0).UTC()
	// The pairs that exist do not depend on the window's read: both
	// queries run at once.
	type pairsResult struct {
		pairs []pair
		err   error
	}
	known := make(chan pairsResult, 1)
	go func() {
		ps, err := s.pairsSince(ctx, at)
		known <- pairsResult{ps, err}
	}()
	out, err := s.latestByTime(ctx, recentStart, at.Add(time.Second).Truncate(time.Second), at, nil, nil)
	all := <-known
	if err != nil {
		return nil, err
	}
	if all.err != nil {
		return nil, all.err
	}
	seen := make(map[pair]bool, len(out))
	for _, l := range out {
		seen[pair{l.DeviceID, l.CheckID}] = true
	}
	silent := slices.DeleteFunc(all.pairs, func(p pair) bool { return seen[p] })
	slices.SortFunc(silent, func(a, b pair) int { return cmp.Or(cmp.Compare(a.dev, b.dev), cmp.Compare(a.check, b.check)) })
	if len(silent) > 0 && windowStart.Before(recentStart) {
		// The rest of the window, for the pairs silent in its recent
		// part: of their devices only when those are few (a device
		// switched off), else every device's (checks that run daily).
		var devices []string
		for _, p := range silent {
			if len(devices) == 0 || devices[len(devices)-1] != p.dev {
				devices = append(devices, p.dev)
			}
		}
		if len(devices) > silentDevicesMax {
			devices = nil
		}
		want := make(map[pair]bool, len(silent))
		for _, p := range silent {
			want[p] = true
		}
		n := len(out)
		if out, err = s.latestByTime(ctx, windowStart, recentStart, at, devices, out); err != nil {
			return nil, err
		}
		kept := out[:n]
		for _, l := range out[n:] {
			if p := (pair{l.DeviceID, l.CheckID}); want[p] {
				kept = append(kept, l)
				delete(want, p)
			}
		}
		out = kept
		silent = slices.DeleteFunc(silent, func(p pair) bool { return !want[p] })
	}
	if out, err = s.latestBefore(ctx, silent, windowStart, out); err != nil {
		return nil, err
	}
	// Sorted in Go: an ORDER BY on the server cost twice as long.
	slices.SortFunc(out, func(a, b Latest) int {
		return cmp.Or(cmp.Compare(a.CheckID, b.CheckID), cmp.Compare(a.DeviceID, b.DeviceID))
	})
	return out, nil
}

// latestByTime appends to out the newest result at or before at of every
// pair observed in [from, to) (whole seconds), of the given devices or
// of all when devices is nil, from results_by_time: only the granules of
// that stretch of time are read.
func (s *Store) latestByTime(ctx context.Context, from, to, at time.Time, devices []string, out []Latest) ([]Latest, error) {
	only, onlyArgs := inDevices(devices)
	rows, err := s.conn.Query(ctx, latestHead+`results_by_time
		    WHERE observed_at >= toDateTime(?) AND observed_at < toDateTime(?)
		      AND toUInt64(observed_at) * 1000000000 + observed_ns <= ?
		      `+only+`
		)
		GROUP BY device_id, check_id`, append([]any{from.Unix(), to.Unix(), uint64(at.UnixNano())}, onlyArgs...)...)
	if err != nil {
		return nil, fmt.Errorf("store: latest results: %w", err)
	}
	return scanLatest(rows, out)
}

// recentWindow is the part of the window read for every pair: an hour
// and a bit covers checks that run hourly, and the read costs in
// proportion to its length (0.2 s for two hours of 200,000 hourly pairs,
// 0.95 s for the 25).
const recentWindow = 2 * time.Hour

// LatestResultsFullScan is what LatestResults answers, by its definition:
// argMax over every result up to at. It reads the whole history (16 s at
// the end of a quarter of 10,000 devices x 20 hourly checks), so it is
// for tests and benchmarks to hold LatestResults to, not for reports.
func (s *Store) LatestResultsFullScan(ctx context.Context, at time.Time) ([]Latest, error) {
	at = at.UTC()
	if at.Unix() < 0 {
		return nil, nil
	}
	rows, err := s.conn.Query(ctx, latestHead+`results
		    WHERE observed_at <= toDateTime(?)
		      AND toUInt64(observed_at) * 1000000000 + observed_ns <= ?
		)
		GROUP BY device_id, check_id
		ORDER BY check_id, device_id`, at.Unix(), uint64(at.UnixNano()))
	if err != nil {
		return nil, fmt.Errorf("store: latest results: full scan: %w", err)
	}
	return scanLatest(rows, nil)
}

// latestWindow is how far back LatestResults reads results by time. Any
// length gives the same answer; it trades the window's read (every pair's
// rows in it) against lookups for the pairs silent through it. A day and
// an hour covers checks that run hourly to daily, with a missed run.
const latestWindow = 25 * time.Hour

type pair struct{ dev, check string }

// observation names one result by its natural key.
type observation struct {
	pair
	t uint64 // Unix nanoseconds
}

// pairsSince returns the pairs first observed at or before at.
func (s *Store) pairsSince(ctx context.Context, at time.Time) ([]pair, error) {
	rows, err := s.conn.Query(ctx, `
		SELECT device_id, check_id
		FROM result_pairs
		GROUP BY device_id, check_id
		HAVING minMerge(first_t) <= ?`, uint64(at.UnixNano()))
	if err != nil {
		return nil, fmt.Errorf("store: latest results: pairs: %w", err)
	}
	defer rows.Close()
	var out []pair
	for rows.Next() {
		var p pair
		if err := rows.Scan(&p.dev, &p.check); err != nil {
			return nil, fmt.Errorf("store: latest results: pairs: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: latest results: pairs: %w", err)
	}
	return out, nil
}

// latestBefore appends to out the newest result before the instant end of
// each pair: from the raw results of end's own day up to end, else from
// the rollup's last observation on an earlier day.
func (s *Store) latestBefore(ctx context.Context, pairs []pair, end time.Time, out []Latest) ([]Latest, error) {
	if len(pairs) == 0 {
		return out, nil
	}
	day := end.Truncate(24 * time.Hour)
	found := map[pair]bool{}
	if end.After(day) {
		n := len(out)
		var err error
		if out, err = s.latestIn(ctx, pairs, day, end, out); err != nil {
			return nil, err
		}
		for _, l := range out[n:] {
			found[pair{l.DeviceID, l.CheckID}] = true
		}
	}
	var rest []pair
	for _, p := range pairs {
		if !found[p] {
			rest = append(rest, p)
		}
	}
	prior, err := s.lastBefore(ctx, day, rest)
	if err != nil {
		return nil, err
	}
	return s.latestAt(ctx, prior, out)
}

// latestIn appends the newest result of each pair observed in [from, to)
// (whole seconds), read from results by its sort key in batches.
func (s *Store) latestIn(ctx context.Context, pairs []pair, from, to time.Time, out []Latest) ([]Latest, error) {
	for len(pairs) > 0 {
		batch := pairs[:min(len(pairs), idBatch)]
		pairs = pairs[len(batch):]
		devices, keys := pairKeys(batch)
		rows, err := s.conn.Query(ctx, latestHead+`results
			    WHERE device_id IN ? AND (device_id, check_id) IN (?)
			      AND observed_at >= toDateTime(?) AND observed_at < toDateTime(?)
			)
			GROUP BY device_id, check_id`, devices, keys, from.Unix(), to.Unix())
		if err != nil {
			return nil, fmt.Errorf("store: latest results: before window: %w", err)
		}
		if out, err = scanLatest(rows, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// pairKeys returns a batch's distinct devices and its (device, check)
// tuples for IN clauses; pairs are sorted by device.
func pairKeys(pairs []pair) (clickhouse.GroupSet, []clickhouse.GroupSet) {
	var devices []any
	keys := make([]clickhouse.GroupSet, len(pairs))
	for i, p := range pairs {
		if len(devices) == 0 || devices[len(devices)-1] != p.dev {
			devices = append(devices, p.dev)
		}
		keys[i] = clickhouse.GroupSet{Value: []any{p.dev, p.check}}
	}
	return clickhouse.GroupSet{Value: devices}, keys
}

// silentDevicesMax is how many devices' ids LatestResults puts in the
// query for the rest of the window before it reads every device's.
var silentDevicesMax = idBatch

// rollupScanPairs is how many silent pairs lastBefore looks up by key
// before it reads every pair's rollup instead.
var rollupScanPairs = 20 * idBatch

// lastBefore returns, from the rollup, the last observation before day of
// each of pairs. Many pairs (a fleet silent for a day) read every pair's
// rollup once instead of splicing them all into queries: 0.7 s for
// 200,000 pairs over a quarter.
func (s *Store) lastBefore(ctx context.Context, day time.Time, pairs []pair) ([]observation, error) {
	if len(pairs) == 0 {
		return nil, nil
	}
	var out []observation
	collect := func(rows driver.Rows, want map[pair]bool) error {
		defer rows.Close()
		for rows.Next() {
			var o observation
			if err := rows.Scan(&o.dev, &o.check, &o.t); err != nil {
				return fmt.Errorf("store: latest results: rollup: %w", err)
			}
			if want == nil || want[o.pair] {
				out = append(out, o)
			}
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("store: latest results: rollup: %w", err)
		}
		return nil
	}
	if len(pairs) > rollupScanPairs {
		want := make(map[pair]bool, len(pairs))
		for _, p := range pairs {
			want[p] = true
		}
		rows, err := s.conn.Query(ctx, `
			SELECT device_id, check_id, maxMerge(last_t)
			FROM results_daily
			WHERE day < toDate(?)
			GROUP BY device_id, check_id`, day.Format(time.DateOnly))
		if err != nil {
			return nil, fmt.Errorf("store: latest results: rollup: %w", err)
		}
		return out, collect(rows, want)
	}
	for len(pairs) > 0 {
		batch := pairs[:min(len(pairs), idBatch)]
		pairs = pairs[len(batch):]
		devices, keys := pairKeys(batch)
		// The rollup is sorted by check first: naming the checks lets
		// ClickHouse skip to them.
		var checks []any
		for _, p := range batch {
			if !slices.Contains(checks, any(p.check)) {
				checks = append(checks, p.check)
			}
		}
		rows, err := s.conn.Query(ctx, `
			SELECT device_id, check_id, maxMerge(last_t)
			FROM results_daily
			WHERE check_id IN ? AND device_id IN ? AND (device_id, check_id) IN (?) AND day < toDate(?)
			GROUP BY device_id, check_id`, clickhouse.GroupSet{Value: checks}, devices, keys, day.Format(time.DateOnly))
		if err != nil {
			return nil, fmt.Errorf("store: latest results: rollup: %w", err)
		}
		if err := collect(rows, nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// latestAt appends to out the stored result of each observation, found by
// the results table's sort key (device, check, second) in batches. Every
// run of the pair within that second is at or before the observation (it
// is the pair's last before a later day), so argMax picks it. A pair whose
// raw results are gone (retention drops results before the rollup) is
// left out, as the full scan would leave it.
func (s *Store) latestAt(ctx context.Context, obs []observation, out []Latest) ([]Latest, error) {
	slices.SortFunc(obs, func(a, b observation) int {
		return cmp.Or(cmp.Compare(a.dev, b.dev), cmp.Compare(a.check, b.check))
	})
	for len(obs) > 0 {
		batch := obs[:min(len(obs), idBatch)]
		obs = obs[len(batch):]
		var devices []any
		keys := make([]clickhouse.GroupSet, len(batch))
		lo, hi := uint32(1<<32-1), uint32(0)
		for i, o := range batch {
			if len(devices) == 0 || devices[len(devices)-1] != o.dev {
				devices = append(devices, o.dev)
			}
			sec := uint32(o.t / 1e9)
			lo, hi = min(lo, sec), max(hi, sec)
			keys[i] = clickhouse.GroupSet{Value: []any{o.dev, o.check, sec}}
		}
		rows, err := s.conn.Query(ctx, latestHead+`results
			    WHERE device_id IN ? AND observed_at >= toDateTime(?) AND observed_at <= toDateTime(?)
			      AND (device_id, check_id, observed_at) IN (?)
			)
			GROUP BY device_id, check_id`, clickhouse.GroupSet{Value: devices}, lo, hi, keys)
		if err != nil {
			return nil, fmt.Errorf("store: latest results: lookup: %w", err)
		}
		if out, err = scanLatest(rows, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// scanLatest appends the rows of a LatestResults query to out and closes
// them.
func scanLatest(rows driver.Rows, out []Latest) ([]Latest, error) {
	defer rows.Close()
	for rows.Next() {
		var l Latest
		if err := rows.Scan(&l.DeviceID, &l.CheckID, &l.Status, &l.ObservedAt, &l.Reason, &l.Error, &l.Rows); err != nil {
			return nil, fmt.Errorf("store: latest results: %w", err)
		}
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: latest results: %w", err)
	}
	return out, nil
}
