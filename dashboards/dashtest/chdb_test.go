package dashtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fleetproof/fleetproof/internal/chdb"
)

const markerColumn = "dashtest_marker"

// TestStatementsRunOnCurrentClickHouse runs, in one chdb-sql session, the
// collector's migrations, the seed fleet, then every dashboard statement
// in every scenario, each after a marker row naming it, and compares the
// key panels' rows with Expected. chdb-sql stops at the first failing
// statement and names it.
func TestStatementsRunOnCurrentClickHouse(t *testing.T) {
	t.Parallel()
	tool := chdb.Tool(t, "the dashboards' SQL")
	migrations, err := filepath.Glob(filepath.Join(chdb.ModuleRoot(t), "collector", "internal", "store", "migrations", "*.sql"))
	if err != nil || len(migrations) == 0 {
		t.Fatalf("migrations: %v %v", migrations, err)
	}
	slices.Sort(migrations)
	qs, err := Queries()
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	var b strings.Builder
	var names []string
	for _, s := range Scenarios() {
		for _, q := range qs {
			sql, err := q.Expand(s)
			if err != nil {
				t.Fatal(err)
			}
			name := s.Name + "/" + q.Name()
			names = append(names, name)
			fmt.Fprintf(&b, "SELECT %s AS %s;\n%s;\n\n", Quote(name), markerColumn, sql)
		}
	}
	seed := filepath.Join(dir, "seed.sql")
	statements := filepath.Join(dir, "dashboards.sql")
	if err := os.WriteFile(seed, []byte(Seed().SQL()), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(statements, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}

	// The first run downloads ~170 MB; allow for a slow network.
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, tool, append(migrations, seed, statements)...)
	// The seed writes DateTime literals in UTC, as the collector's server
	// is configured. The working directory is empty because chDB reads a
	// config.xml from it if there is one.
	cmd.Env = append(os.Environ(), "TZ=UTC")
	cmd.Dir = dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == 1 {
			t.Fatalf("a statement fails on ClickHouse 26.x (statements in %s):\n%s", statements, stderr.String())
		}
		t.Fatalf("%s: %v\n%s", tool, err, stderr.String())
	}

	got := splitOutput(string(out))
	for _, name := range names {
		if _, ok := got[name]; !ok {
			t.Errorf("%s: no output section; did chdb-sql skip it?", name)
		}
	}
	byPanel := map[string]string{}
	for _, q := range qs {
		if q.Panel != "" {
			byPanel[q.Panel] = q.Name()
		}
	}
	for _, e := range Expected() {
		res, ok := got[e.Scenario+"/"+byPanel[e.Panel]]
		if !ok {
			continue // reported above
		}
		wantHeader := strings.Join(e.Columns, "\t")
		if len(res) == 0 || res[0] != wantHeader {
			t.Errorf("%s / %s on 26.x: columns %q, want %q", e.Scenario, e.Panel, res[:min(len(res), 1)], wantHeader)
			continue
		}
		if rows := res[1:]; !slices.Equal(rows, e.Rows) {
			t.Errorf("%s / %s on 26.x:\n got %s\nwant %s", e.Scenario, e.Panel, strings.Join(rows, "\n    "), strings.Join(e.Rows, "\n    "))
		}
	}
}

// splitOutput cuts chdb-sql's output (TabSeparatedWithNames per statement)
// at the marker rows: name → the statement's header line and rows.
func splitOutput(out string) map[string][]string {
	sections := map[string][]string{}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	var cur string
	for i := 0; i < len(lines); i++ {
		if lines[i] == markerColumn && i+1 < len(lines) {
			cur = unescapeTSV(lines[i+1])
			sections[cur] = []string{}
			i++
			continue
		}
		if cur != "" {
			sections[cur] = append(sections[cur], lines[i])
		}
	}
	return sections
}

func unescapeTSV(s string) string {
	return strings.NewReplacer(`\\`, `\`, `\t`, "\t", `\n`, "\n", `\'`, "'").Replace(s)
}
