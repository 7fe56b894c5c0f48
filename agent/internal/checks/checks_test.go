package checks_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/fleetproof/fleetproof/agent/internal/builtin"
	"github.com/fleetproof/fleetproof/agent/internal/checks"
	"github.com/fleetproof/fleetproof/evidence"
	"github.com/fleetproof/fleetproof/queries"
)

// checkSpec is the part of a check file a test varies.
type checkSpec struct {
	id        string
	version   int
	timeout   string // "" for the default
	whenEmpty string // check-level when_empty, "" for the default
	platforms map[string]string
	// platformWhenEmpty is a per-platform when_empty override.
	platformWhenEmpty map[string]string
}

func (s checkSpec) yaml() string {
	var b strings.Builder
	version := s.version
	if version == 0 {
		version = 1
	}
	fmt.Fprintf(&b, "id: %s\ntitle: %s\nversion: %d\n", s.id, s.id, version)
	b.WriteString("description: test check\ncriteria: [CC6.1]\nseverity: low\ninterval: 5m\n")
	if s.timeout != "" {
		fmt.Fprintf(&b, "timeout: %s\n", s.timeout)
	}
	if s.whenEmpty != "" {
		fmt.Fprintf(&b, "when_empty: %s\n", s.whenEmpty)
	}
	b.WriteString("pass_when: it passes\nremediation: fix it\nplatforms:\n")
	for goos, sql := range s.platforms {
		fmt.Fprintf(&b, "  %s:\n    sql: |\n", goos)
		for _, line := range strings.Split(sql, "\n") {
			fmt.Fprintf(&b, "      %s\n", line)
		}
		if we := s.platformWhenEmpty[goos]; we != "" {
			fmt.Fprintf(&b, "    when_empty: %s\n", we)
		}
	}
	return b.String()
}

// catalog parses a pack of the given checks through the real catalog parser.
func catalog(t *testing.T, specs ...checkSpec) *queries.Catalog {
	t.Helper()
	fsys := fstest.MapFS{
		"pack.yaml": {Data: []byte("name: test-pack\nversion: 2.3.4\n")},
	}
	for _, s := range specs {
		fsys["checks/"+s.id+".yaml"] = &fstest.MapFile{Data: []byte(s.yaml())}
	}
	cat, err := queries.Parse(fsys)
	if err != nil {
		t.Fatalf("parse catalog: %v", err)
	}
	return cat
}

