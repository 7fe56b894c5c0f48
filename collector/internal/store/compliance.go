package store

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// Verdict is what one UTC day's results say about one check on one device.
// It is judged from that day's results alone (see ComplianceDays).
type Verdict byte

const (
	// NoEvidence: no result was observed that day.
	NoEvidence Verdict = iota
	// DayPass: the day's last result passed and none failed.
	DayPass
	// DayFail: at least one result failed that day.
	DayFail
	// DayError: the day ended in error (the check could not tell) and none failed.
	DayError
	// DayNotApplicable: the day ended not_applicable and none failed.
	DayNotApplicable
)

var verdictNames = [...]string{"no_evidence", "pass", "fail", "error", "not_applicable"}

func (v Verdict) String() string {
	if int(v) < len(verdictNames) {
		return verdictNames[v]
	}
	return fmt.Sprintf("verdict(%d)", v)
}

// CheckDays is one check on one device over a period of whole UTC days.
type CheckDays struct {
	DeviceID string
	CheckID  string
	// Days[i] is the verdict of day i of the period (see DayRange).
	Days []Verdict
	// FirstFailure is the first failing observation in the period; zero
	// when none failed.
	FirstFailure time.Time
	// RemediatedAt is the first passing observation after FirstFailure
	// and before the period's end; zero while the failure is open.
	RemediatedAt time.Time
}

// DayRange widens [from, to) to whole UTC days: the start of from's day
// and the number of days up to the first midnight at or after to.
func DayRange(from, to time.Time) (start time.Time, days int) {
	start = from.UTC().Truncate(24 * time.Hour)
	end := to.UTC().Truncate(24 * time.Hour)
	if end.Before(to) {
		end = end.Add(24 * time.Hour)
	}
	if !end.After(start) {
		return start, 0
	}
	return start, int(end.Sub(start) / (24 * time.Hour))
}

// MaxPeriodDays bounds a compliance period (about ten years): every
// (device, check) gets one verdict per day in memory.
const MaxPeriodDays = 3660

// ComplianceDays reads the daily rollup for checks over [from, to),
// widened to whole UTC days, and returns one CheckDays per (device,
// check) that has any result in it, ordered by device then check.
//
// The rollup's day-level times answer everything but one case: when the
// first failure's day also has passes both before and after it, only the
// day's full set of pass times tells which came first after the failure;
// those device-days are looked up in a second query.
func (s *Store) ComplianceDays(ctx context.Context, checks []string, from, to time.Time) ([]CheckDays, error) {
	start, n := DayRange(from, to)
	if n > MaxPeriodDays {
		return nil, fmt.Errorf("store: compliance days: period of %d days is longer than %d", n, MaxPeriodDays)
	}
	if n == 0 || len(checks) == 0 {
		return nil, nil
	}
	end := start.AddDate(0, 0, n)
	ids := make([]any, len(checks))
	for i, c := range checks {
		ids[i] = c
	}
	// Grouping by (device, check, day) to merge the day's partial states
	// costs a hash table entry per device-day: for 10k devices over a
	// year, seconds on ClickHouse 18.16. Instead each stored row is
	// finalized on its own and grouped by (device, check) only, and the
	// rows of a day that merges have not yet combined (recent data) are
	// combined in Go: a day fails if any of its rows saw a failure, and
	// its last status is that of the row with the latest observation.
	// Each row travels packed in one UInt64 (see unpackDay). rem is the
	// first pass after the first failure ff, when no row has passes on
	// both sides of ff (ambiguous: only the day's pass times can tell).
	rows, err := s.conn.Query(ctx, `
		SELECT device_id, check_id, packed, ff,
		       arrayReduce('min', arrayFilter(x -> x > ff, fps)) AS rem,
		       arrayExists((a, b) -> a < ff AND b > ff, fps, lps) AS ambiguous
		FROM (
		    SELECT device_id, check_id,
		           groupArray(toUInt64(day - toDate(?)) * 281474976710656 + toUInt64(toUInt8(ls)) * 35184372088832
		                      + toUInt64(f > 0) * 17592186044416 + intDiv(lt, 1000) % 86400000000) AS packed,
		           minIf(f, f > 0) AS ff,
		           groupArray(fp) AS fps,
		           groupArray(lp) AS lps
		    FROM (
		        SELECT device_id, check_id, day,
		               finalizeAggregation(first_fail_t) AS f,
		               finalizeAggregation(first_pass_t) AS fp,
		               finalizeAggregation(last_pass_t) AS lp,
		               finalizeAggregation(last_status) AS ls,
		               finalizeAggregation(last_t) AS lt
		        FROM results_daily
		        WHERE check_id IN ? AND day >= toDate(?) AND day < toDate(?)
		    )
		    GROUP BY device_id, check_id
		)
		ORDER BY device_id, check_id`,
		start.Format(time.DateOnly), clickhouse.GroupSet{Value: ids}, start.Format(time.DateOnly), end.Format(time.DateOnly))
	if err != nil {
		return nil, fmt.Errorf("store: compliance days: %w", err)
	}
	defer rows.Close()
	var out []CheckDays
	var refine []int // indexes into out whose remediation needs raw results
	var packed []uint64
	offsets := make([]uint64, n) // latest observation seen per day, µs into the day, plus one
	for rows.Next() {
		var (
			cd        CheckDays
			ff, rem   uint64
			ambiguous uint8
		)
		if err := rows.Scan(&cd.DeviceID, &cd.CheckID, &packed, &ff, &rem, &ambiguous); err != nil {
			return nil, fmt.Errorf("store: compliance days: %w", err)
		}
		cd.Days = make([]Verdict, n)
		clear(offsets)
		for _, p := range packed {
			i, v, failed, off := unpackDay(p)
			if i >= n {
				continue
			}
			switch {
			case failed || cd.Days[i] == DayFail:
				cd.Days[i] = DayFail
			case off+1 > offsets[i]:
				cd.Days[i] = v
			}
			offsets[i] = max(offsets[i], off+1)
		}
		if ff > 0 {
			cd.FirstFailure = nanos(ff)
			switch {
			case ambiguous != 0:
				refine = append(refine, len(out))
			case rem > 0:
				cd.RemediatedAt = nanos(rem)
			}
		}
		out = append(out, cd)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: compliance days: %w", err)
	}
	rows.Close()
	if err := s.refineRemediation(ctx, out, refine, ids, start, end); err != nil {
		return nil, err
	}
	return out, nil
}

