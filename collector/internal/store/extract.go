package store

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// ResultRow is one stored result, every column an auditor extract lists.
type ResultRow struct {
	DeviceID     string
	CheckID      string
	ObservedAt   time.Time // UTC, with the sub-second part
	Status       string
	CheckVersion uint32
	Pack         string
	PackVersion  string
	Rows         string // JSON array of the rows that explain the status
	Reason       string
	Error        string
	DurationMS   uint32
	Engine       string
	AgentVersion string
	ReceivedAt   time.Time
}

// EachResult calls fn for every result of the given checks observed in
// [from, to), ordered by device, check and observation time. It streams:
// a period of a large fleet holds far more rows than memory.
//
// FINAL rather than argMax: an extract lists every row, and the row that
// survives a redelivery (the last one written) is the same before and
// after ReplacingMergeTree merges, so two extracts of the same data are
// identical.
func (s *Store) EachResult(ctx context.Context, checks []string, from, to time.Time, fn func(ResultRow) error) error {
	if len(checks) == 0 {
		return nil
	}
	// A period of a large fleet does not fit a sort in memory; past this
	// much, ClickHouse sorts on disk instead of failing the extract.
	ctx = clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"max_bytes_before_external_sort": 1 << 30}))
	rows, err := s.conn.Query(ctx, `
		SELECT device_id, check_id, observed_at, observed_ns, toString(status) AS st, check_version,
		       pack, pack_version, rows, reason, error, duration_ms, engine, agent_version, received_at
		FROM results FINAL
		WHERE observed_at >= toDateTime(?) AND observed_at < toDateTime(?) AND has(?, check_id)
		ORDER BY device_id, check_id, observed_at, observed_ns`, from.UTC().Unix(), to.UTC().Unix(), checks)
	if err != nil {
		return fmt.Errorf("store: results: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r ResultRow
		var ns uint32
		if err := rows.Scan(&r.DeviceID, &r.CheckID, &r.ObservedAt, &ns, &r.Status, &r.CheckVersion, &r.Pack,
			&r.PackVersion, &r.Rows, &r.Reason, &r.Error, &r.DurationMS, &r.Engine, &r.AgentVersion, &r.ReceivedAt); err != nil {
			return fmt.Errorf("store: results: %w", err)
		}
		r.ObservedAt = r.ObservedAt.UTC().Add(time.Duration(ns))
		r.ReceivedAt = r.ReceivedAt.UTC()
		if err := fn(r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: results: %w", err)
	}
	return nil
}
