package queries

import (
	"io/fs"
	"path"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

func TestLoadEmbeddedCatalogIsValid(t *testing.T) {
	cat, err := Load()
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if cat.Pack.Name != "fleetproof-core" || !semverPattern.MatchString(cat.Pack.Version) {
		t.Errorf("pack = %+v", cat.Pack)
	}
	if !slices.IsSortedFunc(cat.Checks, func(a, b Check) int { return strings.Compare(a.ID, b.ID) }) {
		t.Error("checks are not sorted by id")
	}
	seen := map[string]bool{}
	for _, c := range cat.Checks {
		t.Run(c.ID, func(t *testing.T) {
			if seen[c.ID] {
				t.Errorf("duplicate id")
			}
			seen[c.ID] = true
			for field, v := range map[string]string{"title": c.Title, "description": c.Description,
				"pass_when": c.PassWhen, "remediation": c.Remediation} {
				if strings.TrimSpace(v) == "" {
					t.Errorf("%s is empty", field)
				}
			}
			if c.Version < 1 || !slices.Contains(severities, c.Severity) || !c.WhenEmpty.valid() {
				t.Errorf("version %d, severity %q, when_empty %q", c.Version, c.Severity, c.WhenEmpty)
			}
			if c.Interval < MinInterval || c.Interval > MaxInterval || c.Timeout <= 0 || c.Timeout >= c.Interval {
				t.Errorf("interval %s, timeout %s", c.Interval, c.Timeout)
			}
			if len(c.Criteria) == 0 {
				t.Error("no criteria")
			}
			for _, cr := range c.Criteria {
				if !criteriaPattern.MatchString(cr) {
					t.Errorf("criterion %q", cr)
				}
			}
			if len(c.Platforms) == 0 {
				t.Error("no platforms")
			}
			for goos, q := range c.Platforms {
				if !slices.Contains(knownPlatforms, goos) || q.SQL == "" || (q.WhenEmpty != "" && !q.WhenEmpty.valid()) {
					t.Errorf("platform %q: %+v", goos, q)
				}
			}
		})
	}
}

func TestEmbeddedFilesAreNamedAfterTheirCheck(t *testing.T) {
	cat, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	entries, err := fs.ReadDir(embedded, "checks")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), path.Ext(e.Name())))
	}
	var ids []string
	for _, c := range cat.Checks {
		ids = append(ids, c.ID)
	}
	if !slices.Equal(names, ids) {
		t.Errorf("file names %v != ids %v", names, ids)
	}
}

func TestCoreChecksCoverEveryPlatformWithTheirCriteria(t *testing.T) {
	cat, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"disk_encryption": {"CC6.1", "CC6.7"},
		"os_auto_updates": {"CC7.1", "CC8.1"},
		"screen_lock":     {"CC6.1"},
	}
	for _, goos := range knownPlatforms {
		got := map[string]bool{}
		for _, c := range cat.ForPlatform(goos) {
			got[c.ID] = true
			if _, ok := c.Platforms[goos]; !ok {
				t.Errorf("ForPlatform(%s) returned %s without SQL for it", goos, c.ID)
			}
		}
		for id := range want {
			if !got[id] {
				t.Errorf("%s has no %s check", goos, id)
			}
		}
	}
	for id, criteria := range want {
		c, ok := cat.Check(id)
		if !ok || !slices.Equal(c.Criteria, criteria) {
			t.Errorf("Check(%q) = %v, %v; want criteria %v", id, c.Criteria, ok, criteria)
		}
	}
	if _, ok := cat.Check("no_such_check"); ok {
		t.Error("Check found an unknown id")
	}
}

func TestForPlatformAppliesPlatformWhenEmpty(t *testing.T) {
	cat, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	whenEmpty := func(goos string) Outcome {
		for _, c := range cat.ForPlatform(goos) {
			if c.ID == "screen_lock" {
				return c.Evaluate(nil).Outcome
			}
		}
		return ""
	}
	if got := whenEmpty("linux"); got != NotApplicable {
		t.Errorf("linux screen_lock with no rows = %q, want not_applicable (headless server)", got)
	}
	if got := whenEmpty("darwin"); got != Fail {
		t.Errorf("darwin screen_lock with no rows = %q, want fail", got)
	}
	if c, _ := cat.Check("screen_lock"); c.WhenEmpty != Fail {
		t.Errorf("unspecialised screen_lock WhenEmpty = %q, want fail", c.WhenEmpty)
	}
}

