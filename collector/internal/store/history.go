package store

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"
)

// HistoryEntry is one run of equal statuses of a check on a device: it
// starts where the status changed, and carries the evidence of the run's
// first observation (the one that showed the change).
type HistoryEntry struct {
	DeviceID string `json:"device_id"`
	CheckID  string `json:"check_id"`
	Status   string `json:"status"`
	// Previous is the status of the run before this one; "" when nothing
	// earlier is known, or when Continued.
	Previous string `json:"previous,omitempty"`
	// Continued says the run began before the window: the last result
	// before it had the same status. Start is then the window's first
	// observation, not the change.
	Continued    bool      `json:"continued,omitempty"`
	Start        time.Time `json:"start"`
	End          time.Time `json:"end"` // last observation of the run
	Observations int       `json:"observations"`
	Reason       string    `json:"reason,omitempty"`
	Error        string    `json:"error,omitempty"`
	// Rows are what the check's query returned at Start.
	Rows json.RawMessage `json:"rows"`
}

// Observation is one stored result, as History folds them.
type Observation struct {
	CheckID    string
	ObservedAt time.Time
	Status     string
	Reason     string
	Error      string
	Rows       string
}

// History returns the status changes of one device over [from, to), per
// check (checkID "" means every check), ordered by start time then check.
// A zero from or to leaves that side open.
func (s *Store) History(ctx context.Context, deviceID, checkID string, from, to time.Time) ([]HistoryEntry, error) {
	lo, hi := windowBounds(from, to)
	// The status before the window tells whether the first run in it is a
	// change or a continuation.
	prev := map[string]string{}
	if !from.IsZero() {
		rows, err := s.conn.Query(ctx, `
			SELECT check_id, toString(argMax(status, toUInt64(observed_at) * 1000000000 + observed_ns))
			FROM results
			WHERE device_id = ? AND (? = '' OR check_id = ?)
			  AND observed_at <= toDateTime(?) AND toUInt64(observed_at) * 1000000000 + observed_ns < ?
			GROUP BY check_id`, deviceID, checkID, checkID, seconds(lo), lo)
		if err != nil {
			return nil, fmt.Errorf("store: history: %w", err)
		}
		for rows.Next() {
			var c, st string
			if err := rows.Scan(&c, &st); err != nil {
				rows.Close()
				return nil, fmt.Errorf("store: history: %w", err)
			}
			prev[c] = st
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("store: history: %w", err)
		}
	}
	// Duplicates not yet merged by ReplacingMergeTree arrive next to each
	// other (same key, same position in the order) and Fold skips them.
	rows, err := s.conn.Query(ctx, `
		SELECT check_id, observed_at, observed_ns, toString(status), reason, error, rows
		FROM results
		WHERE device_id = ? AND (? = '' OR check_id = ?)
		  AND observed_at >= toDateTime(?) AND observed_at <= toDateTime(?)
		  AND toUInt64(observed_at) * 1000000000 + observed_ns >= ?
		  AND toUInt64(observed_at) * 1000000000 + observed_ns < ?
		ORDER BY check_id, observed_at, observed_ns`, deviceID, checkID, checkID, seconds(lo), seconds(hi), lo, hi)
	if err != nil {
		return nil, fmt.Errorf("store: history: %w", err)
	}
	defer rows.Close()
	var obs []Observation
	for rows.Next() {
		var o Observation
		var ns uint32
		if err := rows.Scan(&o.CheckID, &o.ObservedAt, &ns, &o.Status, &o.Reason, &o.Error, &o.Rows); err != nil {
			return nil, fmt.Errorf("store: history: %w", err)
		}
		o.ObservedAt = o.ObservedAt.UTC().Add(time.Duration(ns))
		obs = append(obs, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: history: %w", err)
	}
	return Fold(deviceID, prev, obs), nil
}

// windowBounds turns [from, to) into natural-key bounds (Unix nanoseconds),
// a zero time meaning open on that side.
func windowBounds(from, to time.Time) (lo, hi uint64) {
	hi = 1<<63 - 1
	if !from.IsZero() {
		lo = uint64(max(from.UnixNano(), 0))
	}
	if !to.IsZero() {
		hi = uint64(max(to.UnixNano(), 0))
	}
	return lo, hi
}

// seconds is the whole-second DateTime bound for a natural-key bound,
// clamped to DateTime's range (an open upper bound is far beyond it).
func seconds(t uint64) uint64 { return min(t/1e9, 1<<32-1) }

// Fold turns observations of one device into runs of equal status per
// check. obs must be ordered by check then time; an observation with the
// same check and time as the one before it is a redelivered duplicate and
// is not counted. prev maps a check to its status before the window.
func Fold(deviceID string, prev map[string]string, obs []Observation) []HistoryEntry {
	out := []HistoryEntry{}
	var cur *HistoryEntry
	var last Observation
	for i, o := range obs {
		sameCheck := i > 0 && o.CheckID == last.CheckID
		if sameCheck && o.ObservedAt.Equal(last.ObservedAt) {
			continue
		}
		if sameCheck && o.Status == cur.Status {
			cur.End = o.ObservedAt
			cur.Observations++
			last = o
			continue
		}
		e := HistoryEntry{
			DeviceID: deviceID, CheckID: o.CheckID, Status: o.Status,
			Start: o.ObservedAt, End: o.ObservedAt, Observations: 1,
			Reason: o.Reason, Error: o.Error, Rows: rawRows(o.Rows),
		}
		if sameCheck {
			e.Previous = cur.Status
		} else if p, ok := prev[o.CheckID]; ok {
			if p == o.Status {
				e.Continued = true
			} else {
				e.Previous = p
			}
		}
		out = append(out, e)
		cur = &out[len(out)-1]
		last = o
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Start.Equal(out[j].Start) {
			return out[i].Start.Before(out[j].Start)
		}
		return out[i].CheckID < out[j].CheckID
	})
	return out
}

