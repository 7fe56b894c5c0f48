package dashtest

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// SQL renders the fleet as INSERT statements for a client that can send
// VALUES (chdb-sql; ClickHouse 18.16 through clickhouse-go cannot, which is
// why the 18.16 test seeds through the store instead). Every value is
// encoded the way the store encodes it: rows as compact JSON ("[]" when
// there are none), times as UTC whole seconds plus observed_ns, tags as
// a JSON object. DateTime literals are UTC: run with TZ=UTC.
func (f Fleet) SQL() string {
	var b strings.Builder
	insert := func(head string, rows [][]any) {
		if len(rows) == 0 {
			return
		}
		b.WriteString(head)
		b.WriteString(" VALUES\n")
		for i, r := range rows {
			vals := make([]string, len(r))
			for j, v := range r {
				vals[j] = literal(v)
			}
			sep := ",\n"
			if i == len(rows)-1 {
				sep = ";\n\n"
			}
			fmt.Fprintf(&b, "    (%s)%s", strings.Join(vals, ", "), sep)
		}
	}

	var devices [][]any
	for _, d := range f.Devices {
		devices = append(devices, []any{d.ID, d.PublicKey, d.Hostname, d.OS, d.Platform, d.PlatformVersion, d.KernelVersion, d.Arch,
			d.HardwareUUID, d.Serial, d.AgentVersion, jsonText(d.Tags, "{}"), d.EnrolledAt, d.UpdatedAt})
	}
	insert(`INSERT INTO devices (device_id, public_key, hostname, os, platform, platform_version, kernel_version,
    arch, hardware_uuid, serial, agent_version, tags, enrolled_at, updated_at)`, devices)

	var results, heartbeats, gaps [][]any
	for _, d := range f.Deliveries {
		e, recv := d.Envelope, d.ReceivedAt.UTC().Truncate(time.Second)
		for _, r := range e.Results {
			results = append(results, []any{e.DeviceID, r.CheckID, r.ObservedAt, uint32(r.ObservedAt.Nanosecond()),
				string(r.Status), r.CheckVersion, r.Pack, r.PackVersion, jsonText(r.Rows, "[]"), r.Reason, r.Error,
				r.DurationMS, r.Engine, e.AgentVersion, e.Seq, recv})
		}
		if h := e.Heartbeat; h != nil {
			heartbeats = append(heartbeats, []any{e.DeviceID, h.ObservedAt, h.Hostname, h.UptimeS, h.SpoolDepth, e.Seq, recv})
		}
		for _, g := range e.Gaps {
			gaps = append(gaps, []any{e.DeviceID, g.From, g.To, g.Dropped, g.Reason, e.Seq, recv})
		}
	}
	insert(`INSERT INTO results (device_id, check_id, observed_at, observed_ns, status, check_version, pack,
    pack_version, rows, reason, error, duration_ms, engine, agent_version, envelope_seq, received_at)`, results)
	insert(`INSERT INTO heartbeats (device_id, observed_at, hostname, uptime_s, spool_depth, envelope_seq, received_at)`, heartbeats)
	insert(`INSERT INTO gaps (device_id, gap_from, gap_to, dropped, reason, envelope_seq, received_at)`, gaps)

	var dls [][]any
	for _, d := range f.DeadLetters {
		dls = append(dls, []any{d.Stream, d.StreamSeq, d.Subject, d.MsgID, d.DeviceID, d.Reason, d.Payload, d.ReceivedAt})
	}
	insert(`INSERT INTO dead_letters (stream, stream_seq, subject, msg_id, device_id, reason, payload, received_at)`, dls)

	var excs [][]any
	for _, e := range f.Exceptions {
		excs = append(excs, []any{e.ID, e.DeviceID, e.Tag, e.CheckID, e.Reason, e.ApprovedBy, e.CreatedAt, e.Expires,
			e.StoredRevokedAt(), e.RevokedBy, e.Version})
	}
	insert(`INSERT INTO exceptions (id, device_id, tag, check_id, reason, approved_by, created_at, expires,
    revoked_at, revoked_by, version)`, excs)

	var revs [][]any
	for _, r := range f.Revocations {
		revs = append(revs, []any{r.DeviceID, r.PublicKey, r.RevokedAt, r.Reason, r.RevokedBy})
	}
	insert(`INSERT INTO revocations (device_id, public_key, revoked_at, reason, revoked_by)`, revs)
	return b.String()
}

// StoredRevokedAt is revoked_at as the store writes it: the Unix epoch
// while the exception stands.
func (e Exception) StoredRevokedAt() time.Time {
	if e.RevokedAt.IsZero() {
		return time.Unix(0, 0).UTC()
	}
	return e.RevokedAt.UTC()
}

// jsonText encodes v as the store does, with empty for a nil value.
func jsonText[T any](v T, empty string) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // maps and slices of strings always encode
	}
	if s := string(b); s != "null" {
		return s
	}
	return empty
}

// literal writes v as a ClickHouse literal.
func literal(v any) string {
	switch v := v.(type) {
	case string:
		return Quote(v)
	case time.Time:
		return "'" + v.UTC().Format(time.DateTime) + "'"
	default:
		return fmt.Sprint(v)
	}
}

// Quote returns s as a ClickHouse string literal: backslash escapes, so a
// JSON value's own backslashes survive.
func Quote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
