package cli_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/fleetproof/fleetproof/collector/internal/compliance"
)

func TestStaleCommand(t *testing.T) {
	t.Parallel()
	dsn := seedFleet(t)

	// As of Jan 3 23:00 with the default window (3 × the catalog's
	// shortest interval, 1h): mac reported at 22:00; lin only heartbeats
	// since 09:00; win never reported.
	code, out, errOut := cmdRun(t, dsn, "stale", "-at", "2026-01-03T23:00:00Z", "-gaps-from", "2026-01-01", "-format", "json")
	if code != 0 {
		t.Fatalf("stale exited %d: %s", code, errOut)
	}
	var rep compliance.StaleReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var got []string
	for _, s := range rep.Stale {
		got = append(got, s.DeviceID+"="+s.Reason)
	}
	if rep.WindowSeconds != 3*3600 || rep.Devices != 3 || strings.Join(got, " ") != "win=never_reported lin=no_results" {
		t.Errorf("stale: window %ds, %d devices, %v", rep.WindowSeconds, rep.Devices, got)
	}
	if len(rep.Gaps) != 1 || rep.Gaps[0].DeviceID != "lin" || rep.Gaps[0].Dropped != 17 {
		t.Errorf("gaps = %+v", rep.Gaps)
	}

	// A wider window forgives lin; an earlier instant ignores later evidence.
	code, out, _ = cmdRun(t, dsn, "stale", "-at", "2026-01-03T23:00:00Z", "-window", "24h", "-format", "csv")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); code != 0 || len(lines) != 2 || !strings.HasPrefix(lines[1], "win,") {
		t.Errorf("24h window (exit %d):\n%s", code, out)
	}
	code, out, _ = cmdRun(t, dsn, "stale", "-at", "2026-01-02T13:00:00Z")
	if code != 0 || !strings.Contains(out, "Stale devices as of 2026-01-02T13:00:00Z (window 3h0m0s): 2 of 3") ||
		!strings.Contains(out, "lin") || !strings.Contains(out, "spool full") {
		t.Errorf("table as of Jan 2 13:00 (exit %d):\n%s", code, out)
	}

	code, _, errOut = cmdRun(t, dsn, "stale", "-window", "-1h")
	if code != 1 || !strings.Contains(errOut, "negative") {
		t.Errorf("negative window: exit %d, %s", code, errOut)
	}
}
