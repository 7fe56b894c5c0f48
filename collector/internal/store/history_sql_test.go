package store_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fleetproof/fleetproof/internal/chdb"
)

// The history, rollup, compliance and staleness statements must not only
// run on ClickHouse 26.x (TestSQLRunsOnCurrentClickHouse) but answer as
// 18.16 does; testdata/queries_history.sql explains the expected rows.
func TestHistorySQLAnswersOnCurrentClickHouse(t *testing.T) {
	t.Parallel()
	tool := chdb.Tool(t, "the history SQL")
	migrations, err := filepath.Glob("migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(migrations)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, tool, append(migrations, queryFiles(t)...)...)
	cmd.Env = append(os.Environ(), "TZ=UTC")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", tool, err, stderr.String())
	}
	for _, want := range []string{
		// Daily: three distinct passes and one fail, though the fail was
		// inserted twice.
		"dev-a\tdisk_encryption\t2025-03-14\t3\t1\t0\t0\t1741942800000000000\t1741950000000000000\tpass",
		// ComplianceDays: day 13 failed, ended passing at 11:00; first
		// failure at 10:00:00.25, ambiguous (passes on both sides of it
		// that day). dev-b's day 13 ended in error at 09:30.
		"dev-a\tdisk_encryption\t[3711990855371776]\t1741946400250000000\t0\t1",
		"dev-b\tfirewall\t[3764762013505024]\t0\t0\t0",
		// The remediation lookup reads that day's pass times.
		"dev-a\tdisk_encryption\t[1741942800000000000,1741950000000000000,1741946400000000000]",
		// The same found on the server, with the day: only dev-a's.
		"dev-a\tdisk_encryption\t2025-03-14\t[",
		// History from 09:30: the failure with its evidence.
		"disk_encryption\t2025-03-14 10:00:00\t250000000\tfail\t1 of 1 rows not compliant\t\t[{\"compliant\":\"0\",\"device\":\"/dev/sda2\"}]",
		// LastSeen and Gaps.
		"dev-a\t2025-03-14 09:00:05\t2025-03-14 11:00:00",
		"dev-a\t2025-03-14 07:00:00\t2025-03-14 08:00:00\t42\tspool full",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("no line %q in the 26.x output:\n%s", want, out)
		}
	}
}
