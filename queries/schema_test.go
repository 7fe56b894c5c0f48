package queries

import (
	"bufio"
	"database/sql"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	_ "modernc.org/sqlite"
)

// Tables Fleetproof's built-in Linux engine answers (the agent without osqueryd).
var builtinLinuxTables = []string{
	"os_version", "system_info", "kernel_info", "uptime", "osquery_info", "mounts",
	"disk_encryption", "block_devices", "deb_packages", "processes", "users",
	"apt_sources", "logged_in_users", "rpm_packages", "iptables",
	"fleetproof_auto_updates", "fleetproof_screenlock",
}

// Linux checks that knowingly need osqueryd because the engine lacks a table.
var needsOsqueryd = map[string]string{}

type schemaTable struct {
	name      string
	platforms []string
	columns   []string // "name TYPE", with optional "-- only: os..." suffix
}

var createTable = regexp.MustCompile(`^CREATE TABLE (\w+) \($`)

// loadSchema reads testdata/osquery_schema.sql; see its header for the annotations.
func loadSchema(t *testing.T) []schemaTable {
	t.Helper()
	f, err := os.Open("testdata/osquery_schema.sql")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var tables []schemaTable
	var pending []string
	var cur *schemaTable
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case cur != nil && line == ");":
			tables = append(tables, *cur)
			cur = nil
		case cur != nil:
			cur.columns = append(cur.columns, line)
		case strings.HasPrefix(line, "-- platforms:"):
			pending = strings.Fields(strings.TrimPrefix(line, "-- platforms:"))
		case createTable.MatchString(line):
			if pending == nil {
				t.Fatalf("table on %q has no platforms annotation", line)
			}
			cur = &schemaTable{name: createTable.FindStringSubmatch(line)[1], platforms: pending}
			pending = nil
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return tables
}

// openPlatformDB creates, in memory, the tables and columns that goos has,
// restricted to onlyTables when it is non-nil.
func openPlatformDB(t *testing.T, goos string, onlyTables []string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1) // each connection to :memory: would be a separate database
	t.Cleanup(func() { db.Close() })
	for _, tbl := range loadSchema(t) {
		if !slices.Contains(tbl.platforms, goos) || (onlyTables != nil && !slices.Contains(onlyTables, tbl.name)) {
			continue
		}
		var cols []string
		for _, c := range tbl.columns {
			def, only, hasOnly := strings.Cut(c, "-- only:")
			if hasOnly && !slices.Contains(strings.Fields(only), goos) {
				continue
			}
			cols = append(cols, strings.TrimSuffix(strings.TrimSpace(def), ","))
		}
		ddl := fmt.Sprintf("CREATE TABLE %s (%s)", tbl.name, strings.Join(cols, ", "))
		if _, err := db.Exec(ddl); err != nil {
			t.Fatalf("%s: %v", ddl, err)
		}
	}
	return db
}

// queryRows runs sql and renders values the way osquery returns them: strings,
// with NULL as "".
func queryRows(db *sql.DB, query string) ([]string, []map[string]string, error) {
	rows, err := db.Query(query)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, nil, err
	}
	var out []map[string]string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, nil, err
		}
		row := map[string]string{}
		for i, c := range cols {
			switch v := vals[i].(type) {
			case nil:
				row[c] = ""
			case []byte:
				row[c] = string(v)
			case int64:
				row[c] = strconv.FormatInt(v, 10)
			default:
				row[c] = fmt.Sprint(v)
			}
		}
		out = append(out, row)
	}
	return cols, out, rows.Err()
}

func TestEveryQueryRunsAgainstOsquerySchema(t *testing.T) {
	cat, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, goos := range knownPlatforms {
		db := openPlatformDB(t, goos, nil)
		for _, c := range cat.ForPlatform(goos) {
			t.Run(goos+"/"+c.ID, func(t *testing.T) {
				q := c.Platforms[goos].SQL
				stmt, err := db.Prepare(q)
				if err != nil {
					t.Fatalf("prepare: %v", err)
				}
				stmt.Close()
				cols, rows, err := queryRows(db, q)
				if err != nil {
					t.Fatalf("run: %v", err)
				}
				if !slices.Contains(cols, CompliantColumn) || len(cols) < 2 {
					t.Errorf("columns %v: want %q plus explanatory columns", cols, CompliantColumn)
				}
				// Summary-style queries return rows even on an empty host; none may pass.
				if ev := c.Evaluate(rows); ev.Outcome == Pass {
					t.Errorf("a host with empty tables passes: %+v", rows)
				}
			})
		}
	}
}

func TestLinuxQueriesRunOnBuiltinEngineTables(t *testing.T) {
	cat, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	db := openPlatformDB(t, "linux", builtinLinuxTables)
	for _, c := range cat.ForPlatform("linux") {
		t.Run(c.ID, func(t *testing.T) {
			_, _, err := queryRows(db, c.Platforms["linux"].SQL)
			if table, ok := needsOsqueryd[c.ID]; ok {
				if err == nil || !strings.Contains(err.Error(), "no such table: "+table) {
					t.Errorf("expected to need osqueryd for %s, got err %v", table, err)
				}
				return
			}
			if err != nil {
				t.Errorf("built-in engine cannot answer it: %v", err)
			}
		})
	}
}