func TestLoadReturnsIndependentCopies(t *testing.T) {
	a, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	a.Checks[0].Criteria[0] = "CHANGED"
	a.Checks[0].Platforms["plan9"] = Query{}
	b, _ := Load()
	if b.Checks[0].Criteria[0] == "CHANGED" || len(b.Checks[0].Platforms) == len(a.Checks[0].Platforms) {
		t.Error("a caller's change leaked into the shared catalog")
	}
}

const validCheck = `id: sample_check
title: Sample
version: 1
description: Why it matters.
criteria: [CC6.1, A1.2]
severity: low
interval: 1h
pass_when: It passes.
remediation: Fix it.
platforms:
  linux:
    sql: SELECT 1 AS compliant;
`

const validPack = "name: test-pack\nversion: 0.1.0\n"

func mapFS(checks map[string]string) fstest.MapFS {
	m := fstest.MapFS{"pack.yaml": {Data: []byte(validPack)}}
	for name, body := range checks {
		m[name] = &fstest.MapFile{Data: []byte(body)}
	}
	return m
}

func TestParseAppliesDefaultsAndSortsChecks(t *testing.T) {
	other := strings.Replace(validCheck, "id: sample_check", "id: another_check", 1)
	cat, err := Parse(mapFS(map[string]string{"checks/b.yaml": validCheck, "checks/a.yaml": other}))
	if err != nil {
		t.Fatal(err)
	}
	if cat.Pack != (Pack{Name: "test-pack", Version: "0.1.0"}) {
		t.Errorf("pack = %+v", cat.Pack)
	}
	if len(cat.Checks) != 2 || cat.Checks[0].ID != "another_check" {
		t.Fatalf("checks = %+v", cat.Checks)
	}
	c := cat.Checks[1]
	if c.Timeout != DefaultTimeout || c.WhenEmpty != Fail || c.Interval != time.Hour {
		t.Errorf("timeout %s, when_empty %q, interval %s", c.Timeout, c.WhenEmpty, c.Interval)
	}
	if q := c.Platforms["linux"]; q.SQL != "SELECT 1 AS compliant;" || q.WhenEmpty != "" {
		t.Errorf("linux query = %+v", q)
	}
}

