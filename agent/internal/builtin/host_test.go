//go:build linux

package builtin

import (
	"context"
	"testing"
)

// The live host is whatever runs the tests, so only shape is asserted.
func TestLiveHostCoreTablesReturnRows(t *testing.T) {
	e := New(Options{})
	for _, sql := range []string{"SELECT * FROM os_version", "SELECT * FROM system_info", "SELECT * FROM mounts"} {
		rows, err := e.Query(context.Background(), sql)
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		if len(rows) == 0 {
			t.Errorf("%s: no rows", sql)
		}
	}
	r := mustQuery(t, e, "SELECT arch, major FROM os_version")[0]
	if r["arch"] == "" {
		t.Error("os_version.arch is empty on the live host")
	}
	// statfs runs only against the live root.
	if rows := mustQuery(t, e, "SELECT blocks_size FROM mounts WHERE path = '/'"); len(rows) == 0 || rows[0]["blocks_size"] == "0" {
		t.Errorf("live / mount has no statfs data: %v", rows)
	}
}

func TestLiveHostEveryTableAnswers(t *testing.T) {
	e := New(Options{})
	for _, name := range e.Tables() {
		if _, err := e.Query(context.Background(), "SELECT * FROM "+name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	join := `SELECT m.path, m.device_alias, COALESCE(d.encrypted,0) AS encrypted
		FROM mounts m LEFT JOIN disk_encryption d ON d.name = m.device_alias WHERE m.path = '/'`
	rows := mustQuery(t, e, join)
	t.Logf("root encryption on this host: %v", rows)
}
