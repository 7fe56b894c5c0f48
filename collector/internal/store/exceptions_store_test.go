package store_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fleetproof/fleetproof/collector/internal/chtest"
	"github.com/fleetproof/fleetproof/collector/internal/store"
	"github.com/fleetproof/fleetproof/queries"
)

func TestValidateException(t *testing.T) {
	t.Parallel()
	cat, err := queries.Load()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 5, 10, 14, 0, 0, 0, time.UTC)
	ok := store.ExceptionRequest{DeviceID: "d-1", CheckID: "disk_encryption", Reason: "lab", ApprovedBy: "ciso",
		Expires: now.AddDate(0, 3, 0)}
	with := func(f func(*store.ExceptionRequest)) store.ExceptionRequest { r := ok; f(&r); return r }
	for _, tc := range []struct {
		name    string
		req     store.ExceptionRequest
		wantErr string // "" means valid
	}{
		{"device exception is valid", ok, ""},
		{"tag exception is valid", with(func(r *store.ExceptionRequest) { r.DeviceID, r.Tag = "", "department=lab" }), ""},
		{"neither device nor tag", with(func(r *store.ExceptionRequest) { r.DeviceID = "" }), "name a device or a tag"},
		{"both device and tag", with(func(r *store.ExceptionRequest) { r.Tag = "a=b" }), "not both"},
		{"tag without value would match untagged devices", with(func(r *store.ExceptionRequest) { r.DeviceID, r.Tag = "", "department=" }), "key=value"},
		{"tag without equals", with(func(r *store.ExceptionRequest) { r.DeviceID, r.Tag = "", "lab" }), "key=value"},
		{"unknown check names the known ones", with(func(r *store.ExceptionRequest) { r.CheckID = "disk_encrypton" }), "known: disk_encryption"},
		{"missing reason", with(func(r *store.ExceptionRequest) { r.Reason = "  " }), "reason is required"},
		{"missing approver", with(func(r *store.ExceptionRequest) { r.ApprovedBy = "" }), "approver is required"},
		{"missing expiry", with(func(r *store.ExceptionRequest) { r.Expires = time.Time{} }), "expiry is required"},
		{"expiry in the past", with(func(r *store.ExceptionRequest) { r.Expires = now.Add(-time.Hour) }), "not in the future"},
		{"expiry now", with(func(r *store.ExceptionRequest) { r.Expires = now }), "not in the future"},
		{"end of the day a year out is allowed", with(func(r *store.ExceptionRequest) {
			r.Expires = time.Date(2027, 5, 10, 23, 59, 59, 0, time.UTC)
		}), ""},
		{"the day after a year out is refused", with(func(r *store.ExceptionRequest) {
			r.Expires = time.Date(2027, 5, 11, 0, 0, 1, 0, time.UTC)
		}), "more than a year out"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := store.ValidateException(tc.req, cat, now)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("ValidateException: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Fatalf("ValidateException accepted %+v", tc.req)
			case tc.wantErr != "" && (!errors.Is(err, store.ErrInvalidException) || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("ValidateException = %v, want ErrInvalidException mentioning %q", err, tc.wantErr)
			}
		})
	}
}

func TestValidateExceptionReportsEveryProblemAndNormalises(t *testing.T) {
	t.Parallel()
	cat, err := queries.Load()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 5, 10, 14, 0, 0, 0, time.UTC)
	_, err = store.ValidateException(store.ExceptionRequest{CheckID: "nope"}, cat, now)
	for _, want := range []string{"device or a tag", "unknown check", "reason", "approver", "expiry"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not mention %q", err, want)
		}
	}
	got, err := store.ValidateException(store.ExceptionRequest{Tag: " department = lab ", CheckID: " screen_lock ",
		Reason: " kiosks ", ApprovedBy: " ciso ", Expires: now.Add(time.Hour + 500*time.Millisecond)}, cat, now)
	if err != nil {
		t.Fatal(err)
	}
	if got.Tag != "department=lab" || got.CheckID != "screen_lock" || got.Reason != "kiosks" || got.ApprovedBy != "ciso" ||
		!got.Expires.Equal(now.Add(time.Hour)) {
		t.Errorf("normalised request = %+v", got)
	}
}