func TestParseRejectsBadFilesNamingFileAndField(t *testing.T) {
	edit := func(old, new string) string {
		if !strings.Contains(validCheck, old) {
			panic("fixture does not contain " + old)
		}
		return strings.Replace(validCheck, old, new, 1)
	}
	tests := []struct {
		name  string
		files map[string]string // added to a valid pack.yaml
		pack  string            // replaces pack.yaml when set
		want  []string          // substrings of the error
	}{
		{"missing id", map[string]string{"checks/x.yaml": edit("id: sample_check\n", "")}, "",
			[]string{"checks/x.yaml: id: required"}},
		{"id not snake case", map[string]string{"checks/x.yaml": edit("sample_check", "Sample-Check")}, "",
			[]string{"checks/x.yaml: id:", "snake case"}},
		{"duplicate id", map[string]string{"checks/a.yaml": validCheck, "checks/b.yaml": validCheck}, "",
			[]string{"checks/b.yaml: id:", "already defined in checks/a.yaml"}},
		{"unknown platform", map[string]string{"checks/x.yaml": edit("  linux:", "  freebsd:")}, "",
			[]string{"checks/x.yaml: platforms.freebsd: unknown platform"}},
		{"no platforms", map[string]string{"checks/x.yaml": edit("platforms:\n  linux:\n    sql: SELECT 1 AS compliant;\n", "")}, "",
			[]string{"checks/x.yaml: platforms: at least one"}},
		{"interval too short", map[string]string{"checks/x.yaml": edit("interval: 1h", "interval: 1m")}, "",
			[]string{"checks/x.yaml: interval: 1m0s outside"}},
		{"interval too long", map[string]string{"checks/x.yaml": edit("interval: 1h", "interval: 48h")}, "",
			[]string{"checks/x.yaml: interval: 48h0m0s outside"}},
		{"interval without unit", map[string]string{"checks/x.yaml": edit("interval: 1h", "interval: 3600")}, "",
			[]string{"checks/x.yaml: interval: \"3600\" is not a duration"}},
		{"unknown key", map[string]string{"checks/x.yaml": validCheck + "owner: bob\n"}, "",
			[]string{"checks/x.yaml:", "field owner not found"}},
		{"unknown key in platform", map[string]string{"checks/x.yaml": edit("    sql:", "    query: x\n    sql:")}, "",
			[]string{"checks/x.yaml:", "field query not found"}},
		{"bad criteria", map[string]string{"checks/x.yaml": edit("A1.2", "SOC2")}, "",
			[]string{"checks/x.yaml: criteria[1]: \"SOC2\" is not a SOC 2 criterion"}},
		{"no criteria", map[string]string{"checks/x.yaml": edit("criteria: [CC6.1, A1.2]", "criteria: []")}, "",
			[]string{"checks/x.yaml: criteria: at least one"}},
		{"timeout equals interval", map[string]string{"checks/x.yaml": edit("interval: 1h", "interval: 10m\ntimeout: 10m")}, "",
			[]string{"checks/x.yaml: timeout: 10m0s must be shorter than interval"}},
		{"negative timeout", map[string]string{"checks/x.yaml": edit("interval: 1h", "interval: 1h\ntimeout: -5s")}, "",
			[]string{"checks/x.yaml: timeout: must be positive"}},
		{"sql missing compliant", map[string]string{"checks/x.yaml": edit("SELECT 1 AS compliant;", "SELECT 1 AS ok;")}, "",
			[]string{"checks/x.yaml: platforms.linux.sql: must select a \"compliant\" column"}},
		{"empty sql", map[string]string{"checks/x.yaml": edit("SELECT 1 AS compliant;", "''")}, "",
			[]string{"checks/x.yaml: platforms.linux.sql: required"}},
		{"bad severity", map[string]string{"checks/x.yaml": edit("severity: low", "severity: urgent")}, "",
			[]string{"checks/x.yaml: severity: \"urgent\""}},
		{"bad when_empty", map[string]string{"checks/x.yaml": validCheck + "when_empty: skip\n"}, "",
			[]string{"checks/x.yaml: when_empty: \"skip\""}},
		{"bad platform when_empty", map[string]string{"checks/x.yaml": validCheck + "    when_empty: maybe\n"}, "",
			[]string{"checks/x.yaml: platforms.linux.when_empty: \"maybe\""}},
		{"version zero", map[string]string{"checks/x.yaml": edit("version: 1", "version: 0")}, "",
			[]string{"checks/x.yaml: version: must be >= 1"}},
		{"missing remediation", map[string]string{"checks/x.yaml": edit("remediation: Fix it.\n", "")}, "",
			[]string{"checks/x.yaml: remediation: required"}},
		{"two documents", map[string]string{"checks/x.yaml": validCheck + "---\nid: other\n"}, "",
			[]string{"checks/x.yaml: more than one YAML document"}},
		{"bad pack version", map[string]string{"checks/x.yaml": validCheck}, "name: p\nversion: v1\n",
			[]string{"pack.yaml: version: \"v1\" is not MAJOR.MINOR.PATCH"}},
		{"unknown pack key", map[string]string{"checks/x.yaml": validCheck}, "name: p\nversion: 1.0.0\nowner: x\n",
			[]string{"pack.yaml:", "field owner not found"}},
		{"no checks", nil, "", []string{"checks/: no *.yaml files"}},
		{"reports every problem", map[string]string{"checks/x.yaml": edit("severity: low", "severity: x"),
			"checks/y.yaml": strings.Replace(edit("interval: 1h", "interval: 1s"), "sample_check", "y_check", 1)}, "",
			[]string{"checks/x.yaml: severity:", "checks/y.yaml: interval:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := mapFS(tt.files)
			if tt.pack != "" {
				fsys["pack.yaml"] = &fstest.MapFile{Data: []byte(tt.pack)}
			}
			cat, err := Parse(fsys)
			if err == nil {
				t.Fatalf("Parse succeeded: %+v", cat)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestParseRequiresPackFile(t *testing.T) {
	fsys := fstest.MapFS{"checks/x.yaml": {Data: []byte(validCheck)}}
	if _, err := Parse(fsys); err == nil || !strings.Contains(err.Error(), "pack.yaml") {
		t.Errorf("err = %v, want it to name pack.yaml", err)
	}
}