// unpackDay reads one rollup row as ComplianceDays packs it: bits 48-63
// the day's index in the period, 45-47 the last status (the results
// Enum8 code), 44 whether any result failed, 0-36 the last observation's
// microsecond in its UTC day.
func unpackDay(p uint64) (day int, last Verdict, failed bool, offset uint64) {
	switch (p >> 45) & 7 {
	case 1:
		last = DayPass
	case 3:
		last = DayError
	case 4:
		last = DayNotApplicable
	default:
		last = DayFail
	}
	return int(p >> 48), last, (p>>44)&1 == 1, p & (1<<37 - 1)
}

// idBatch bounds the values one lookup splices into its query text,
// which ClickHouse limits to 256 KiB by default: a device id, check id
// and date take well under 200 bytes.
const idBatch = 1000

// refineLookupMax is how many ambiguous pairs refineRemediation looks up
// by key; with more, one query lets the server find their days. A
// variable so tests can take either path with little data.
var refineLookupMax = idBatch

// refineRemediation finds, for each out[i] in idx, the first pass after
// its first failure on the failure's own day, from the rollup's set of
// that day's pass times.
//
// A few pairs are looked up by key. Many are not: on 10,000 devices with
// the occasional flaky failure nearly every pair is ambiguous, and ten
// batches of a thousand key tuples each (spliced into the query text,
// parsed, and each touching a slice of the check's pass_times) took
// 0.8 s per check over 90 days; one query whose IN subquery finds the
// same device-days on the server reads the check's pass_times once
// (0.55 s) and sends no keys. Whatever that query cannot settle (a first
// failure that moved because results arrived in between) is looked up.
func (s *Store) refineRemediation(ctx context.Context, out []CheckDays, idx []int, checks []any, start, end time.Time) error {
	if len(idx) > refineLookupMax {
		var err error
		if idx, err = s.refineOnServer(ctx, out, idx, checks, start, end); err != nil {
			return err
		}
	}
	return s.refineByKey(ctx, out, idx)
}

