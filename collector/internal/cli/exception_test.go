package cli_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fleetproof/fleetproof/collector/internal/chtest"
	"github.com/fleetproof/fleetproof/collector/internal/store"
)

var exceptionID = regexp.MustCompile(`exc-[0-9a-f]{16}`)

func TestExceptionAddListRevoke(t *testing.T) {
	t.Parallel()
	dsn := chtest.Database(t)
	enroll(t, dsn, store.Device{DeviceID: "d-lab", Hostname: "lab-1", Tags: map[string]string{"department": "lab"}})
	expires := time.Now().UTC().AddDate(0, 2, 0).Format(time.DateOnly)

	code, out, errOut := run(t, dsn, "exception", "add", "-check", "disk_encryption", "-device", "d-lab",
		"-reason", "wiped nightly", "-approved-by", "ciso@example.com", "-expires", expires)
	if code != 0 {
		t.Fatalf("exception add exited %d: %s", code, errOut)
	}
	byDevice := exceptionID.FindString(out)
	if byDevice == "" || !strings.Contains(out, "disk_encryption for device d-lab until "+expires+"T23:59:59Z") {
		t.Fatalf("exception add output: %s", out)
	}
	code, out, errOut = run(t, dsn, "exception", "add", "-check", "screen_lock", "-tag", "department=lab",
		"-reason", "kiosks", "-approved-by", "ciso@example.com", "-expires", expires)
	if code != 0 {
		t.Fatalf("exception add -tag exited %d: %s", code, errOut)
	}
	byTag := exceptionID.FindString(out)

	code, out, errOut = run(t, dsn, "exception", "revoke", "-id", byDevice, "-by", "it@example.com")
	if code != 0 || !strings.Contains(out, "revoked exception "+byDevice) {
		t.Fatalf("exception revoke exited %d: %s%s", code, out, errOut)
	}

	code, out, errOut = run(t, dsn, "exception", "list", "-format", "json")
	if code != 0 {
		t.Fatalf("exception list exited %d: %s", code, errOut)
	}
	var list []store.ExceptionRecord
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatal(err)
	}
	got := map[string]store.ExceptionRecord{}
	for _, r := range list {
		got[r.ID] = r
	}
	if d := got[byDevice]; len(list) != 2 || d.Status != "revoked" || d.RevokedBy != "it@example.com" || d.Reason != "wiped nightly" {
		t.Errorf("listed device exception = %+v (of %d)", d, len(list))
	}
	if g := got[byTag]; g.Status != "active" || g.Tag != "department=lab" || g.ApprovedBy != "ciso@example.com" {
		t.Errorf("listed tag exception = %+v", g)
	}

	code, out, _ = run(t, dsn, "exception", "list", "-active", "-format", "csv")
	if code != 0 || strings.Count(out, "\n") != 2 || !strings.Contains(out, byTag+",active,screen_lock,,department=lab,kiosks,") {
		t.Errorf("exception list -active csv (exit %d):\n%s", code, out)
	}
	code, out, _ = run(t, dsn, "exception", "list")
	if code != 0 || !strings.Contains(out, "revoked") || !strings.Contains(out, "by it@example.com") ||
		!strings.Contains(out, "tag department=lab") {
		t.Errorf("exception list table (exit %d):\n%s", code, out)
	}
	// As of a day before they were granted there were none.
	code, out, _ = run(t, dsn, "exception", "list", "-format", "json", "-at", time.Now().UTC().AddDate(0, 0, -1).Format(time.DateOnly))
	if code != 0 || strings.TrimSpace(out) != "[]" {
		t.Errorf("exception list before the grants (exit %d): %s", code, out)
	}
}

func TestExceptionAddRefusesInvalidRequests(t *testing.T) {
	t.Parallel()
	dsn := chtest.Database(t)
	enroll(t, dsn, store.Device{DeviceID: "d-1"})
	soon := time.Now().UTC().AddDate(0, 1, 0).Format(time.DateOnly)
	add := func(extra ...string) []string {
		return append([]string{"exception", "add", "-reason", "r", "-approved-by", "ciso"}, extra...)
	}
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"unknown check", add("-check", "disk_encrypton", "-device", "d-1", "-expires", soon), `unknown check "disk_encrypton"`},
		{"device and tag", add("-check", "firewall", "-device", "d-1", "-tag", "a=b", "-expires", soon), "not both"},
		{"neither device nor tag", add("-check", "firewall", "-expires", soon), "name a device or a tag"},
		{"tag without value", add("-check", "firewall", "-tag", "department", "-expires", soon), "key=value"},
		{"device not enrolled", add("-check", "firewall", "-device", "d-404", "-expires", soon), `device "d-404" is not enrolled`},
		{"expired already", add("-check", "firewall", "-device", "d-1", "-expires", "2020-01-01"), "not in the future"},
		{"more than a year out", add("-check", "firewall", "-device", "d-1", "-expires",
			time.Now().UTC().AddDate(1, 0, 2).Format(time.DateOnly)), "more than a year out"},
		{"no expiry", add("-check", "firewall", "-device", "d-1"), "expiry is required"},
		{"unparsable expiry", add("-check", "firewall", "-device", "d-1", "-expires", "next week"), "-expires"},
		{"no approver", []string{"exception", "add", "-check", "firewall", "-device", "d-1", "-reason", "r", "-expires", soon},
			"approver is required"},
		{"revoke unknown", []string{"exception", "revoke", "-id", "exc-nope", "-by", "me"}, "not found"},
		{"revoke without id", []string{"exception", "revoke", "-by", "me"}, "-id is required"},
		{"unknown subcommand", []string{"exception", "grant"}, `unknown subcommand "grant"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := run(t, dsn, tc.args...)
			if code != 1 || !strings.Contains(errOut, tc.wantErr) {
				t.Errorf("exit %d, stderr %q; want 1 and %q", code, errOut, tc.wantErr)
			}
		})
	}
	if code, out, _ := run(t, dsn, "exception", "list", "-format", "json"); code != 0 || strings.TrimSpace(out) != "[]" {
		t.Errorf("refused requests were stored: %s", out)
	}
}
