package store

import (
	"context"
	"fmt"
	"time"
)

// Revocation withdraws a device key's right to publish and enroll.
type Revocation struct {
	DeviceID  string
	PublicKey string
	RevokedAt time.Time
	Reason    string
	RevokedBy string
}

// Revoke records a revocation.
func (s *Store) Revoke(ctx context.Context, r Revocation) error {
	if err := s.insertOne(ctx, "INSERT INTO revocations (device_id, public_key, revoked_at, reason, revoked_by)",
		r.DeviceID, r.PublicKey, r.RevokedAt.UTC(), r.Reason, r.RevokedBy); err != nil {
		return fmt.Errorf("store: revoke: %w", err)
	}
	return nil
}

// Revocations lists every revocation, oldest first.
func (s *Store) Revocations(ctx context.Context) ([]Revocation, error) {
	rows, err := s.conn.Query(ctx, `SELECT device_id, public_key, revoked_at, reason, revoked_by
		FROM revocations FINAL ORDER BY revoked_at, device_id`)
	if err != nil {
		return nil, fmt.Errorf("store: revocations: %w", err)
	}
	defer rows.Close()
	var out []Revocation
	for rows.Next() {
		var r Revocation
		if err := rows.Scan(&r.DeviceID, &r.PublicKey, &r.RevokedAt, &r.Reason, &r.RevokedBy); err != nil {
			return nil, fmt.Errorf("store: revocations: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Revoked reports whether a device id has any revocation.
func (s *Store) Revoked(ctx context.Context, deviceID string) (bool, error) {
	var n uint64
	if err := s.conn.QueryRow(ctx, "SELECT count() FROM revocations WHERE device_id = ?", deviceID).Scan(&n); err != nil {
		return false, fmt.Errorf("store: revoked: %w", err)
	}
	return n > 0, nil
}
