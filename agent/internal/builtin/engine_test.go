package builtin

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

var fixedNow = func() time.Time { return time.Unix(1727100000, 0) }

func newTestEngine(t *testing.T, root string) *Engine {
	t.Helper()
	return New(Options{Root: root, Now: fixedNow})
}

func mustQuery(t *testing.T, e *Engine, sql string) []map[string]string {
	t.Helper()
	rows, err := e.Query(context.Background(), sql)
	if err != nil {
		t.Fatalf("Query(%q): %v", sql, err)
	}
	return rows
}

// writeTree creates files under a temp root; a value starting with "->"
// makes a symlink to the rest of the value.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, content := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if target, ok := strings.CutPrefix(content, "->"); ok {
			if err := os.Symlink(target, full); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestQueryStringifiesValuesLikeOsquery(t *testing.T) {
	e := newTestEngine(t, t.TempDir())
	tests := []struct {
		sql  string
		want map[string]string
	}{
		{"SELECT 42 AS n, -7 AS neg", map[string]string{"n": "42", "neg": "-7"}},
		{"SELECT NULL AS missing", map[string]string{"missing": ""}},
		{"SELECT 1.5 AS half, 3.0 AS whole, 1e20 AS big, 1/3.0 AS third",
			map[string]string{"half": "1.5", "whole": "3.0", "big": "1.0e+20", "third": "0.333333333333333"}},
		{"SELECT 'text' AS s, x'414243' AS b", map[string]string{"s": "text", "b": "ABC"}},
		{"SELECT 9223372036854775807 AS maxint", map[string]string{"maxint": "9223372036854775807"}},
	}
	for _, tt := range tests {
		t.Run(tt.sql, func(t *testing.T) {
			rows := mustQuery(t, e, tt.sql)
			if len(rows) != 1 || !reflect.DeepEqual(rows[0], tt.want) {
				t.Errorf("got %v, want [%v]", rows, tt.want)
			}
		})
	}
}

func TestQueryReturnsEmptyNonNilSliceForNoRows(t *testing.T) {
	e := newTestEngine(t, t.TempDir())
	rows := mustQuery(t, e, "SELECT 1 WHERE 0")
	if rows == nil || len(rows) != 0 {
		t.Fatalf("got %#v, want empty non-nil slice", rows)
	}
}

func TestQueryErrorsCarrySQLiteMessage(t *testing.T) {
	e := newTestEngine(t, t.TempDir())
	tests := []struct {
		name, sql, want string
	}{
		{"unknown table", "SELECT * FROM alf", "builtin: query: no such table: alf"},
		{"syntax error", "SELEC 1", `builtin: query: near "SELEC": syntax error`},
		{"unknown column", "SELECT nope FROM uptime", "builtin: query: no such column: nope"},
		{"attach is denied", "ATTACH DATABASE '/tmp/x.db' AS x", "builtin: query: not authorized"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, err := e.Query(context.Background(), tt.sql)
			if err == nil {
				t.Fatalf("got rows %v, want error", rows)
			}
			if err.Error() != tt.want {
				t.Errorf("error %q, want %q", err, tt.want)
			}
			var qe *QueryError
			if !errors.As(err, &qe) || qe.Code == 0 {
				t.Errorf("error %v is not a QueryError with a SQLite code", err)
			}
		})
	}
}

func TestVacuumIntoCannotWriteHostFiles(t *testing.T) {
	e := newTestEngine(t, t.TempDir())
	out := filepath.Join(t.TempDir(), "copy.db")
	if _, err := e.Query(context.Background(), "VACUUM INTO '"+out+"'"); err == nil {
		t.Fatal("VACUUM INTO succeeded")
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s was written (stat err %v)", out, err)
	}
}

