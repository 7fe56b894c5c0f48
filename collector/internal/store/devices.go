package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// Device is an enrolled device.
type Device struct {
	DeviceID        string
	PublicKey       string
	Hostname        string
	OS              string
	Platform        string
	PlatformVersion string
	KernelVersion   string
	Arch            string
	HardwareUUID    string
	Serial          string
	AgentVersion    string
	Tags            map[string]string
	EnrolledAt      time.Time
	UpdatedAt       time.Time
}

// UpsertDevice records a device's enrollment; the newest UpdatedAt wins.
func (s *Store) UpsertDevice(ctx context.Context, d Device) error {
	tags, err := json.Marshal(d.Tags)
	if err != nil {
		return fmt.Errorf("store: upsert device: %w", err)
	}
	if d.Tags == nil {
		tags = []byte("{}")
	}
	err = s.insertOne(ctx, `INSERT INTO devices (device_id, public_key, hostname, os, platform,
		platform_version, kernel_version, arch, hardware_uuid, serial, agent_version, tags, enrolled_at, updated_at)`,
		d.DeviceID, d.PublicKey, d.Hostname, d.OS, d.Platform, d.PlatformVersion, d.KernelVersion,
		d.Arch, d.HardwareUUID, d.Serial, d.AgentVersion, string(tags), d.EnrolledAt.UTC(), d.UpdatedAt.UTC())
	if err != nil {
		return fmt.Errorf("store: upsert device: %w", err)
	}
	return nil
}

const deviceColumns = `device_id, public_key, hostname, os, platform, platform_version, kernel_version,
	arch, hardware_uuid, serial, agent_version, tags, enrolled_at, updated_at`

// Device returns one device, or ErrNotFound.
func (s *Store) Device(ctx context.Context, id string) (Device, error) {
	ds, err := s.queryDevices(ctx, "WHERE device_id = ?", id)
	if err != nil {
		return Device{}, err
	}
	if len(ds) == 0 {
		return Device{}, fmt.Errorf("device %q: %w", id, ErrNotFound)
	}
	return ds[0], nil
}

// Devices returns every enrolled device, ordered by id.
func (s *Store) Devices(ctx context.Context) ([]Device, error) {
	return s.queryDevices(ctx, "")
}

func (s *Store) queryDevices(ctx context.Context, where string, args ...any) ([]Device, error) {
	rows, err := s.conn.Query(ctx, "SELECT "+deviceColumns+" FROM devices FINAL "+where+" ORDER BY device_id", args...)
	if err != nil {
		return nil, fmt.Errorf("store: devices: %w", err)
	}
	defer rows.Close()
	var out []Device
	for rows.Next() {
		var d Device
		var tags string
		if err := rows.Scan(&d.DeviceID, &d.PublicKey, &d.Hostname, &d.OS, &d.Platform, &d.PlatformVersion,
			&d.KernelVersion, &d.Arch, &d.HardwareUUID, &d.Serial, &d.AgentVersion, &tags, &d.EnrolledAt, &d.UpdatedAt); err != nil {
			return nil, fmt.Errorf("store: devices: %w", err)
		}
		if err := json.Unmarshal([]byte(tags), &d.Tags); err != nil {
			return nil, fmt.Errorf("store: devices: %s: tags: %w", d.DeviceID, err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: devices: %w", err)
	}
	return out, nil
}

// DeviceKeys returns the public keys of the given devices that exist, and
// which of them are revoked, in two queries whatever the number of ids.
func (s *Store) DeviceKeys(ctx context.Context, ids []string) (map[string]string, map[string]bool, error) {
	keys := make(map[string]string, len(ids))
	revoked := map[string]bool{}
	if len(ids) == 0 {
		return keys, revoked, nil
	}
	// GroupSet renders as ('a', 'b'); a plain slice would bind as an
	// Array, which IN does not accept on 18.16.
	set := clickhouse.GroupSet{Value: make([]any, len(ids))}
	for i, id := range ids {
		set.Value[i] = id
	}
	rows, err := s.conn.Query(ctx, "SELECT device_id, argMax(public_key, updated_at) FROM devices WHERE device_id IN ? GROUP BY device_id", set)
	if err != nil {
		return nil, nil, fmt.Errorf("store: device keys: %w", err)
	}
	for rows.Next() {
		var id, key string
		if err := rows.Scan(&id, &key); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("store: device keys: %w", err)
		}
		keys[id] = key
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("store: device keys: %w", err)
	}
	rows, err = s.conn.Query(ctx, "SELECT DISTINCT device_id FROM revocations WHERE device_id IN ?", set)
	if err != nil {
		return nil, nil, fmt.Errorf("store: device keys: revocations: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, nil, fmt.Errorf("store: device keys: %w", err)
		}
		revoked[id] = true
	}
	return keys, revoked, rows.Err()
}
