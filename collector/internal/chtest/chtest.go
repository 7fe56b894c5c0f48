package chtest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/fleetproof/fleetproof/collector/internal/chserver"
)

var (
	once   sync.Once
	shared *chserver.Server
	dir    string
	errSrv error
	dbSeq  atomic.Uint64
)

// Main runs the tests, then stops the shared server if one was started.
// Without it the server still dies with the test binary (Pdeathsig), but
// its temp dir is left behind.
func Main(m *testing.M) {
	code := m.Run()
	if shared != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := shared.Stop(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "chtest: stop ClickHouse:", err)
		}
		cancel()
	}
	if dir != "" {
		os.RemoveAll(dir)
	}
	os.Exit(code)
}

// Server returns the binary's shared server, starting it on first use.
// Without ClickHouse installed it skips the test, except under CI, where a
// skipped database test would hide a broken setup.
func Server(t testing.TB) *chserver.Server {
	t.Helper()
	once.Do(start)
	if errSrv != nil {
		if errors.Is(errSrv, chserver.ErrNotInstalled) && os.Getenv("CI") == "" {
			t.Skip("clickhouse-server not installed; apt-get install clickhouse-server")
		}
		t.Fatal(errSrv)
	}
	select {
	case <-shared.Done():
		t.Fatalf("chtest: the shared ClickHouse server (pid %d) has exited; see %s/log. "+
			"Tests that stop or kill a server must start their own with chserver.Start.", shared.Pid(), dir)
	default:
	}
	return shared
}

func start() {
	if _, _, errSrv = chserver.Find(""); errSrv != nil {
		return
	}
	if dir, errSrv = os.MkdirTemp("", "chtest-"); errSrv != nil {
		return
	}
	// Not bound to any test's context: the server outlives the test that
	// happened to start it. Only problems are logged, to stderr, because a
	// crash of the shared server otherwise shows up as unrelated failures.
	shared, errSrv = chserver.Start(context.Background(), chserver.Options{
		Dir:          dir,
		StartTimeout: time.Minute, // loaded CI machines run many test binaries at once
		Logger:       slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
}

// Database creates an empty database for this test on the shared server and
// returns a DSN selecting it. It is dropped when the test ends.
func Database(t testing.TB) (dsn string) {
	t.Helper()
	srv := Server(t)
	name := dbName(t.Name())
	admin := Open(t, srv.DSN())
	if err := admin.Exec(t.Context(), "CREATE DATABASE "+name); err != nil {
		t.Fatalf("chtest: create database %s: %v", name, err)
	}
	// Registered after Open, so it runs before admin is closed, and after
	// the test's own connections (opened later) are closed.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name); err != nil {
			t.Errorf("chtest: drop database %s: %v", name, err)
		}
	})
	return "clickhouse://" + srv.Addr() + "/" + name
}

// dbName keeps the test name recognisable in the server's logs while a
// sequence number makes it unique; only [a-z0-9_] so it needs no quoting.
func dbName(test string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(test) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
		if b.Len() == 40 {
			break
		}
	}
	return fmt.Sprintf("t%d_%s", dbSeq.Add(1), b.String())
}

// Open connects with the native protocol (clickhouse-go's HTTP mode does
// not work against 18.16) and pings, so a bad DSN fails here rather than at
// the first query. The connection is closed when the test ends.
func Open(t testing.TB, dsn string) driver.Conn {
	t.Helper()
	opts, err := clickhouse.ParseDSN(dsn)
	if err != nil {
		t.Fatalf("chtest: %v", err)
	}
	conn, err := clickhouse.Open(opts)
	if err != nil {
		t.Fatalf("chtest: open %s: %v", dsn, err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := conn.Ping(t.Context()); err != nil {
		t.Fatalf("chtest: ping %s: %v", dsn, err)
	}
	return conn
}
