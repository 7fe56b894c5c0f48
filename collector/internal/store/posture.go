package store

import (
	"context"
	"fmt"
	"time"
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

// LatestResults returns, per (device, check), the newest result observed
// at or before at. argMax over a time-bounded scan is correct before
// ReplacingMergeTree has merged duplicates: duplicates carry equal values.
func (s *Store) LatestResults(ctx context.Context, at time.Time) ([]Latest, error) {
	// The whole-second bound prunes partitions and uses the sort key; the
	// nanosecond one drops runs later than at within at's own second.
	rows, err := s.conn.Query(ctx, `
		SELECT device_id, check_id,
		       toString(argMax(status, t)) AS st,
		       max(observed_at) AS last,
		       argMax(reason, t) AS rsn,
		       argMax(error, t) AS err,
		       argMax(rows, t) AS rws
		FROM (
		    SELECT device_id, check_id, status, observed_at, reason, error, rows,
		           toUInt64(observed_at) * 1000000000 + observed_ns AS t
		    FROM results
		    WHERE observed_at <= toDateTime(?)
		      AND toUInt64(observed_at) * 1000000000 + observed_ns <= ?
		)
		GROUP BY device_id, check_id
		ORDER BY check_id, device_id`, at.UTC().Unix(), uint64(max(at.UnixNano(), 0)))
	if err != nil {
		return nil, fmt.Errorf("store: latest results: %w", err)
	}
	defer rows.Close()
	var out []Latest
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
