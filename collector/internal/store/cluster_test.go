package store_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fleetproof/fleetproof/collector/internal/store"
)

var updateCluster = flag.Bool("update-cluster", false, "rewrite testdata/cluster_ddl.sql")

// The cluster DDL cannot run here (it needs ZooKeeper and a cluster
// definition), so its text is pinned: review the diff when it changes.
func TestClusterDDLIsPinned(t *testing.T) {
	ms, err := store.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for _, m := range ms {
		for _, st := range m.Statements {
			b.WriteString(store.ClusterStatement(st, "fleet", "fleetproof"))
			b.WriteString(";\n\n")
		}
	}
	b.WriteString(store.ClusterStatement("ALTER TABLE results DROP PARTITION 202401", "fleet", "fleetproof") + ";\n")
	path := filepath.Join("testdata", "cluster_ddl.sql")
	if *updateCluster {
		os.WriteFile(path, b.Bytes(), 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update-cluster)", err)
	}
	if !bytes.Equal(b.Bytes(), want) {
		t.Errorf("cluster DDL changed; run go test ./collector/internal/store -run ClusterDDL -update-cluster and review:\n%s", b.String())
	}
}

func TestClusterStatement(t *testing.T) {
	cases := []struct{ in, want string }{
		{"CREATE TABLE IF NOT EXISTS t (a UInt8) ENGINE = ReplacingMergeTree(v) ORDER BY a",
			"CREATE TABLE IF NOT EXISTS t ON CLUSTER c (a UInt8) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/db/t', '{replica}', v) ORDER BY a"},
		{"CREATE TABLE IF NOT EXISTS t (a UInt8) ENGINE = MergeTree ORDER BY a",
			"CREATE TABLE IF NOT EXISTS t ON CLUSTER c (a UInt8) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/db/t', '{replica}') ORDER BY a"},
		{"ALTER TABLE t DROP PARTITION 202401", "ALTER TABLE t ON CLUSTER c DROP PARTITION 202401"},
		{"SELECT 1", "SELECT 1"},
	}
	for _, c := range cases {
		if got := store.ClusterStatement(c.in, "c", "db"); got != c.want {
			t.Errorf("ClusterStatement(%q)\n got %q\nwant %q", c.in, got, c.want)
		}
		if got := store.ClusterStatement(c.in, "", "db"); got != c.in {
			t.Errorf("without a cluster the statement changed: %q", got)
		}
	}
	if !strings.Contains(store.ClusterStatement("CREATE TABLE IF NOT EXISTS x (a UInt8) ENGINE = ReplacingMergeTree ORDER BY a", "c", "d"), "ON CLUSTER c (") {
		t.Error("ON CLUSTER not placed before the column list")
	}
}