func TestQueryHonoursCancelledContext(t *testing.T) {
	e := newTestEngine(t, "testdata/roots/luks-lvm")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := e.Query(ctx, "SELECT * FROM processes")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestQueryStopsRunawaySQLAtDeadline(t *testing.T) {
	e := newTestEngine(t, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := e.Query(ctx, "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM r) SELECT count(*) FROM r")
	if err == nil {
		t.Fatal("endless query returned without error")
	}
}

func TestQueriesAreIsolatedFromEachOther(t *testing.T) {
	e := newTestEngine(t, "testdata/roots/luks-lvm")
	// A query's own writes must not leak into the next query.
	mustQuery(t, e, "DELETE FROM users")
	if n := mustQuery(t, e, "SELECT count(*) AS n FROM users")[0]["n"]; n != "7" {
		t.Fatalf("users after DELETE in earlier query = %s, want 7", n)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rows, err := e.Query(context.Background(), "SELECT name FROM os_version")
			if err == nil && (len(rows) != 1 || rows[0]["name"] != "Ubuntu") {
				err = errors.New("unexpected rows")
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func TestTablesAreCaseInsensitiveAndQuotable(t *testing.T) {
	e := newTestEngine(t, "testdata/roots/luks-lvm")
	for _, sql := range []string{
		"SELECT name FROM OS_VERSION",
		`SELECT name FROM "os_version"`,
		"SELECT name FROM `os_version`",
		"SELECT name FROM [os_version]",
		"SELECT name FROM main.os_version",
	} {
		if rows := mustQuery(t, e, sql); len(rows) != 1 || rows[0]["name"] != "Ubuntu" {
			t.Errorf("%s: got %v", sql, rows)
		}
	}
}

func TestReferencedTablesIgnoresLiteralsAndComments(t *testing.T) {
	known := map[string]*tableDef{}
	for _, td := range allTables() {
		known[td.name] = td
	}
	tests := []struct {
		sql  string
		want []string
	}{
		{"SELECT * FROM mounts m JOIN disk_encryption d ON d.name = m.device_alias", []string{"disk_encryption", "mounts"}},
		{"SELECT 'users' AS s, 'it''s processes' FROM uptime", []string{"uptime"}},
		{"SELECT 1 -- FROM processes\n/* deb_packages */", []string{}},
		{`SELECT "users"."uid" FROM "users"`, []string{"users"}},
		{"SELECT * FROM mountsx, xmounts", []string{}},
	}
	for _, tt := range tests {
		got := referencedTables(tt.sql, known)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("referencedTables(%q) = %v, want %v", tt.sql, got, tt.want)
		}
	}
}

func TestTablesListsEveryImplementedTable(t *testing.T) {
	got := New(Options{}).Tables()
	want := []string{"apt_sources", "block_devices", "deb_packages", "disk_encryption", "fleetproof_auto_updates",
		"fleetproof_screenlock", "iptables", "kernel_info", "logged_in_users", "mounts", "os_version", "osquery_info", "processes",
		"rpm_packages", "system_info", "uptime", "users"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Tables() = %v, want %v", got, want)
	}
	if !sort.StringsAreSorted(got) {
		t.Error("Tables() not sorted")
	}
	if n := New(Options{}).Name(); n != "builtin" {
		t.Errorf("Name() = %q", n)
	}
}

func TestEveryTableCreatesWithOsqueryColumnTypes(t *testing.T) {
	allowed := map[string]bool{"TEXT": true, "INTEGER": true, "BIGINT": true, "UNSIGNED BIGINT": true, "DOUBLE": true}
	e := newTestEngine(t, "testdata/roots/luks-lvm")
	for _, td := range allTables() {
		cols, err := e.Columns(context.Background(), "SELECT * FROM "+td.name)
		if err != nil {
			t.Fatalf("%s: %v", td.name, err)
		}
		if !reflect.DeepEqual(cols, td.columns) {
			t.Errorf("%s: Columns() = %v, want %v", td.name, cols, td.columns)
		}
		for _, c := range td.columns {
			if !allowed[c.Type] {
				t.Errorf("%s.%s has type %q", td.name, c.Name, c.Type)
			}
		}
	}
}

func TestColumnsTypesExpressionsFromTheirValues(t *testing.T) {
	e := newTestEngine(t, "testdata/roots/luks-lvm")
	got, err := e.Columns(context.Background(),
		"SELECT name, major, count(*) AS n, 1.5 AS x, 'a' || 'b' AS s, NULL AS z FROM os_version")
	if err != nil {
		t.Fatal(err)
	}
	want := []Column{{"name", "TEXT"}, {"major", "INTEGER"}, {"n", "BIGINT"}, {"x", "DOUBLE"}, {"s", "TEXT"}, {"z", "UNKNOWN"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Columns() = %v, want %v", got, want)
	}
	if _, err := e.Columns(context.Background(), "SELECT * FROM nope"); err == nil ||
		!strings.Contains(err.Error(), "no such table: nope") {
		t.Errorf("Columns on unknown table: err = %v", err)
	}
}

func TestOsqueryInfoIdentifiesTheBuiltinEngine(t *testing.T) {
	e := newTestEngine(t, "testdata/roots/luks-lvm")
	r := mustQuery(t, e, "SELECT * FROM osquery_info")[0]
	want := map[string]string{
		"version": "builtin-" + Version, "extensions": "inactive", "build_platform": runtime.GOOS,
		"watcher": "-1", "config_valid": "0", "config_hash": "", "platform_mask": "9",
		"start_time": "1727100000", "uuid": "4c4c4544-0042-3510-8054-b3c04f4e3732",
		"pid": itoa(os.Getpid()),
	}
	for k, v := range want {
		if r[k] != v {
			t.Errorf("%s = %q, want %q", k, r[k], v)
		}
	}
	if len(r["instance_id"]) != 36 || r["instance_id"] != mustQuery(t, e, "SELECT instance_id FROM osquery_info")[0]["instance_id"] {
		t.Errorf("instance_id %q should be a stable UUID per engine", r["instance_id"])
	}
}

func itoa(n int) string { return stringify(int64(n)) }
