package osquery_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/fleetproof/fleetproof/agent/internal/osquery"
	"github.com/fleetproof/fleetproof/agent/internal/osquery/osquerytest"
)

// loadCanned creates tables with osquery's declared types and a few rows.
func loadCanned(t *testing.T, s *osquerytest.Server) {
	t.Helper()
	for _, q := range []string{
		`CREATE TABLE os_version (name TEXT, major INTEGER, build BIGINT, size UNSIGNED BIGINT, ratio DOUBLE, data BLOB, extra TEXT)`,
		`INSERT INTO os_version VALUES ('Ubuntu', 22, 2204, 18446744073709551615, 0.5, x'6869', NULL)`,
		`CREATE TABLE users (uid BIGINT, username TEXT)`,
		`INSERT INTO users VALUES (1000, 'alice'), (1001, 'bob'), (0, 'root')`,
	} {
		if err := s.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

func dial(t *testing.T, path string) *osquery.Client {
	t.Helper()
	c, err := osquery.Dial(t.Context(), path, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestClientPing(t *testing.T) {
	s := osquerytest.New(t)
	if err := dial(t, s.Path()).Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func TestClientQueryReturnsOsqueryRows(t *testing.T) {
	s := osquerytest.New(t)
	loadCanned(t, s)
	c := dial(t, s.Path())
	cases := []struct {
		name string
		sql  string
		want []map[string]string
	}{
		{"every value is a string", `SELECT name, major, build, ratio, data FROM os_version`,
			[]map[string]string{{"name": "Ubuntu", "major": "22", "build": "2204", "ratio": "0.5", "data": "hi"}}},
		{"NULL is the empty string", `SELECT extra, NULL AS missing FROM os_version`,
			[]map[string]string{{"extra": "", "missing": ""}}},
		{"reals print like SQLite", `SELECT 3.0 AS three, 1 AS one`,
			[]map[string]string{{"three": "3.0", "one": "1"}}},
		{"several rows in order", `SELECT username FROM users ORDER BY uid`,
			[]map[string]string{{"username": "root"}, {"username": "alice"}, {"username": "bob"}}},
		{"no rows is an empty list", `SELECT * FROM users WHERE uid = 42`, []map[string]string{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.Query(t.Context(), tc.sql)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestClientQueryErrorsCarryOsqueryMessage(t *testing.T) {
	s := osquerytest.New(t)
	loadCanned(t, s)
	c := dial(t, s.Path())
	cases := []struct {
		name, sql, msg string
	}{
		{"unknown table", `SELECT * FROM nope`, "no such table: nope"},
		{"unknown column", `SELECT nope FROM users`, "no such column: nope"},
		{"syntax error", `SELEC 1`, `near "SELEC": syntax error`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rows, err := c.Query(t.Context(), tc.sql)
			var se *osquery.StatusError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v (%T), want *StatusError", err, err)
			}
			if se.Code != 1 || se.Message != tc.msg {
				t.Fatalf("got %+v, want code 1 %q", se, tc.msg)
			}
			if rows != nil {
				t.Fatalf("rows = %v alongside an error", rows)
			}
		})
	}
	// The failed query leaves the connection usable.
	if _, err := c.Query(t.Context(), `SELECT 1`); err != nil {
		t.Fatal(err)
	}
}

func TestClientGetQueryColumnsReportsOsqueryTypes(t *testing.T) {
	s := osquerytest.New(t)
	loadCanned(t, s)
	got, err := dial(t, s.Path()).GetQueryColumns(t.Context(),
		`SELECT name, major, build, size, ratio, data, major + 1 AS next FROM os_version`)
	if err != nil {
		t.Fatal(err)
	}
	want := []osquery.Column{
		{Name: "name", Type: osquery.TypeText},
		{Name: "major", Type: osquery.TypeInteger},
		{Name: "build", Type: osquery.TypeBigInt},
		{Name: "size", Type: osquery.TypeUnsignedBigInt},
		{Name: "ratio", Type: osquery.TypeDouble},
		{Name: "data", Type: osquery.TypeBlob},
		{Name: "next", Type: osquery.TypeUnknown},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestClientOptionsListsFlags(t *testing.T) {
	s := osquerytest.New(t)
	s.SetOption("host_identifier", "uuid")
	opts, err := dial(t, s.Path()).Options(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got := opts["extensions_socket"]; got.Value != s.Path() || got.Type != "string" {
		t.Errorf("extensions_socket = %+v", got)
	}
	if got := opts["host_identifier"]; got.Value != "uuid" || got.Default != "hostname" {
		t.Errorf("host_identifier = %+v", got)
	}
}

func TestClientExtensionsListsRegisteredExtensions(t *testing.T) {
	s := osquerytest.New(t)
	c := dial(t, s.Path())
	exts, err := c.Extensions(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(exts) != 0 {
		t.Fatalf("before registration: %v", exts)
	}
	uuid, _ := serveExtension(t, s, "fleetproof", []osquery.Table{screenlockTable(nil)})
	exts, err = c.Extensions(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := map[int64]osquery.ExtensionInfo{uuid: {Name: "fleetproof", Version: "1.2.3"}}
	if !reflect.DeepEqual(exts, want) {
		t.Fatalf("got %v, want %v", exts, want)
	}
}

// stuckServer accepts connections and reads requests but never answers.
func stuckServer(t *testing.T) string {
	path, conns := rawPeer(t)
	var mu sync.Mutex
	var open []net.Conn
	go func() {
		for c := range conns {
			mu.Lock()
			open = append(open, c)
			mu.Unlock()
			go io.Copy(io.Discard, c)
		}
	}()
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range open {
			c.Close()
		}
	})
	return path
}

func TestClientCallsEndOnTimeoutOrContext(t *testing.T) {
	path := stuckServer(t)
	cases := []struct {
		name    string
		timeout time.Duration
		ctx     func() (context.Context, context.CancelFunc)
		want    error
	}{
		{"per-call timeout", 100 * time.Millisecond,
			func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) },
			os.ErrDeadlineExceeded},
		{"context deadline shorter than the timeout", time.Minute,
			func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 100*time.Millisecond)
			},
			context.DeadlineExceeded},
		{"context cancelled mid-call", time.Minute,
			func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				time.AfterFunc(100*time.Millisecond, cancel)
				return ctx, cancel
			},
			context.Canceled},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := osquery.Dial(t.Context(), path, tc.timeout)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ctx, cancel := tc.ctx()
			defer cancel()
			start := time.Now()
			_, err = c.Query(ctx, "SELECT 1")
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if el := time.Since(start); el > 5*time.Second {
				t.Fatalf("call took %s", el)
			}
		})
	}
}

func TestClientReconnectsAfterOsquerydRestarts(t *testing.T) {
	path := osquerytest.SocketPath(t)
	start := func(version string) *osquerytest.Server {
		s, err := osquerytest.Start(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		if err := s.Exec(`CREATE TABLE osquery_info (version TEXT)`); err != nil {
			t.Fatal(err)
		}
		if err := s.Exec(`INSERT INTO osquery_info VALUES (?)`, version); err != nil {
			t.Fatal(err)
		}
		return s
	}
	version := func(c *osquery.Client) (string, error) {
		rows, err := c.Query(t.Context(), `SELECT version FROM osquery_info`)
		if err != nil {
			return "", err
		}
		return rows[0]["version"], nil
	}

	first := start("5.12.0")
	c := dial(t, path)
	if v, err := version(c); err != nil || v != "5.12.0" {
		t.Fatalf("before restart: %q, %v", v, err)
	}
	first.Close()
	if _, err := version(c); err == nil {
		t.Fatal("query succeeded with osqueryd down")
	}
	start("5.13.1")
	if v, err := version(c); err != nil || v != "5.13.1" {
		t.Fatalf("after restart: %q, %v", v, err)
	}
}

func TestClientReconnectsTransparentlyOnStaleConnection(t *testing.T) {
	path := osquerytest.SocketPath(t)
	first, err := osquerytest.Start(path)
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, path)
	if err := c.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	first.Kill()
	second, err := osquerytest.Start(path)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	// The idle connection died with the first server; the call must not
	// surface that.
	if err := c.Ping(t.Context()); err != nil {
		t.Fatalf("ping after restart: %v", err)
	}
}

func TestClientSerialisesConcurrentCalls(t *testing.T) {
	s := osquerytest.New(t)
	loadCanned(t, s)
	c := dial(t, s.Path())
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for i := range 32 {
		wg.Go(func() {
			rows, err := c.Query(t.Context(), fmt.Sprintf(`SELECT %d AS n, username FROM users WHERE uid = 1000`, i))
			if err == nil && (len(rows) != 1 || rows[0]["n"] != fmt.Sprint(i) || rows[0]["username"] != "alice") {
				err = fmt.Errorf("call %d got %v", i, rows)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func TestClientAfterClose(t *testing.T) {
	s := osquerytest.New(t)
	c := dial(t, s.Path())
	c.Close()
	if err := c.Ping(t.Context()); !errors.Is(err, osquery.ErrClosed) {
		t.Fatalf("err = %v, want ErrClosed", err)
	}
}

func TestDialFailsWithoutOsqueryd(t *testing.T) {
	if _, err := osquery.Dial(t.Context(), osquerytest.SocketPath(t), time.Second); err == nil {
		t.Fatal("Dial succeeded with nothing listening")
	}
}

// The checks runner's engine interface, restated so this test does not
// depend on the checks package.
type checksEngine interface {
	Name() string
	Query(ctx context.Context, sql string) ([]map[string]string, error)
}

func TestEngineAnswersChecksThroughOsqueryd(t *testing.T) {
	path := osquerytest.SocketPath(t)
	var e checksEngine = &osquery.Engine{Socket: path, Timeout: 5 * time.Second}
	defer e.(*osquery.Engine).Close()
	if e.Name() != "osquery" {
		t.Fatalf("Name = %q", e.Name())
	}
	// osqueryd not up yet: an error, not a broken engine.
	if _, err := e.Query(t.Context(), `SELECT 1`); err == nil {
		t.Fatal("query succeeded with osqueryd down")
	}
	s, err := osquerytest.Start(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	loadCanned(t, s)
	rows, err := e.Query(t.Context(), `SELECT 1 FROM os_version WHERE major >= 22`)
	if err != nil || len(rows) != 1 {
		t.Fatalf("rows %v, err %v", rows, err)
	}
	_, err = e.Query(t.Context(), `SELECT * FROM nope`)
	var se *osquery.StatusError
	if !errors.As(err, &se) || se.Message != "no such table: nope" {
		t.Fatalf("err = %v", err)
	}
}
