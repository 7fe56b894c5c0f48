package osquery_test

import (
	"context"
	"testing"
	"time"

	"github.com/fleetproof/fleetproof/agent/internal/osquery"
	"github.com/fleetproof/fleetproof/agent/internal/osquery/osquerytest"
)

// BenchmarkQueryRoundTrip is one query from the agent to the manager and
// back over the extensions socket: the per-check cost the osquery path
// adds beyond the SQL itself.
func BenchmarkQueryRoundTrip(b *testing.B) {
	s := osquerytest.New(b)
	if err := s.Exec(`CREATE TABLE os_version (name TEXT, major INTEGER)`); err != nil {
		b.Fatal(err)
	}
	if err := s.Exec(`INSERT INTO os_version VALUES ('Debian GNU/Linux', 12)`); err != nil {
		b.Fatal(err)
	}
	c, err := osquery.Dial(context.Background(), s.Path(), 10*time.Second)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Query(context.Background(), "SELECT name, major FROM os_version"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkExtensionTableRoundTrip adds the manager's call back into the
// extension (generate) that serves one of the agent's own tables.
func BenchmarkExtensionTableRoundTrip(b *testing.B) {
	s := osquerytest.New(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan int64, 1)
	go osquery.Serve(ctx, s.Path(), "bench", "1", []osquery.Table{screenlockTable(nil)},
		osquery.OnReady(func(id int64) { ready <- id }))
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		b.Fatal("extension did not register")
	}
	c, err := osquery.Dial(ctx, s.Path(), 10*time.Second)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Query(ctx, "SELECT user, lock_enabled FROM "+screenlock); err != nil {
			b.Fatal(err)
		}
	}
}