// fakeRoot is a host tree for the built-in engine with the given passwd.
func fakeRoot(t *testing.T, passwd string) string {
	t.Helper()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc", "passwd"), []byte(passwd), 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

const (
	cleanPasswd = "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000:Alice:/home/alice:/bin/bash\n"
	// toor is a second superuser: the kind of detail a failing result must show.
	backdooredPasswd = cleanPasswd + "toor:x:0:0::/root:/bin/sh\n"

	onlyRootIsSuperuser = `SELECT username, uid,
  CASE WHEN uid = 0 AND username <> 'root' THEN 0 ELSE 1 END AS compliant
FROM users`
)

func runner(root string, cat *queries.Catalog) *checks.Runner {
	return &checks.Runner{
		Engine:   builtin.New(builtin.Options{Root: root}),
		Pack:     cat.Pack,
		Platform: "linux",
	}
}

func mustCheck(t *testing.T, cat *queries.Catalog, id string) queries.Check {
	t.Helper()
	c, ok := cat.Check(id)
	if !ok {
		t.Fatalf("catalog has no check %q", id)
	}
	return c
}

func TestRunOutcomes(t *testing.T) {
	tests := []struct {
		name       string
		passwd     string
		spec       checkSpec
		wantStatus evidence.Status
		wantRows   int
		// wantReason and wantError are substrings; "" means the field must be empty.
		wantReason string
		wantError  string
	}{
		{
			name:       "compliant rows pass",
			passwd:     cleanPasswd,
			spec:       checkSpec{id: "superusers", platforms: map[string]string{"linux": onlyRootIsSuperuser}},
			wantStatus: evidence.StatusPass,
			wantRows:   2,
			wantReason: "2 of 2 rows compliant",
		},
		{
			name:       "a non-compliant row fails",
			passwd:     backdooredPasswd,
			spec:       checkSpec{id: "superusers", platforms: map[string]string{"linux": onlyRootIsSuperuser}},
			wantStatus: evidence.StatusFail,
			wantRows:   3,
			wantReason: "1 of 3 rows not compliant",
		},
		{
			name:       "no rows fail by default",
			passwd:     "",
			spec:       checkSpec{id: "superusers", platforms: map[string]string{"linux": onlyRootIsSuperuser}},
			wantStatus: evidence.StatusFail,
			wantReason: "query returned no rows",
		},
		{
			name:   "no rows with when_empty not_applicable is not applicable",
			passwd: cleanPasswd,
			spec: checkSpec{id: "desktop_users", whenEmpty: "not_applicable", platforms: map[string]string{
				"linux": "SELECT username, 1 AS compliant FROM users WHERE shell = '/usr/bin/gnome-session'",
			}},
			wantStatus: evidence.StatusNotApplicable,
			wantReason: "query returned no rows",
		},
		{
			name:   "per-platform when_empty override applies to an unspecialised check",
			passwd: cleanPasswd,
			spec: checkSpec{id: "desktop_users",
				platforms: map[string]string{
					"linux":  "SELECT username, 1 AS compliant FROM users WHERE shell = '/usr/bin/gnome-session'",
					"darwin": "SELECT 1 AS compliant",
				},
				platformWhenEmpty: map[string]string{"linux": "not_applicable"},
			},
			wantStatus: evidence.StatusNotApplicable,
			wantReason: "query returned no rows",
		},
		{
			name:   "unknown table is an error carrying SQLite's message",
			passwd: cleanPasswd,
			spec: checkSpec{id: "firewall", platforms: map[string]string{
				"linux": "SELECT 1 AS compliant FROM alf",
			}},
			wantStatus: evidence.StatusError,
			wantError:  "no such table: alf",
		},
		{
			name:   "a query running past the check timeout is an error naming the timeout",
			passwd: cleanPasswd,
			spec: checkSpec{id: "endless", timeout: "200ms", platforms: map[string]string{
				"linux": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) AS n, 1 AS compliant FROM c",
			}},
			wantStatus: evidence.StatusError,
			wantError:  "timed out after 200ms",
		},
		{
			name:   "a check without SQL for the platform is not applicable",
			passwd: cleanPasswd,
			spec: checkSpec{id: "macos_sip", platforms: map[string]string{
				"darwin": "SELECT 1 AS compliant",
			}},
			wantStatus: evidence.StatusNotApplicable,
			wantReason: "no query for linux",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cat := catalog(t, tt.spec)
			r := runner(fakeRoot(t, tt.passwd), cat)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()

			start := time.Now()
			res := r.Run(ctx, mustCheck(t, cat, tt.spec.id))
			if elapsed := time.Since(start); elapsed > 10*time.Second {
				t.Errorf("Run took %s: the engine did not honour the check timeout", elapsed)
			}

			if res.Status != tt.wantStatus {
				t.Fatalf("status = %q, want %q (reason %q, error %q)", res.Status, tt.wantStatus, res.Reason, res.Error)
			}
			if len(res.Rows) != tt.wantRows {
				t.Errorf("rows = %d, want %d: %v", len(res.Rows), tt.wantRows, res.Rows)
			}
			checkSubstring(t, "reason", res.Reason, tt.wantReason)
			checkSubstring(t, "error", res.Error, tt.wantError)
			if res.CheckID != tt.spec.id {
				t.Errorf("check_id = %q, want %q", res.CheckID, tt.spec.id)
			}
		})
	}
}

