package store

import (
	"strings"
	"time"
)

// Exception exempts a device, or every device carrying a tag, from one
// check for a reason, approved by someone, until a date. Exceptions are
// evidence themselves: reports show excepted devices separately, never as
// passing, and an expired exception stops applying by itself.
type Exception struct {
	ID         string
	DeviceID   string // one device, or "" when Tag selects devices
	Tag        string // "key=value" matched against device tags, or ""
	CheckID    string
	Reason     string
	ApprovedBy string
	CreatedAt  time.Time
	Expires    time.Time
	// RevokedAt ends an exception early; zero while it stands.
	RevokedAt time.Time
}

// Applies reports whether the exception covers check on d at instant at.
func (e Exception) Applies(d Device, check string, at time.Time) bool {
	if e.CheckID != check || at.Before(e.CreatedAt) || !at.Before(e.Expires) {
		return false
	}
	if !e.RevokedAt.IsZero() && !at.Before(e.RevokedAt) {
		return false
	}
	if e.DeviceID != "" {
		return e.DeviceID == d.DeviceID
	}
	k, v, ok := strings.Cut(e.Tag, "=")
	return ok && d.Tags[k] == v
}
