package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fleetproof/fleetproof/queries"
)

// ErrInvalidException marks a request AddException refuses; the message
// lists every problem. An HTTP API maps it to 400.
var ErrInvalidException = errors.New("invalid exception")

// ErrExceptionClosed is returned when revoking an exception that is
// already revoked or expired.
var ErrExceptionClosed = errors.New("exception already closed")

// ExceptionRequest is what an approver asks for.
type ExceptionRequest struct {
	DeviceID   string    `json:"device_id,omitempty"`
	Tag        string    `json:"tag,omitempty"` // key=value
	CheckID    string    `json:"check_id"`
	Reason     string    `json:"reason"`
	ApprovedBy string    `json:"approved_by"`
	Expires    time.Time `json:"expires"`
}

// Exception statuses at an instant.
const (
	ExceptionActive  = "active"
	ExceptionExpired = "expired"
	ExceptionRevoked = "revoked"
)

// ExceptionRecord is an exception as known at an instant: the rule, who
// revoked it if that happened by then, and its status then.
type ExceptionRecord struct {
	ID         string     `json:"id"`
	DeviceID   string     `json:"device_id,omitempty"`
	Tag        string     `json:"tag,omitempty"`
	CheckID    string     `json:"check_id"`
	Reason     string     `json:"reason"`
	ApprovedBy string     `json:"approved_by"`
	CreatedAt  time.Time  `json:"created_at"`
	Expires    time.Time  `json:"expires"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
	RevokedBy  string     `json:"revoked_by,omitempty"`
	Status     string     `json:"status"` // active, expired or revoked
	version    uint64
}

// Exception is the rule that Applies evaluates.
func (r ExceptionRecord) Exception() Exception {
	e := Exception{ID: r.ID, DeviceID: r.DeviceID, Tag: r.Tag, CheckID: r.CheckID, Reason: r.Reason,
		ApprovedBy: r.ApprovedBy, CreatedAt: r.CreatedAt, Expires: r.Expires}
	if r.RevokedAt != nil {
		e.RevokedAt = *r.RevokedAt
	}
	return e
}

// Applies reports whether the exception covers check on d at instant at.
func (r ExceptionRecord) Applies(d Device, check string, at time.Time) bool {
	return r.Exception().Applies(d, check, at)
}

// ValidateException checks a request against the catalog at now and
// returns it normalised (trimmed, tag as key=value, expiry in UTC whole
// seconds). All problems are reported at once, wrapped in
// ErrInvalidException.
func ValidateException(req ExceptionRequest, cat *queries.Catalog, now time.Time) (ExceptionRequest, error) {
	req.DeviceID = strings.TrimSpace(req.DeviceID)
	req.Tag = strings.TrimSpace(req.Tag)
	req.CheckID = strings.TrimSpace(req.CheckID)
	req.Reason = strings.TrimSpace(req.Reason)
	req.ApprovedBy = strings.TrimSpace(req.ApprovedBy)
	req.Expires = req.Expires.UTC().Truncate(time.Second)
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	switch {
	case req.DeviceID == "" && req.Tag == "":
		bad("name a device or a tag")
	case req.DeviceID != "" && req.Tag != "":
		bad("name a device or a tag, not both")
	case req.Tag != "":
		// An empty key or value would match devices that lack the tag
		// (a missing tag reads as ""), exempting far more than intended.
		k, v, ok := strings.Cut(req.Tag, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" || v == "" {
			bad("tag %q: want key=value with both parts non-empty", req.Tag)
		} else {
			req.Tag = k + "=" + v
		}
	}
	switch {
	case req.CheckID == "":
		bad("check id is required")
	case cat == nil:
		bad("no check catalog to validate check %q against", req.CheckID)
	default:
		if _, ok := cat.Check(req.CheckID); !ok {
			ids := make([]string, len(cat.Checks))
			for i, c := range cat.Checks {
				ids[i] = c.ID
			}
			bad("unknown check %q (known: %s)", req.CheckID, strings.Join(ids, ", "))
		}
	}
	if req.Reason == "" {
		bad("reason is required")
	}
	if req.ApprovedBy == "" {
		bad("approver is required")
	}
	// At most a year out, so a standing exemption is re-approved at least
	// yearly (the usual review cycle). The limit is the end of that day:
	// a bare date on the command line means the end of its day.
	limit := now.UTC().AddDate(1, 0, 0).Truncate(24 * time.Hour).Add(24 * time.Hour)
	switch {
	case req.Expires.IsZero():
		bad("expiry is required")
	case !req.Expires.After(now):
		bad("expiry %s is not in the future", req.Expires.Format(time.RFC3339))
	case req.Expires.After(limit):
		bad("expiry %s is more than a year out (latest %s); re-approve yearly instead",
			req.Expires.Format(time.RFC3339), limit.Format(time.RFC3339))
	}
	if len(problems) > 0 {
		return req, fmt.Errorf("%w: %s", ErrInvalidException, strings.Join(problems, "; "))
	}
	return req, nil
}

// AddException validates a request against the embedded check catalog and
// the enrolled devices, and records it as granted now. The creation time
// is the server's clock, never the caller's: it is evidence of when the
// exception began to apply.
func (s *Store) AddException(ctx context.Context, req ExceptionRequest) (ExceptionRecord, error) {
	cat, err := queries.Load()
	if err != nil {
		return ExceptionRecord{}, fmt.Errorf("store: add exception: %w", err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	req, err = ValidateException(req, cat, now)
	if err != nil {
		return ExceptionRecord{}, err
	}
	if req.DeviceID != "" {
		if _, err := s.Device(ctx, req.DeviceID); errors.Is(err, ErrNotFound) {
			return ExceptionRecord{}, fmt.Errorf("%w: device %q is not enrolled", ErrInvalidException, req.DeviceID)
		} else if err != nil {
			return ExceptionRecord{}, fmt.Errorf("store: add exception: %w", err)
		}
	}
	id, err := newExceptionID()
	if err != nil {
		return ExceptionRecord{}, fmt.Errorf("store: add exception: %w", err)
	}
	r := ExceptionRecord{ID: id, DeviceID: req.DeviceID, Tag: req.Tag, CheckID: req.CheckID, Reason: req.Reason,
		ApprovedBy: req.ApprovedBy, CreatedAt: now, Expires: req.Expires, Status: ExceptionActive,
		version: uint64(time.Now().UnixNano())}
	if err := s.putException(ctx, r); err != nil {
		return ExceptionRecord{}, fmt.Errorf("store: add exception: %w", err)
	}
	return r, nil
}

// RevokeException ends an exception now by writing a new version of it.
// It returns ErrNotFound for an unknown id and ErrExceptionClosed when the
// exception is already revoked or expired.
func (s *Store) RevokeException(ctx context.Context, id, by string) (ExceptionRecord, error) {
	by = strings.TrimSpace(by)
	if by == "" {
		return ExceptionRecord{}, fmt.Errorf("store: revoke exception: %w: who revokes is required", ErrInvalidException)
	}
	rs, err := s.queryExceptions(ctx, "WHERE id = ?", id)
	if err != nil {
		return ExceptionRecord{}, err
	}
	if len(rs) == 0 {
		return ExceptionRecord{}, fmt.Errorf("store: revoke exception %q: %w", id, ErrNotFound)
	}
	r, now := rs[0], time.Now().UTC().Truncate(time.Second)
	switch {
	case r.RevokedAt != nil:
		r.Status = ExceptionRevoked
		return r, fmt.Errorf("store: revoke exception %q: %w: revoked %s by %s", id, ErrExceptionClosed,
			r.RevokedAt.Format(time.RFC3339), r.RevokedBy)
	case !now.Before(r.Expires):
		r.Status = ExceptionExpired
		return r, fmt.Errorf("store: revoke exception %q: %w: expired %s", id, ErrExceptionClosed, r.Expires.Format(time.RFC3339))
	}
	r.RevokedAt, r.RevokedBy, r.Status = &now, by, ExceptionRevoked
	// Strictly newer than the grant even if this collector's clock is
	// behind the one that granted it.
	r.version = max(uint64(time.Now().UnixNano()), r.version+1)
	if err := s.putException(ctx, r); err != nil {
		return ExceptionRecord{}, fmt.Errorf("store: revoke exception: %w", err)
	}
	return r, nil
}

// Exceptions returns every exception granted at or before at, including
// expired and revoked ones, as known at that instant: a revocation after
// at is not shown, so a report for a past date reads the same whenever it
// is produced.
func (s *Store) Exceptions(ctx context.Context, at time.Time) ([]ExceptionRecord, error) {
	rs, err := s.queryExceptions(ctx, "WHERE created_at <= toDateTime(?)", at.UTC().Unix())
	if err != nil {
		return nil, err
	}
	for i := range rs {
		r := &rs[i]
		if r.RevokedAt != nil && r.RevokedAt.After(at) {
			r.RevokedAt, r.RevokedBy = nil, ""
		}
		switch {
		case r.RevokedAt != nil:
			r.Status = ExceptionRevoked
		case !at.Before(r.Expires):
			r.Status = ExceptionExpired
		default:
			r.Status = ExceptionActive
		}
	}
	return rs, nil
}

// ActiveExceptions returns the exceptions in force at at.
func (s *Store) ActiveExceptions(ctx context.Context, at time.Time) ([]ExceptionRecord, error) {
	all, err := s.Exceptions(ctx, at)
	if err != nil {
		return nil, err
	}
	var out []ExceptionRecord
	for _, r := range all {
		if r.Status == ExceptionActive {
			out = append(out, r)
		}
	}
	return out, nil
}

// notRevoked is what revoked_at holds while an exception stands.
var notRevoked = time.Unix(0, 0).UTC()

func (s *Store) putException(ctx context.Context, r ExceptionRecord) error {
	revokedAt := notRevoked
	if r.RevokedAt != nil {
		revokedAt = r.RevokedAt.UTC()
	}
	return s.insertOne(ctx, `INSERT INTO exceptions (id, device_id, tag, check_id, reason, approved_by,
		created_at, expires, revoked_at, revoked_by, version)`,
		r.ID, r.DeviceID, r.Tag, r.CheckID, r.Reason, r.ApprovedBy, r.CreatedAt.UTC(), r.Expires.UTC(),
		revokedAt, r.RevokedBy, r.version)
}

const exceptionColumns = `id, device_id, tag, check_id, reason, approved_by, created_at, expires,
	revoked_at, revoked_by, version`

// queryExceptions reads the newest version of each exception. FINAL is
// safe with the filters used: id is the key and created_at is the same in
// every version of an exception.
func (s *Store) queryExceptions(ctx context.Context, where string, args ...any) ([]ExceptionRecord, error) {
	rows, err := s.conn.Query(ctx, "SELECT "+exceptionColumns+" FROM exceptions FINAL "+where+" ORDER BY created_at, id", args...)
	if err != nil {
		return nil, fmt.Errorf("store: exceptions: %w", err)
	}
	defer rows.Close()
	var out []ExceptionRecord
	for rows.Next() {
		var r ExceptionRecord
		var revokedAt time.Time
		if err := rows.Scan(&r.ID, &r.DeviceID, &r.Tag, &r.CheckID, &r.Reason, &r.ApprovedBy, &r.CreatedAt,
			&r.Expires, &revokedAt, &r.RevokedBy, &r.version); err != nil {
			return nil, fmt.Errorf("store: exceptions: %w", err)
		}
		r.CreatedAt, r.Expires = r.CreatedAt.UTC(), r.Expires.UTC()
		if revokedAt.Unix() != 0 {
			t := revokedAt.UTC()
			r.RevokedAt = &t
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: exceptions: %w", err)
	}
	return out, nil
}

// newExceptionID returns a short random id that is easy to type in
// `exception revoke -id`.
func newExceptionID() (string, error) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return "exc-" + hex.EncodeToString(b), nil
}