func checkSubstring(t *testing.T, field, got, want string) {
	t.Helper()
	if want == "" {
		if got != "" {
			t.Errorf("%s = %q, want empty", field, got)
		}
		return
	}
	if !strings.Contains(got, want) {
		t.Errorf("%s = %q, want it to contain %q", field, got, want)
	}
}

func TestRunFailingRowsShowTheOffendingDetail(t *testing.T) {
	cat := catalog(t, checkSpec{id: "superusers", platforms: map[string]string{"linux": onlyRootIsSuperuser}})
	res := runner(fakeRoot(t, backdooredPasswd), cat).Run(context.Background(), mustCheck(t, cat, "superusers"))
	if res.Status != evidence.StatusFail {
		t.Fatalf("status = %q, want fail", res.Status)
	}
	var offenders []string
	for _, row := range res.Rows {
		if row[queries.CompliantColumn] != "1" {
			offenders = append(offenders, row["username"]+":"+row["uid"])
		}
	}
	if len(offenders) != 1 || offenders[0] != "toor:0" {
		t.Errorf("non-compliant rows = %v, want [toor:0]", offenders)
	}
}

func TestRunKeepsFailingRowsFirstWhenOverMaxRows(t *testing.T) {
	// numbers yields n rows; every row whose x is a multiple of failEvery
	// (0 = none, 1 = all) is not compliant.
	numbers := func(n, failEvery int) string {
		cond := "0"
		if failEvery > 0 {
			cond = fmt.Sprintf("x %% %d = 0", failEvery)
		}
		return fmt.Sprintf("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < %d)\n"+
			"SELECT x, CASE WHEN %s THEN 0 ELSE 1 END AS compliant FROM c", n, cond)
	}
	total := checks.MaxRows + 50
	tests := []struct {
		name        string
		sql         string
		wantStatus  evidence.Status
		wantFailing int // how many kept rows are not compliant, all at the front
		wantReason  string
	}{
		{
			name:        "some failing rows are all kept ahead of compliant ones",
			sql:         numbers(total, 50), // 5 failing rows, the last of them at the very end
			wantStatus:  evidence.StatusFail,
			wantFailing: total / 50,
			wantReason:  fmt.Sprintf("%d of %d rows not compliant (%d of %d rows kept)", total/50, total, checks.MaxRows, total),
		},
		{
			name:        "more failing rows than MaxRows keeps only failing rows",
			sql:         numbers(total, 1),
			wantStatus:  evidence.StatusFail,
			wantFailing: checks.MaxRows,
			wantReason:  fmt.Sprintf("%d of %d rows not compliant (%d of %d rows kept)", total, total, checks.MaxRows, total),
		},
		{
			name:        "a passing check keeps MaxRows compliant rows",
			sql:         numbers(total, 0),
			wantStatus:  evidence.StatusPass,
			wantFailing: 0,
			wantReason:  fmt.Sprintf("%d of %d rows compliant (%d of %d rows kept)", total, total, checks.MaxRows, total),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cat := catalog(t, checkSpec{id: "many_rows", platforms: map[string]string{"linux": tt.sql}})
			res := runner(t.TempDir(), cat).Run(context.Background(), mustCheck(t, cat, "many_rows"))
			if res.Status != tt.wantStatus {
				t.Fatalf("status = %q, want %q (error %q)", res.Status, tt.wantStatus, res.Error)
			}
			if len(res.Rows) != checks.MaxRows {
				t.Fatalf("kept %d rows, want MaxRows = %d", len(res.Rows), checks.MaxRows)
			}
			if res.Reason != tt.wantReason {
				t.Errorf("reason = %q, want %q", res.Reason, tt.wantReason)
			}
			seen := map[string]bool{}
			for i, row := range res.Rows {
				failing := row[queries.CompliantColumn] != "1"
				if failing != (i < tt.wantFailing) {
					t.Fatalf("row %d (%v): failing = %v, want the first %d rows failing and the rest compliant", i, row, failing, tt.wantFailing)
				}
				if seen[row["x"]] {
					t.Fatalf("row x=%s kept twice", row["x"])
				}
				seen[row["x"]] = true
			}
		})
	}
}

