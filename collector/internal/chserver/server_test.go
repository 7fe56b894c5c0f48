package chserver_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/fleetproof/fleetproof/collector/internal/chserver"
)

// requireBinary skips on developer machines without ClickHouse, but CI
// must never silently skip the database tests.
func requireBinary(t *testing.T) {
	t.Helper()
	if _, _, err := chserver.Find(""); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
}

func start(t *testing.T, opts chserver.Options) *chserver.Server {
	t.Helper()
	requireBinary(t)
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	opts.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	srv, err := chserver.Start(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	// Background: t.Context is already cancelled when cleanups run.
	t.Cleanup(func() {
		if err := srv.Stop(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return srv
}

func open(t *testing.T, srv *chserver.Server) driver.Conn {
	t.Helper()
	opts, err := clickhouse.ParseDSN(srv.DSN())
	if err != nil {
		t.Fatal(err)
	}
	conn, err := clickhouse.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func exec(t *testing.T, conn driver.Conn, q string) {
	t.Helper()
	if err := conn.Exec(t.Context(), q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// insertRows uses an explicit column list: clickhouse-go's column discovery
// fails on 18.16 without one.
func insertRows(t *testing.T, conn driver.Conn, from, n int) {
	t.Helper()
	b, err := conn.PrepareBatch(t.Context(), "INSERT INTO rt (id, name)")
	if err != nil {
		t.Fatal(err)
	}
	for i := from; i < from+n; i++ {
		if err := b.Append(uint32(i), fmt.Sprintf("row-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
}

func count(t *testing.T, conn driver.Conn) (n uint64, sum uint64) {
	t.Helper()
	if err := conn.QueryRow(t.Context(), "SELECT count(), sum(id) FROM rt").Scan(&n, &sum); err != nil {
		t.Fatal(err)
	}
	return n, sum
}

func assertRefused(t *testing.T, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		c.Close()
		t.Fatalf("%s still accepts connections", addr)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial %s: want connection refused, got %v", addr, err)
	}
}

func rssKB(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "unknown"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func TestStartRoundTrip(t *testing.T) {
	t.Parallel()
	requireBinary(t)
	began := time.Now()
	srv := start(t, chserver.Options{})
	t.Logf("ready after %s, pid %d, RSS %s", time.Since(began).Round(time.Millisecond), srv.Pid(), rssKB(srv.Pid()))
	if !strings.HasPrefix(srv.DSN(), "clickhouse://127.0.0.1:") || !strings.HasSuffix(srv.DSN(), "/default") {
		t.Errorf("DSN = %q", srv.DSN())
	}

	conn := open(t, srv)
	var version string
	if err := conn.QueryRow(t.Context(), "SELECT version()").Scan(&version); err != nil {
		t.Fatal(err)
	}
	t.Logf("server version %s", version)

	exec(t, conn, "CREATE TABLE rt (id UInt32, name String) ENGINE = MergeTree ORDER BY id")
	insertRows(t, conn, 0, 1000)
	if n, sum := count(t, conn); n != 1000 || sum != 999*1000/2 {
		t.Fatalf("count, sum = %d, %d; want 1000, %d", n, sum, 999*1000/2)
	}
	var name string
	if err := conn.QueryRow(t.Context(), "SELECT name FROM rt WHERE id = 42").Scan(&name); err != nil || name != "row-42" {
		t.Fatalf("name = %q, %v", name, err)
	}
	t.Logf("RSS after queries %s", rssKB(srv.Pid()))
}

func TestStopRefusesConnections(t *testing.T) {
	t.Parallel()
	srv := start(t, chserver.Options{})
	began := time.Now()
	if err := srv.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Logf("graceful stop took %s", time.Since(began).Round(time.Millisecond))
	select {
	case <-srv.Done():
	default:
		t.Fatal("Done not closed after Stop returned")
	}
	assertRefused(t, srv.Addr())
	assertRefused(t, srv.HTTPAddr())
	if err := srv.Stop(t.Context()); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
}

func TestKillRestartKeepsData(t *testing.T) {
	t.Parallel()
	srv := start(t, chserver.Options{})
	conn := open(t, srv)
	exec(t, conn, "CREATE TABLE rt (id UInt32, name String) ENGINE = MergeTree ORDER BY id")
	insertRows(t, conn, 0, 500)

	addr, killed := srv.Addr(), srv.Done()
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-killed:
	default:
		t.Fatal("Done not closed after Kill returned")
	}
	assertRefused(t, addr)
	if err := conn.Ping(t.Context()); err == nil {
		t.Fatal("ping succeeded while the server is down")
	}

	if err := srv.Restart(t.Context()); err != nil {
		t.Fatal(err)
	}
	if srv.Addr() != addr {
		t.Fatalf("Addr moved from %s to %s", addr, srv.Addr())
	}
	select {
	case <-srv.Done():
		t.Fatal("Done of the new run is already closed")
	default:
	}
	// The old pool's connections died with the server; a fresh one proves
	// the DSN still works as handed out.
	conn = open(t, srv)
	if n, _ := count(t, conn); n != 500 {
		t.Fatalf("after Kill+Restart count = %d, want 500", n)
	}
	insertRows(t, conn, 500, 500)
	if n, _ := count(t, conn); n != 1000 {
		t.Fatalf("count = %d, want 1000", n)
	}

	// Restart of a running server stops it first.
	if err := srv.Restart(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n, _ := count(t, open(t, srv)); n != 1000 {
		t.Fatalf("after Restart count = %d, want 1000", n)
	}
}

func TestIPv6Loopback(t *testing.T) {
	t.Parallel()
	requireBinary(t)
	if l, err := net.Listen("tcp", "[::1]:0"); err != nil {
		t.Skip("no IPv6 loopback:", err)
	} else {
		l.Close()
	}
	srv := start(t, chserver.Options{Host: "::1"})
	if !strings.HasPrefix(srv.DSN(), "clickhouse://[::1]:") {
		t.Fatalf("DSN = %q", srv.DSN())
	}
	if err := open(t, srv).Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func TestStartUnusableDir(t *testing.T) {
	t.Parallel()
	requireBinary(t)
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	dirs := []string{file, filepath.Join(file, "ch")}
	if os.Geteuid() != 0 { // root writes through permission bits
		ro := filepath.Join(t.TempDir(), "ro")
		if err := os.Mkdir(ro, 0o500); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, ro)
	}
	for _, dir := range dirs {
		_, err := chserver.Start(t.Context(), chserver.Options{Dir: dir})
		if err == nil || !strings.Contains(err.Error(), "is not usable") || !strings.Contains(err.Error(), dir) {
			t.Errorf("Start(Dir: %s) = %v; want a 'not usable' error naming the dir", dir, err)
		}
	}
}

func TestStartMissingBinary(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "clickhouse-server")
	_, err := chserver.Start(t.Context(), chserver.Options{Dir: t.TempDir(), Binary: bin})
	if !errors.Is(err, chserver.ErrNotInstalled) || !strings.Contains(err.Error(), bin) {
		t.Fatalf("Start with missing binary = %v; want ErrNotInstalled naming %s", err, bin)
	}
	if !strings.Contains(err.Error(), "apt-get install clickhouse-server") {
		t.Errorf("error does not say how to install: %v", err)
	}
}

func TestFindBogusBinary(t *testing.T) {
	t.Parallel()
	for _, bin := range []string{"fleetproof-no-such-clickhouse", "/nonexistent/clickhouse", os.DevNull} {
		if _, _, err := chserver.Find(bin); !errors.Is(err, chserver.ErrNotInstalled) {
			t.Errorf("Find(%q) = %v; want ErrNotInstalled", bin, err)
		}
	}
}

func TestFindModeArgs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, want := range map[string]string{"clickhouse": "server", "clickhouse-server": ""} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, nil, 0o700); err != nil {
			t.Fatal(err)
		}
		got, args, err := chserver.Find(p)
		if err != nil || got != p || strings.Join(args, " ") != want {
			t.Errorf("Find(%s) = %s, %q, %v; want args %q", p, got, args, err, want)
		}
	}
}

func TestNonLoopbackHostRejected(t *testing.T) {
	t.Parallel()
	for _, host := range []string{"0.0.0.0", "::", "192.0.2.10", "example.com"} {
		dir := filepath.Join(t.TempDir(), "ch")
		_, err := chserver.Start(t.Context(), chserver.Options{Dir: dir, Host: host})
		if err == nil || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("Start(Host: %q) = %v; want a loopback error", host, err)
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("Start(Host: %q) created %s before rejecting", host, dir)
		}
	}
}

// A server that exits during startup must explain itself: the error carries
// the server's own log lines, not just an exit status.
func TestExitBeforeReadyShowsLog(t *testing.T) {
	t.Parallel()
	requireBinary(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	port := taken.Addr().(*net.TCPAddr).Port
	began := time.Now()
	_, err = chserver.Start(t.Context(), chserver.Options{Dir: t.TempDir(), TCPPort: port})
	if err == nil {
		t.Fatal("Start succeeded on a taken port")
	}
	if !strings.Contains(err.Error(), "exited before it was ready") || !strings.Contains(err.Error(), "Address already in use") {
		t.Fatalf("error lacks the exit and the server's reason:\n%v", err)
	}
	t.Logf("failed after %s:\n%v", time.Since(began).Round(time.Millisecond), err)
}