// rawRows embeds stored rows as JSON, or as a JSON string should a row
// ever not be valid JSON, so one bad row cannot break a whole response.
func rawRows(s string) json.RawMessage {
	if s == "" {
		return json.RawMessage("[]")
	}
	if json.Valid([]byte(s)) {
		return json.RawMessage(s)
	}
	q, _ := json.Marshal(s)
	return q
}

// DailyCounts is one day of one check on one device from the rollup.
type DailyCounts struct {
	DeviceID      string    `json:"device_id"`
	CheckID       string    `json:"check_id"`
	Day           time.Time `json:"day"`
	Pass          uint64    `json:"pass"`
	Fail          uint64    `json:"fail"`
	Error         uint64    `json:"error"`
	NotApplicable uint64    `json:"not_applicable"`
	First         time.Time `json:"first"`
	Last          time.Time `json:"last"`
	LastStatus    string    `json:"last_status"`
}

// Daily returns the rollup of one device (checkID "" means every check)
// for the UTC days that [from, to) touches, ordered by check then day.
// The counts are distinct observations, so redelivery never inflates them.
func (s *Store) Daily(ctx context.Context, deviceID, checkID string, from, to time.Time) ([]DailyCounts, error) {
	start, n := DayRange(from, to)
	end := start.AddDate(0, 0, n)
	rows, err := s.conn.Query(ctx, `
		SELECT device_id, check_id, day,
		       length(groupUniqArrayIfMerge(pass_times)), uniqExactIfMerge(fail_obs),
		       uniqExactIfMerge(error_obs), uniqExactIfMerge(na_obs),
		       minMerge(first_t), maxMerge(last_t), toString(argMaxMerge(last_status))
		FROM results_daily
		WHERE device_id = ? AND (? = '' OR check_id = ?)
		  AND day >= toDate(?) AND day < toDate(?)
		GROUP BY device_id, check_id, day
		ORDER BY check_id, day`, deviceID, checkID, checkID, start.Format(time.DateOnly), end.Format(time.DateOnly))
	if err != nil {
		return nil, fmt.Errorf("store: daily: %w", err)
	}
	defer rows.Close()
	var out []DailyCounts
	for rows.Next() {
		var d DailyCounts
		var first, last uint64
		if err := rows.Scan(&d.DeviceID, &d.CheckID, &d.Day, &d.Pass, &d.Fail, &d.Error, &d.NotApplicable,
			&first, &last, &d.LastStatus); err != nil {
			return nil, fmt.Errorf("store: daily: %w", err)
		}
		d.Day = time.Date(d.Day.Year(), d.Day.Month(), d.Day.Day(), 0, 0, 0, 0, time.UTC)
		d.First, d.Last = nanos(first), nanos(last)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: daily: %w", err)
	}
	return out, nil
}