// steppingClock returns t0, t0+step, t0+2*step, … on successive calls.
func steppingClock(t0 time.Time, step time.Duration) func() time.Time {
	n := 0
	return func() time.Time {
		t := t0.Add(time.Duration(n) * step)
		n++
		return t
	}
}

func TestRunFillsResultFields(t *testing.T) {
	cat := catalog(t, checkSpec{id: "superusers", version: 7, platforms: map[string]string{"linux": onlyRootIsSuperuser}})
	loc := time.FixedZone("UTC+2", 2*60*60)
	t0 := time.Date(2025, 3, 4, 5, 6, 7, 8000, loc)

	tests := []struct {
		name         string
		now          func() time.Time
		wantObserved time.Time
		wantDuration int64 // -1: any value >= 0
	}{
		{"injected clock dates and times the run", steppingClock(t0, 1500*time.Millisecond), t0.UTC(), 1500},
		{"wall clock by default", nil, time.Time{}, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runner(fakeRoot(t, cleanPasswd), cat)
			r.Now = tt.now
			before := time.Now()
			res := r.Run(context.Background(), mustCheck(t, cat, "superusers"))
			after := time.Now()

			if res.Status != evidence.StatusPass {
				t.Fatalf("status = %q (error %q)", res.Status, res.Error)
			}
			if res.CheckID != "superusers" || res.CheckVersion != 7 {
				t.Errorf("check = %s v%d, want superusers v7", res.CheckID, res.CheckVersion)
			}
			if res.Pack != "test-pack" || res.PackVersion != "2.3.4" {
				t.Errorf("pack = %s %s, want test-pack 2.3.4", res.Pack, res.PackVersion)
			}
			if res.Engine != "builtin" {
				t.Errorf("engine = %q, want builtin", res.Engine)
			}
			if res.ObservedAt.Location() != time.UTC {
				t.Errorf("observed_at %v is not in UTC", res.ObservedAt)
			}
			if tt.wantObserved.IsZero() {
				if res.ObservedAt.Before(before.Add(-time.Second)) || res.ObservedAt.After(after) {
					t.Errorf("observed_at %v outside the run [%v, %v]", res.ObservedAt, before, after)
				}
			} else if !res.ObservedAt.Equal(tt.wantObserved) {
				t.Errorf("observed_at = %v, want %v", res.ObservedAt, tt.wantObserved)
			}
			if res.DurationMS < 0 || (tt.wantDuration >= 0 && res.DurationMS != tt.wantDuration) {
				t.Errorf("duration_ms = %d, want %d (or >= 0 when -1)", res.DurationMS, tt.wantDuration)
			}
			// The result must be acceptable to the collector as is.
			env := evidence.Envelope{Schema: evidence.SchemaVersion, DeviceID: "d-test", Results: []evidence.Result{res}}
			if err := env.Validate(time.Now()); err != nil {
				t.Errorf("result would be rejected: %v", err)
			}
		})
	}
}

func TestRunAllRunsApplicableChecksInCatalogOrder(t *testing.T) {
	cat := catalog(t,
		checkSpec{id: "zz_last", platforms: map[string]string{"linux": "SELECT 1 AS compliant"}},
		checkSpec{id: "aa_first", platforms: map[string]string{"linux": "SELECT 0 AS compliant"}},
		checkSpec{id: "mac_only", platforms: map[string]string{"darwin": "SELECT 1 AS compliant"}},
	)
	r := runner(t.TempDir(), cat)

	tests := []struct {
		name string
		ctx  func() context.Context
		want []string
	}{
		{"live context runs every applicable check", context.Background, []string{"aa_first:fail", "zz_last:pass"}},
		{"cancelled context runs nothing", func() context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, res := range r.RunAll(tt.ctx(), cat) {
				got = append(got, res.CheckID+":"+string(res.Status))
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("RunAll = %v, want %v", got, tt.want)
			}
		})
	}
}
