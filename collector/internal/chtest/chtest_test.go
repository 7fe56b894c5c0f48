package chtest_test

import (
	"strings"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/fleetproof/fleetproof/collector/internal/chtest"
)

func TestMain(m *testing.M) { chtest.Main(m) }

func tables(t *testing.T, conn driver.Conn) []string {
	t.Helper()
	rows, err := conn.Query(t.Context(), "SELECT name FROM system.tables WHERE database = currentDatabase() ORDER BY name")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	return names
}

func TestDatabasesIsolated(t *testing.T) {
	t.Parallel()
	dsn1, dsn2 := chtest.Database(t), chtest.Database(t)
	if dsn1 == dsn2 {
		t.Fatalf("both databases are %s", dsn1)
	}
	c1, c2 := chtest.Open(t, dsn1), chtest.Open(t, dsn2)

	for i, c := range []driver.Conn{c1, c2} {
		// Unqualified names: the DSN's database must be the session default.
		if err := c.Exec(t.Context(), "CREATE TABLE events (id UInt32) ENGINE = MergeTree ORDER BY id"); err != nil {
			t.Fatal(err)
		}
		b, err := c.PrepareBatch(t.Context(), "INSERT INTO events (id)")
		if err != nil {
			t.Fatal(err)
		}
		for j := 0; j <= i; j++ {
			if err := b.Append(uint32(j)); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Send(); err != nil {
			t.Fatal(err)
		}
	}
	if err := c1.Exec(t.Context(), "CREATE TABLE only_in_1 (id UInt32) ENGINE = Memory"); err != nil {
		t.Fatal(err)
	}

	for i, c := range []driver.Conn{c1, c2} {
		var n uint64
		if err := c.QueryRow(t.Context(), "SELECT count() FROM events").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != uint64(i+1) {
			t.Errorf("database %d: %d rows, want %d", i+1, n, i+1)
		}
	}
	if got := strings.Join(tables(t, c1), ","); got != "events,only_in_1" {
		t.Errorf("database 1 tables = %s", got)
	}
	if got := strings.Join(tables(t, c2), ","); got != "events" {
		t.Errorf("database 2 tables = %s", got)
	}
}

func TestDatabaseDroppedAtCleanup(t *testing.T) {
	t.Parallel()
	var name string
	t.Run("owner", func(t *testing.T) {
		conn := chtest.Open(t, chtest.Database(t))
		if err := conn.QueryRow(t.Context(), "SELECT currentDatabase()").Scan(&name); err != nil {
			t.Fatal(err)
		}
	})
	admin := chtest.Open(t, chtest.Server(t).DSN())
	var n uint64
	if err := admin.QueryRow(t.Context(), "SELECT count() FROM system.databases WHERE name = ?", name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if name == "" || n != 0 {
		t.Fatalf("database %q still exists after its test ended", name)
	}
}

func TestServerShared(t *testing.T) {
	t.Parallel()
	if a, b := chtest.Server(t), chtest.Server(t); a != b {
		t.Fatal("Server started a second server")
	}
}
