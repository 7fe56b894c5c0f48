package store_test

import (
	"testing"
	"time"

	"github.com/fleetproof/fleetproof/collector/internal/store"
)

func TestExceptionApplies(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	laptop := store.Device{DeviceID: "d-1", Tags: map[string]string{"department": "lab"}}
	other := store.Device{DeviceID: "d-2", Tags: map[string]string{"department": "eng"}}
	byDevice := store.Exception{DeviceID: "d-1", CheckID: "disk_encryption", CreatedAt: t0, Expires: t0.AddDate(0, 3, 0)}
	byTag := store.Exception{Tag: "department=lab", CheckID: "screen_lock", CreatedAt: t0, Expires: t0.AddDate(0, 1, 0)}
	revoked := byDevice
	revoked.RevokedAt = t0.AddDate(0, 1, 0)
	cases := []struct {
		name  string
		e     store.Exception
		d     store.Device
		check string
		at    time.Time
		want  bool
	}{
		{"device within its window", byDevice, laptop, "disk_encryption", t0.AddDate(0, 1, 0), true},
		{"another device", byDevice, other, "disk_encryption", t0.AddDate(0, 1, 0), false},
		{"another check", byDevice, laptop, "firewall", t0.AddDate(0, 1, 0), false},
		{"before it was granted", byDevice, laptop, "disk_encryption", t0.Add(-time.Second), false},
		{"at expiry it no longer applies", byDevice, laptop, "disk_encryption", t0.AddDate(0, 3, 0), false},
		{"tag matches", byTag, laptop, "screen_lock", t0.Add(time.Hour), true},
		{"tag does not match", byTag, other, "screen_lock", t0.Add(time.Hour), false},
		{"revoked early", revoked, laptop, "disk_encryption", t0.AddDate(0, 2, 0), false},
		{"before the revocation it applied", revoked, laptop, "disk_encryption", t0.AddDate(0, 0, 10), true},
	}
	for _, c := range cases {
		if got := c.e.Applies(c.d, c.check, c.at); got != c.want {
			t.Errorf("%s: Applies = %v, want %v", c.name, got, c.want)
		}
	}
}
