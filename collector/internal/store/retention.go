package store

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// EnrollmentEvent is one enrollment decision.
type EnrollmentEvent struct {
	At           time.Time
	DeviceID     string
	PublicKey    string
	Outcome      string // enrolled, key_changed, refused_secret, refused_revoked
	Hostname     string
	AgentVersion string
	RemoteAddr   string
}

// RecordEnrollment stores an enrollment event.
func (s *Store) RecordEnrollment(ctx context.Context, e EnrollmentEvent) error {
	err := s.insertOne(ctx, `INSERT INTO enrollment_events (at, device_id, public_key, outcome, hostname,
		agent_version, remote_addr)`, e.At.UTC(), e.DeviceID, e.PublicKey, e.Outcome, e.Hostname, e.AgentVersion, e.RemoteAddr)
	if err != nil {
		return fmt.Errorf("store: record enrollment: %w", err)
	}
	return nil
}

// partitionedTables are the monthly-partitioned tables retention applies to.
// results_daily goes with results: a rollup outliving its evidence would
// give numbers nobody can check against the rows behind them, and so does
// results_by_time, its time-ordered copy.
var partitionedTables = []string{"results", "results_daily", "results_by_time", "heartbeats", "gaps", "dead_letters", "enrollment_events"}

// DropPartitionsBefore drops every monthly partition that ends before
// cutoff, so retention removes whole months and never a partial one: data
// is kept at least until cutoff. It returns the partitions dropped as
// "table/YYYYMM".
func (s *Store) DropPartitionsBefore(ctx context.Context, cutoff time.Time) ([]string, error) {
	c := cutoff.UTC()
	keepFrom := uint64(c.Year()*100 + int(c.Month()))
	var dropped []string
	for _, table := range partitionedTables {
		rows, err := s.conn.Query(ctx, `SELECT DISTINCT partition FROM system.parts
			WHERE database = ? AND table = ? AND active`, s.db, table)
		if err != nil {
			return dropped, fmt.Errorf("store: retention: list %s partitions: %w", table, err)
		}
		var parts []uint64
		for rows.Next() {
			var p string
			if err := rows.Scan(&p); err != nil {
				rows.Close()
				return dropped, fmt.Errorf("store: retention: %w", err)
			}
			if n, err := strconv.ParseUint(p, 10, 32); err == nil && n < keepFrom {
				parts = append(parts, n)
			}
		}
		rows.Close()
		for _, p := range parts {
			drop := ClusterStatement("ALTER TABLE "+table+" DROP PARTITION "+strconv.FormatUint(p, 10), s.cluster, s.db)
			if err := s.conn.Exec(ctx, drop); err != nil {
				return dropped, fmt.Errorf("store: retention: drop %s/%d: %w", table, p, err)
			}
			dropped = append(dropped, fmt.Sprintf("%s/%d", table, p))
		}
	}
	return dropped, nil
}
