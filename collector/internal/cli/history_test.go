package cli_test

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
)

func TestHistoryCommand(t *testing.T) {
	t.Parallel()
	dsn := seedFleet(t)

	code, out, errOut := cmdRun(t, dsn, "history", "-device", "mac", "-check", "screen_lock", "-format", "json")
	if code != 0 {
		t.Fatalf("history exited %d: %s", code, errOut)
	}
	var rep struct {
		DeviceID string `json:"device_id"`
		Entries  []struct {
			Status, Previous string
			Start, End       string
			Observations     int
			Rows             json.RawMessage
		} `json:"entries"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var got []string
	for _, e := range rep.Entries {
		got = append(got, e.Previous+">"+e.Status+"@"+e.Start+".."+e.End+"×"+strconv.Itoa(e.Observations))
	}
	want := []string{
		">pass@2026-01-01T09:00:00Z..2026-01-02T09:00:00Z×2",
		"pass>fail@2026-01-02T10:00:00Z..2026-01-02T12:00:00Z×2",
		"fail>pass@2026-01-02T14:00:00Z..2026-01-03T22:00:00Z×2",
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("history (redelivered twice, counted once):\n got %q\nwant %q", got, want)
	}
	if len(rep.Entries) > 1 {
		var rows bytes.Buffer
		if err := json.Compact(&rows, rep.Entries[1].Rows); err != nil || rows.String() != `[{"compliant":"0","idle_seconds":"3600"}]` {
			t.Errorf("the failure's evidence = %s", rep.Entries[1].Rows)
		}
	}

	// A table over a window: the run in progress at -from is a continuation.
	code, out, errOut = cmdRun(t, dsn, "history", "-device", "mac", "-from", "2026-01-02T11:00:00Z", "-to", "2026-01-02")
	if code != 0 {
		t.Fatalf("history exited %d: %s", code, errOut)
	}
	for _, want := range []string{"2 status changes", "(continued) -> fail", "fail -> pass"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = cmdRun(t, dsn, "history", "-device", "mac", "-check", "screen_lock", "-format", "csv")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); code != 0 || len(lines) != 4 || !strings.Contains(lines[2], "idle_seconds") {
		t.Errorf("csv (exit %d):\n%s", code, out)
	}
	// The failing rows' detail is what the table shows.
	code, out, _ = cmdRun(t, dsn, "history", "-device", "mac", "-check", "screen_lock")
	if code != 0 || !strings.Contains(out, "idle_seconds=3600") {
		t.Errorf("table detail (exit %d):\n%s", code, out)
	}

	code, out, errOut = cmdRun(t, dsn, "history", "-device", "mac", "-check", "screen_lock", "-daily", "-from", "2026-01-01", "-to", "2026-01-03", "-format", "csv")
	if code != 0 || !strings.Contains(out, "mac,screen_lock,2026-01-02,2,2,0,0,") {
		t.Errorf("daily csv (exit %d, %s):\n%s", code, errOut, out)
	}
}

func TestHistoryCommandRefusesBadArguments(t *testing.T) {
	t.Parallel()
	dsn := seedFleet(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"history"}, "-device is required"},
		{[]string{"history", "-device", "mac", "-from", "yesterday"}, "-from:"},
		{[]string{"history", "-device", "mac", "-daily"}, "-daily needs -from"},
		{[]string{"history", "-device", "mac", "-format", "yaml"}, `-format "yaml"`},
		{[]string{"history", "-device", "nope"}, `device "nope"`},
	} {
		code, _, errOut := cmdRun(t, dsn, tc.args...)
		if code != 1 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 1 and %q", tc.args, code, errOut, tc.want)
		}
	}
}
