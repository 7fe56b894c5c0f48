package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/fleetproof/fleetproof/collector/internal/chtest"
	"github.com/fleetproof/fleetproof/collector/internal/cli"
	"github.com/fleetproof/fleetproof/collector/internal/compliance"
	"github.com/fleetproof/fleetproof/collector/internal/store"
	"github.com/fleetproof/fleetproof/evidence"
)

// jan is the first day of the fleet seeded by seedFleet.
var jan = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func janAt(day int, hour int) time.Time {
	return jan.AddDate(0, 0, day-1).Add(time.Duration(hour) * time.Hour)
}

// cmdRun runs a command line with -clickhouse-dsn placed after the
// command name and returns the exit code, stdout and stderr.
func cmdRun(t *testing.T, dsn string, args ...string) (int, string, string) {
	t.Helper()
	full := append([]string{args[0], "-clickhouse-dsn", dsn}, args[1:]...)
	var stdout, stderr bytes.Buffer
	code := cli.Run(context.Background(), full, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// seedFleet stores three devices enrolled before 2026-01-01 and their
// evidence for CC6.1 (disk_encryption, screen_lock) on Jan 1-3:
//   - mac: all passing, except screen_lock failing on Jan 2 10:00 and
//     passing again at 14:00;
//   - lin: disk_encryption only on Jan 1 (no evidence after), screen_lock
//     passing daily at 09:00; heartbeats until Jan 3 22:00; a spool gap;
//   - win: enrolled, never reported.
func seedFleet(t *testing.T) string {
	t.Helper()
	dsn := chtest.Database(t)
	s, err := store.Open(t.Context(), dsn, slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	enrolled := jan.AddDate(0, 0, -7)
	for _, d := range []store.Device{
		{DeviceID: "mac", Hostname: "mac.example", OS: "darwin"},
		{DeviceID: "lin", Hostname: "lin.example", OS: "linux"},
		{DeviceID: "win", Hostname: "win.example", OS: "windows"},
	} {
		d.EnrolledAt, d.UpdatedAt = enrolled, enrolled
		if err := s.UpsertDevice(t.Context(), d); err != nil {
			t.Fatal(err)
		}
	}
	res := func(check string, at time.Time, st evidence.Status) evidence.Result {
		return evidence.Result{CheckID: check, CheckVersion: 1, Pack: "fleetproof-core", PackVersion: "1.0.0", ObservedAt: at, Status: st}
	}
	lockFail := res("screen_lock", janAt(2, 10), evidence.StatusFail)
	lockFail.Rows = []map[string]string{{"idle_seconds": "3600", "compliant": "0"}}
	lockFail.Reason = "1 of 1 rows not compliant"
	mac := &evidence.Envelope{Schema: 1, DeviceID: "mac", Seq: 1, Results: []evidence.Result{
		res("disk_encryption", janAt(1, 9), evidence.StatusPass), res("screen_lock", janAt(1, 9), evidence.StatusPass),
		res("disk_encryption", janAt(2, 9), evidence.StatusPass), res("screen_lock", janAt(2, 9), evidence.StatusPass),
		lockFail, res("screen_lock", janAt(2, 12), evidence.StatusFail), res("screen_lock", janAt(2, 14), evidence.StatusPass),
		res("disk_encryption", janAt(3, 22), evidence.StatusPass), res("screen_lock", janAt(3, 22), evidence.StatusPass),
	}}
	lin := &evidence.Envelope{Schema: 1, DeviceID: "lin", Seq: 1, Results: []evidence.Result{
		res("disk_encryption", janAt(1, 9), evidence.StatusPass), res("screen_lock", janAt(1, 9), evidence.StatusPass),
		res("screen_lock", janAt(2, 9), evidence.StatusPass), res("screen_lock", janAt(3, 9), evidence.StatusPass),
	}, Heartbeat: &evidence.Heartbeat{ObservedAt: janAt(3, 22)},
		Gaps: []evidence.Gap{{From: janAt(2, 0), To: janAt(2, 8), Dropped: 17, Reason: "spool full"}}}
	// Delivered twice, as after a lost acknowledgement.
	for range 2 {
		if err := s.InsertEnvelopes(t.Context(), []*evidence.Envelope{mac, lin}, janAt(4, 0)); err != nil {
			t.Fatal(err)
		}
	}
	return dsn
}

func TestComplianceCommand(t *testing.T) {
	t.Parallel()
	dsn := seedFleet(t)

	code, out, errOut := cmdRun(t, dsn, "compliance", "-control", "CC6.1", "-from", "2026-01-01", "-to", "2026-01-03", "-format", "json")
	if code != 0 {
		t.Fatalf("compliance exited %d: %s", code, errOut)
	}
	var rep compliance.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	// -to names the last day, included.
	if rep.Days != 3 || !rep.From.Equal(jan) || !rep.To.Equal(janAt(4, 0)) || strings.Join(rep.Checks, ",") != "disk_encryption,screen_lock" {
		t.Errorf("period %s..%s (%d days), checks %v", rep.From, rep.To, rep.Days, rep.Checks)
	}
	got := map[string]compliance.Device{}
	for _, d := range rep.Devices {
		got[d.DeviceID] = d
	}
	mac, lin, win := got["mac"], got["lin"], got["win"]
	if mac.Status != compliance.StatusPartial || mac.Compliant != 2 || mac.Failing != 1 || mac.FailedCheck != "screen_lock" ||
		mac.FirstFailure == nil || !mac.FirstFailure.Equal(janAt(2, 10)) ||
		mac.RemediatedAt == nil || !mac.RemediatedAt.Equal(janAt(2, 14)) || *mac.RemediationSeconds != 4*3600 {
		t.Errorf("mac = %+v", mac)
	}
	if lin.Status != compliance.StatusPartial || lin.Compliant != 1 || lin.NoEvidence != 2 || lin.Share == nil || *lin.Share != 1 {
		t.Errorf("lin = %+v (a gap is never compliant, but does not lower the share)", lin)
	}
	if win.Status != compliance.StatusNoEvidence || win.NoEvidence != 3 || win.Share != nil {
		t.Errorf("win = %+v", win)
	}
	if f := rep.Fleet; f.Devices != 3 || f.Partial != 2 || f.NoEvidence != 1 || f.Failed != 1 || f.Remediated != 1 {
		t.Errorf("fleet = %+v", f)
	}
	if d := rep.Trend[1]; d.Day != "2026-01-02" || d.Devices != 3 || d.Passing != 0 || d.Failing != 1 || d.Unknown != 2 {
		t.Errorf("Jan 2 = %+v", d)
	}

	// One check, as a table and as CSV.
	code, out, errOut = cmdRun(t, dsn, "compliance", "-check", "disk_encryption", "-from", "2026-01-01", "-to", "2026-01-03")
	if code != 0 || !strings.Contains(out, "Compliance of check disk_encryption, 2026-01-01 to 2026-01-03 (3 days assessed)") ||
		!strings.Contains(out, "Devices 3: compliant 1,") {
		t.Errorf("table (exit %d, %s):\n%s", code, errOut, out)
	}
	code, out, _ = cmdRun(t, dsn, "compliance", "-check", "disk_encryption", "-from", "2026-01-01", "-to", "2026-01-03", "-format", "csv")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); code != 0 || len(lines) != 4 || !strings.HasPrefix(lines[0], "device_id,") {
		t.Errorf("csv (exit %d):\n%s", code, out)
	}
	code, out, _ = cmdRun(t, dsn, "compliance", "-check", "disk_encryption", "-from", "2026-01-01", "-to", "2026-01-03", "-format", "csv", "-trend")
	if code != 0 || !strings.Contains(out, "2026-01-02,3,1,0,2,0,0\n") {
		t.Errorf("trend csv (exit %d):\n%s", code, out)
	}
}

func TestComplianceCommandRefusesBadArguments(t *testing.T) {
	t.Parallel()
	// Nothing listens here: every case must be refused before connecting.
	const dsn = "clickhouse://127.0.0.1:1/none"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"compliance", "-from", "2026-01-01", "-to", "2026-01-31"}, "exactly one of -check or -control"},
		{[]string{"compliance", "-check", "disk_encryption", "-control", "CC6.1", "-from", "2026-01-01", "-to", "2026-01-31"}, "exactly one of -check or -control"},
		{[]string{"compliance", "-check", "disk_encryption", "-to", "2026-01-31"}, "-from and -to are required"},
		{[]string{"compliance", "-check", "disk_encryption", "-from", "2026-02-01", "-to", "2026-01-01"}, "is not after"},
		{[]string{"compliance", "-check", "disk_encryption", "-from", "January", "-to", "2026-01-31"}, "-from:"},
		{[]string{"compliance", "-check", "disk_encryption", "-from", "2026-01-01", "-to", "2026-01-31", "-format", "xml"}, `-format "xml"`},
		{[]string{"compliance", "-control", "CC9.9", "-from", "2026-01-01", "-to", "2026-01-31"}, `evidences "CC9.9"`},
		{[]string{"compliance", "-check", "nope", "-from", "2026-01-01", "-to", "2026-01-31"}, `no check "nope"`},
	} {
		code, _, errOut := cmdRun(t, dsn, tc.args...)
		if code != 1 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 1 and %q", tc.args, code, errOut, tc.want)
		}
	}
}
