package store

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// Seen is when a device was last heard from, as of some instant.
type Seen struct {
	DeviceID string `json:"device_id"`
	// LastHeartbeat and LastResult are observation times (the device's
	// clock, as stored); zero when there is none.
	LastHeartbeat time.Time `json:"last_heartbeat"`
	LastResult    time.Time `json:"last_result"`
}

// LastSeen returns the last heartbeat and last result observed at or
// before at for each of deviceIDs (zero times for a device never heard
// from), plus any other device heard from within recent before at,
// ordered by device.
//
// It scans only the recent window across the fleet, where almost every
// device shows up, and then looks up the rest by device id, which the
// tables' sort keys (device_id first) make cheap; a full scan of every
// heartbeat ever stored would not be.
func (s *Store) LastSeen(ctx context.Context, deviceIDs []string, at time.Time, recent time.Duration) ([]Seen, error) {
	until := at.UTC().Unix()
	since := at.Add(-recent).UTC().Unix()
	seen := map[string]*Seen{}
	if err := s.scanSeen(ctx, seen, `
		SELECT device_id, max(hb), max(res) FROM (
		    SELECT device_id, observed_at AS hb, toDateTime(0) AS res FROM heartbeats
		    WHERE observed_at > toDateTime(?) AND observed_at <= toDateTime(?)
		    UNION ALL
		    SELECT device_id, toDateTime(0) AS hb, observed_at AS res FROM results
		    WHERE observed_at > toDateTime(?) AND observed_at <= toDateTime(?)
		) GROUP BY device_id`, since, until, since, until); err != nil {
		return nil, err
	}
	// Only the kind a device lacks is looked up: a device with fresh
	// results but no heartbeats (an old agent) costs a heartbeat lookup,
	// not a scan of its every result.
	var noHeartbeat, noResult []any
	for _, id := range deviceIDs {
		sn := seen[id]
		if sn == nil || sn.LastHeartbeat.IsZero() {
			noHeartbeat = append(noHeartbeat, id)
		}
		if sn == nil || sn.LastResult.IsZero() {
			noResult = append(noResult, id)
		}
	}
	for len(noHeartbeat) > 0 {
		batch := noHeartbeat[:min(len(noHeartbeat), idBatch)]
		noHeartbeat = noHeartbeat[len(batch):]
		if err := s.scanSeen(ctx, seen, `
			SELECT device_id, max(observed_at), toDateTime(0) FROM heartbeats
			WHERE device_id IN ? AND observed_at <= toDateTime(?)
			GROUP BY device_id`, clickhouse.GroupSet{Value: batch}, until); err != nil {
			return nil, err
		}
	}
	for len(noResult) > 0 {
		batch := noResult[:min(len(noResult), idBatch)]
		noResult = noResult[len(batch):]
		if err := s.scanSeen(ctx, seen, `
			SELECT device_id, toDateTime(0), max(observed_at) FROM results
			WHERE device_id IN ? AND observed_at <= toDateTime(?)
			GROUP BY device_id`, clickhouse.GroupSet{Value: batch}, until); err != nil {
			return nil, err
		}
	}
	for _, id := range deviceIDs {
		if _, ok := seen[id]; !ok {
			seen[id] = &Seen{DeviceID: id}
		}
	}
	out := make([]Seen, 0, len(seen))
	for _, sn := range seen {
		out = append(out, *sn)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].DeviceID < out[j].DeviceID })
	return out, nil
}

// scanSeen merges a (device, last heartbeat, last result) query into seen,
// keeping the later time of each kind.
func (s *Store) scanSeen(ctx context.Context, seen map[string]*Seen, query string, args ...any) error {
	rows, err := s.conn.Query(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("store: last seen: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var hb, res time.Time
		if err := rows.Scan(&id, &hb, &res); err != nil {
			return fmt.Errorf("store: last seen: %w", err)
		}
		sn := seen[id]
		if sn == nil {
			sn = &Seen{DeviceID: id}
			seen[id] = sn
		}
		// The epoch stands for "none" inside the query (DateTime cannot be
		// NULL there without Nullable columns).
		if hb.Unix() > 0 && hb.After(sn.LastHeartbeat) {
			sn.LastHeartbeat = hb.UTC()
		}
		if res.Unix() > 0 && res.After(sn.LastResult) {
			sn.LastResult = res.UTC()
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: last seen: %w", err)
	}
	return nil
}

// SpoolGap is evidence an agent's spool had to drop, as it reported it.
type SpoolGap struct {
	DeviceID string    `json:"device_id"`
	From     time.Time `json:"from"`
	To       time.Time `json:"to"`
	Dropped  uint32    `json:"dropped"`
	Reason   string    `json:"reason"`
}

// Gaps returns the spool gaps that overlap [from, to), ordered by device
// and start. Redelivered reports of the same gap count once.
func (s *Store) Gaps(ctx context.Context, from, to time.Time) ([]SpoolGap, error) {
	rows, err := s.conn.Query(ctx, `
		SELECT device_id, gap_from, max(gap_to), max(dropped), reason
		FROM gaps
		WHERE gap_from < toDateTime(?) AND gap_to >= toDateTime(?)
		GROUP BY device_id, gap_from, reason
		ORDER BY device_id, gap_from, reason`, to.UTC().Unix(), from.UTC().Unix())
	if err != nil {
		return nil, fmt.Errorf("store: gaps: %w", err)
	}
	defer rows.Close()
	out := []SpoolGap{}
	for rows.Next() {
		var g SpoolGap
		if err := rows.Scan(&g.DeviceID, &g.From, &g.To, &g.Dropped, &g.Reason); err != nil {
			return nil, fmt.Errorf("store: gaps: %w", err)
		}
		g.From, g.To = g.From.UTC(), g.To.UTC()
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: gaps: %w", err)
	}
	return out, nil
}