func TestExceptionsKeepHistoryAsOf(t *testing.T) {
	t.Parallel()
	s := openStore(t, chtest.Database(t))
	ctx := t.Context()
	lab := store.Device{DeviceID: "d-lab", Tags: map[string]string{"department": "lab"}, EnrolledAt: base, UpdatedAt: base}
	if err := s.UpsertDevice(ctx, lab); err != nil {
		t.Fatal(err)
	}
	expires := time.Now().UTC().AddDate(0, 1, 0).Truncate(time.Second)

	if _, err := s.AddException(ctx, store.ExceptionRequest{DeviceID: "d-unknown", CheckID: "disk_encryption",
		Reason: "x", ApprovedBy: "ciso", Expires: expires}); !errors.Is(err, store.ErrInvalidException) {
		t.Fatalf("AddException for a device that is not enrolled: %v, want ErrInvalidException", err)
	}
	byDevice, err := s.AddException(ctx, store.ExceptionRequest{DeviceID: "d-lab", CheckID: "disk_encryption",
		Reason: "wiped nightly", ApprovedBy: "ciso", Expires: expires})
	if err != nil {
		t.Fatal(err)
	}
	byTag, err := s.AddException(ctx, store.ExceptionRequest{Tag: "department=lab", CheckID: "screen_lock",
		Reason: "kiosks", ApprovedBy: "ciso", Expires: expires})
	if err != nil {
		t.Fatal(err)
	}
	created := byDevice.CreatedAt
	if byDevice.ID == byTag.ID || !strings.HasPrefix(byDevice.ID, "exc-") || byDevice.Status != store.ExceptionActive {
		t.Fatalf("AddException returned %+v and %+v", byDevice, byTag)
	}

	// Both were granted within one second: their order is by id.
	byID := func(rs []store.ExceptionRecord) map[string]store.ExceptionRecord {
		m := map[string]store.ExceptionRecord{}
		for _, r := range rs {
			m[r.ID] = r
		}
		return m
	}
	active, err := s.ActiveExceptions(ctx, created.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if m := byID(active); len(active) != 2 || !m[byDevice.ID].Applies(lab, "disk_encryption", created.Add(time.Second)) ||
		!m[byTag.ID].Applies(lab, "screen_lock", created.Add(time.Second)) {
		t.Fatalf("ActiveExceptions = %+v, want both, applying to the lab device", active)
	}
	if before, err := s.Exceptions(ctx, created.Add(-time.Second)); err != nil || len(before) != 0 {
		t.Errorf("Exceptions before they were granted = %+v, %v; want none", before, err)
	}

	revoked, err := s.RevokeException(ctx, byDevice.ID, "it@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if revoked.RevokedAt == nil || revoked.RevokedBy != "it@example.com" || revoked.Status != store.ExceptionRevoked {
		t.Fatalf("RevokeException = %+v", revoked)
	}
	if _, err := s.RevokeException(ctx, byDevice.ID, "it@example.com"); !errors.Is(err, store.ErrExceptionClosed) {
		t.Errorf("revoking twice: %v, want ErrExceptionClosed", err)
	}
	if _, err := s.RevokeException(ctx, "exc-nope", "it@example.com"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("revoking an unknown id: %v, want ErrNotFound", err)
	}
	if _, err := s.RevokeException(ctx, byTag.ID, " "); !errors.Is(err, store.ErrInvalidException) {
		t.Errorf("revoking anonymously: %v, want ErrInvalidException", err)
	}

	at := revoked.RevokedAt.Add(time.Second)
	all, err := s.Exceptions(ctx, at)
	if err != nil {
		t.Fatal(err)
	}
	m := byID(all)
	if len(all) != 2 || m[byDevice.ID].Status != store.ExceptionRevoked || m[byTag.ID].Status != store.ExceptionActive {
		t.Errorf("Exceptions after the revocation = %+v", all)
	}
	if r := m[byDevice.ID]; r.Reason != "wiped nightly" || r.ApprovedBy != "ciso" || !r.Expires.Equal(expires) {
		t.Errorf("the revoked version lost the grant's details: %+v", r)
	}
	if active, _ := s.ActiveExceptions(ctx, at); len(active) != 1 || active[0].ID != byTag.ID {
		t.Errorf("ActiveExceptions after the revocation = %+v, want only %s", active, byTag.ID)
	}
	if all, _ := s.Exceptions(ctx, expires); len(all) != 2 || byID(all)[byTag.ID].Status != store.ExceptionExpired {
		t.Errorf("Exceptions at expiry = %+v, want the tag exception expired", all)
	}
}

// A report for a past instant must read the same whenever it is produced:
// a revocation recorded later is not shown as of an earlier instant.
func TestExceptionsAsOfIgnoreLaterRevocations(t *testing.T) {
	t.Parallel()
	s := openStore(t, chtest.Database(t))
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Second)
	// Written directly: the API only revokes at the current time.
	for _, row := range []struct {
		revokedAt time.Time
		by        string
		version   uint64
	}{
		{time.Unix(0, 0), "", 1},
		{now.Add(2 * time.Hour), "it@example.com", 2},
	} {
		b, err := s.Conn().PrepareBatch(ctx, `INSERT INTO exceptions (id, device_id, tag, check_id, reason, approved_by,
			created_at, expires, revoked_at, revoked_by, version)`)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Append("exc-1", "d-1", "", "firewall", "r", "ciso", now, now.AddDate(0, 1, 0), row.revokedAt, row.by, row.version); err != nil {
			t.Fatal(err)
		}
		if err := b.Send(); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		at        time.Time
		want      string
		revokedBy string
	}{
		{now.Add(time.Hour), store.ExceptionActive, ""},
		{now.Add(2 * time.Hour), store.ExceptionRevoked, "it@example.com"},
	} {
		got, err := s.Exceptions(ctx, tc.at)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Status != tc.want || got[0].RevokedBy != tc.revokedBy || (got[0].RevokedAt == nil) != (tc.revokedBy == "") {
			t.Errorf("Exceptions(%s) = %+v, want %s", tc.at, got, tc.want)
		}
	}
}