// refineOnServer settles what it can of idx with one query and returns
// the rest. The subquery repeats ComplianceDays' own first failure and
// ambiguity test, so it selects the same device-days.
func (s *Store) refineOnServer(ctx context.Context, out []CheckDays, idx []int, checks []any, start, end time.Time) ([]int, error) {
	from, to := start.Format(time.DateOnly), end.Format(time.DateOnly)
	rows, err := s.conn.Query(ctx, `
		SELECT device_id, check_id, day, groupUniqArrayIfMerge(pass_times)
		FROM results_daily
		WHERE check_id IN ? AND day >= toDate(?) AND day < toDate(?)
		  AND (device_id, check_id, day) IN (
		      SELECT device_id, check_id, toDate(toDateTime(intDiv(ff, 1000000000)), 'UTC')
		      FROM (
		          SELECT device_id, check_id, minIf(f, f > 0) AS ff, groupArray(fp) AS fps, groupArray(lp) AS lps
		          FROM (
		              SELECT device_id, check_id,
		                     finalizeAggregation(first_fail_t) AS f,
		                     finalizeAggregation(first_pass_t) AS fp,
		                     finalizeAggregation(last_pass_t) AS lp
		              FROM results_daily
		              WHERE check_id IN ? AND day >= toDate(?) AND day < toDate(?)
		          )
		          GROUP BY device_id, check_id
		      )
		      WHERE ff > 0 AND arrayExists((a, b) -> a < ff AND b > ff, fps, lps)
		  )
		GROUP BY device_id, check_id, day`,
		clickhouse.GroupSet{Value: checks}, from, to, clickhouse.GroupSet{Value: checks}, from, to)
	if err != nil {
		return nil, fmt.Errorf("store: compliance days: remediation: %w", err)
	}
	defer rows.Close()
	want := make(map[pair]int, len(idx))
	for _, i := range idx {
		want[pair{out[i].DeviceID, out[i].CheckID}] = i
	}
	settled := make(map[int]bool, len(idx))
	for rows.Next() {
		var p pair
		var day time.Time
		var passes []uint64
		if err := rows.Scan(&p.dev, &p.check, &day, &passes); err != nil {
			return nil, fmt.Errorf("store: compliance days: remediation: %w", err)
		}
		i, ok := want[p]
		if !ok {
			continue
		}
		cd := &out[i]
		if day.Format(time.DateOnly) != cd.FirstFailure.UTC().Format(time.DateOnly) {
			continue // not the day ComplianceDays saw fail first
		}
		settled[i] = true
		for _, t := range passes {
			if at := nanos(t); at.After(cd.FirstFailure) && (cd.RemediatedAt.IsZero() || at.Before(cd.RemediatedAt)) {
				cd.RemediatedAt = at
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: compliance days: remediation: %w", err)
	}
	var rest []int
	for _, i := range idx {
		if !settled[i] {
			rest = append(rest, i)
		}
	}
	return rest, nil
}

// refineByKey looks up the first-failure days of idx by their keys, a
// batch of them per query.
func (s *Store) refineByKey(ctx context.Context, out []CheckDays, idx []int) error {
	// In the rollup's key order, so each batch reads neighbouring rows.
	sort.Slice(idx, func(i, j int) bool {
		a, b := out[idx[i]], out[idx[j]]
		if a.CheckID != b.CheckID {
			return a.CheckID < b.CheckID
		}
		return a.DeviceID < b.DeviceID
	})
	for len(idx) > 0 {
		batch := idx[:min(len(idx), idBatch)]
		idx = idx[len(batch):]
		type key struct{ dev, check string }
		want := make(map[key]int, len(batch))
		tuples := make([]clickhouse.GroupSet, 0, len(batch))
		var checks []any
		for _, i := range batch {
			cd := out[i]
			want[key{cd.DeviceID, cd.CheckID}] = i
			day := cd.FirstFailure.UTC().Format(time.DateOnly)
			tuples = append(tuples, clickhouse.GroupSet{Value: []any{cd.DeviceID, cd.CheckID, day}})
			if !slices.Contains(checks, any(cd.CheckID)) {
				checks = append(checks, cd.CheckID)
			}
		}
		rows, err := s.conn.Query(ctx, `
			SELECT device_id, check_id, groupUniqArrayIfMerge(pass_times)
			FROM results_daily
			WHERE check_id IN ? AND (device_id, check_id, day) IN (?)
			GROUP BY device_id, check_id, day`,
			clickhouse.GroupSet{Value: checks}, tuples)
		if err != nil {
			return fmt.Errorf("store: compliance days: remediation: %w", err)
		}
		for rows.Next() {
			var k key
			var passes []uint64
			if err := rows.Scan(&k.dev, &k.check, &passes); err != nil {
				rows.Close()
				return fmt.Errorf("store: compliance days: remediation: %w", err)
			}
			i, ok := want[k]
			if !ok {
				continue
			}
			cd := &out[i]
			for _, t := range passes {
				if at := nanos(t); at.After(cd.FirstFailure) && (cd.RemediatedAt.IsZero() || at.Before(cd.RemediatedAt)) {
					cd.RemediatedAt = at
				}
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return fmt.Errorf("store: compliance days: remediation: %w", err)
		}
	}
	return nil
}

// nanos turns the natural key t (Unix nanoseconds) into a UTC time.
func nanos(t uint64) time.Time { return time.Unix(0, int64(t)).UTC() }
