package osquery_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/thrift/lib/go/thrift"

	"github.com/fleetproof/fleetproof/agent/internal/osquery"
	"github.com/fleetproof/fleetproof/agent/internal/osquery/gen"
	"github.com/fleetproof/fleetproof/agent/internal/osquery/internal/wire"
	"github.com/fleetproof/fleetproof/agent/internal/osquery/osquerytest"
)

const screenlock = "fleetproof_screenlock"

// screenlockTable is an extension table like the agent's Linux desktop
// lock table; record, if set, sees every query context.
func screenlockTable(record func(osquery.QueryContext)) osquery.Table {
	return osquery.Table{
		Name: screenlock,
		Columns: []osquery.Column{
			{Name: "user", Type: osquery.TypeText},
			{Name: "idle_delay", Type: osquery.TypeInteger},
			{Name: "lock_enabled", Type: osquery.TypeInteger},
		},
		Generate: func(_ context.Context, qc osquery.QueryContext) ([]map[string]string, error) {
			if record != nil {
				record(qc)
			}
			return []map[string]string{
				{"user": "alice", "idle_delay": "300", "lock_enabled": "1"},
				{"user": "bob", "idle_delay": "900", "lock_enabled": "0"},
			}, nil
		},
	}
}

// running is one Serve call in the background.
type running struct {
	cancel   context.CancelFunc
	ready    chan int64
	finished chan struct{}
	err      error
}

func startServe(t *testing.T, socket, name string, tables []osquery.Table, opts ...osquery.ServeOption) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, ready: make(chan int64, 1), finished: make(chan struct{})}
	opts = append([]osquery.ServeOption{
		osquery.WithPingInterval(50 * time.Millisecond),
		osquery.WithCallTimeout(5 * time.Second),
		osquery.OnReady(func(id int64) { r.ready <- id }),
	}, opts...)
	go func() {
		defer close(r.finished)
		r.err = osquery.Serve(ctx, socket, name, "1.2.3", tables, opts...)
	}()
	t.Cleanup(func() {
		cancel()
		<-r.finished
	})
	return r
}

func (r *running) waitReady(t *testing.T) int64 {
	t.Helper()
	select {
	case id := <-r.ready:
		return id
	case <-r.finished:
		t.Fatalf("Serve returned before registering: %v", r.err)
	case <-time.After(15 * time.Second):
		t.Fatal("extension never became ready")
	}
	return 0
}

func (r *running) wait(t *testing.T) error {
	t.Helper()
	select {
	case <-r.finished:
		return r.err
	case <-time.After(15 * time.Second):
		t.Fatal("Serve did not return")
		return nil
	}
}

// serveExtension runs an extension until the test ends and returns its
// route id and socket.
func serveExtension(t *testing.T, s *osquerytest.Server, name string, tables []osquery.Table) (int64, string) {
	t.Helper()
	id := startServe(t, s.Path(), name, tables).waitReady(t)
	return id, fmt.Sprintf("%s.%d", s.Path(), id)
}

func TestExtensionTableAnswersQueriesThroughManager(t *testing.T) {
	s := osquerytest.New(t)
	loadCanned(t, s)
	serveExtension(t, s, "fleetproof", []osquery.Table{screenlockTable(nil)})
	c := dial(t, s.Path())
	cases := []struct {
		name string
		sql  string
		want []map[string]string
	}{
		{"all rows", `SELECT * FROM ` + screenlock + ` ORDER BY user`, []map[string]string{
			{"user": "alice", "idle_delay": "300", "lock_enabled": "1"},
			{"user": "bob", "idle_delay": "900", "lock_enabled": "0"},
		}},
		{"filtered by SQLite", `SELECT user FROM ` + screenlock + ` WHERE idle_delay <= 600`,
			[]map[string]string{{"user": "alice"}}},
		{"typed by the declared column type", `SELECT typeof(idle_delay) AS t, idle_delay + 1 AS next FROM ` + screenlock + ` WHERE user = 'bob'`,
			[]map[string]string{{"t": "integer", "next": "901"}}},
		{"joined with osquery tables", `SELECT u.uid, l.lock_enabled FROM users u JOIN ` + screenlock + ` l ON l.user = u.username ORDER BY u.uid`,
			[]map[string]string{{"uid": "1000", "lock_enabled": "1"}, {"uid": "1001", "lock_enabled": "0"}}},
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
	cols, err := c.GetQueryColumns(t.Context(), `SELECT user, idle_delay FROM `+screenlock)
	if err != nil {
		t.Fatal(err)
	}
	if want := []osquery.Column{{Name: "user", Type: "TEXT"}, {Name: "idle_delay", Type: "INTEGER"}}; !reflect.DeepEqual(cols, want) {
		t.Fatalf("columns %v, want %v", cols, want)
	}
}

func TestExtensionReceivesWhereConstraints(t *testing.T) {
	s := osquerytest.New(t)
	var mu sync.Mutex
	var seen []osquery.QueryContext
	serveExtension(t, s, "fleetproof", []osquery.Table{screenlockTable(func(qc osquery.QueryContext) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, qc)
	})})
	c := dial(t, s.Path())
	cases := []struct {
		name  string
		where string
		want  map[string][]osquery.Constraint
	}{
		{"none", ``, map[string][]osquery.Constraint{}},
		{"equals on text", `WHERE user = 'alice'`,
			map[string][]osquery.Constraint{"user": {{Op: osquery.OpEquals, Expr: "alice"}}}},
		{"comparison on integer", `WHERE idle_delay > 300`,
			map[string][]osquery.Constraint{"idle_delay": {{Op: osquery.OpGreaterThan, Expr: "300"}}}},
		{"range", `WHERE idle_delay >= 60 AND idle_delay < 900`,
			map[string][]osquery.Constraint{"idle_delay": {
				{Op: osquery.OpGreaterThanOrEqual, Expr: "60"}, {Op: osquery.OpLessThan, Expr: "900"}}}},
		{"two columns", `WHERE user = 'bob' AND lock_enabled <= 0`,
			map[string][]osquery.Constraint{
				"user":         {{Op: osquery.OpEquals, Expr: "bob"}},
				"lock_enabled": {{Op: osquery.OpLessThanOrEquals, Expr: "0"}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			seen = nil
			mu.Unlock()
			if _, err := c.Query(t.Context(), `SELECT * FROM `+screenlock+` `+tc.where); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(seen) != 1 {
				t.Fatalf("generate called %d times", len(seen))
			}
			if got := seen[0].Constraints; !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("constraints %v, want %v", got, tc.want)
			}
		})
	}
	t.Run("like", func(t *testing.T) {
		mu.Lock()
		seen = nil
		mu.Unlock()
		if _, err := c.Query(t.Context(), `SELECT * FROM `+screenlock+` WHERE user LIKE 'a%'`); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		// SQLite's LIKE optimisation may add a range on the same column
		// (it does for osqueryd too); the LIKE itself must be there.
		want := osquery.Constraint{Op: osquery.OpLike, Expr: "a%"}
		if got := seen[0].Constraints["user"]; !slices.Contains(got, want) {
			t.Fatalf("user constraints %v lack %v", got, want)
		}
	})
	t.Run("equality helper and columns used", func(t *testing.T) {
		mu.Lock()
		seen = nil
		mu.Unlock()
		if _, err := c.Query(t.Context(), `SELECT idle_delay FROM `+screenlock+` WHERE user = 'alice'`); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		qc := seen[0]
		if got := qc.Equals("user"); !reflect.DeepEqual(got, []string{"alice"}) {
			t.Errorf("Equals(user) = %v", got)
		}
		if want := []string{"user", "idle_delay"}; !reflect.DeepEqual(qc.ColsUsed, want) {
			t.Errorf("ColsUsed = %v, want %v", qc.ColsUsed, want)
		}
	})
}

func TestExtensionGenerateErrorFailsTheQuery(t *testing.T) {
	s := osquerytest.New(t)
	broken := osquery.Table{
		Name:    "fleetproof_broken",
		Columns: []osquery.Column{{Name: "x"}},
		Generate: func(context.Context, osquery.QueryContext) ([]map[string]string, error) {
			return nil, errors.New("gsettings not found")
		},
	}
	panicky := osquery.Table{
		Name:    "fleetproof_panicky",
		Columns: []osquery.Column{{Name: "x"}},
		Generate: func(context.Context, osquery.QueryContext) ([]map[string]string, error) {
			panic("nil map")
		},
	}
	serveExtension(t, s, "fleetproof", []osquery.Table{broken, panicky})
	c := dial(t, s.Path())
	for table, want := range map[string]string{broken.Name: "gsettings not found", panicky.Name: "panic: nil map"} {
		_, err := c.Query(t.Context(), `SELECT * FROM `+table)
		var se *osquery.StatusError
		if !errors.As(err, &se) || se.Code != 1 || !strings.Contains(se.Message, want) {
			t.Errorf("%s: err = %v, want status 1 containing %q", table, err, want)
		}
	}
	// The extension survives and still answers.
	if _, err := c.Query(t.Context(), `SELECT 1`); err != nil {
		t.Fatal(err)
	}
}

// callExtension calls the extension's own socket, as osqueryd does.
func callExtension(t *testing.T, sock string, fn func(context.Context, *gen.ExtensionClient) error) {
	t.Helper()
	conn, err := wire.Dial(t.Context(), sock)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	p := conn.Protocol()
	if err := fn(t.Context(), gen.NewExtensionClient(thrift.NewTStandardClient(p, p))); err != nil {
		t.Fatal(err)
	}
}

func TestExtensionAnswersOsquerydCalls(t *testing.T) {
	s := osquerytest.New(t)
	var mu sync.Mutex
	var last osquery.QueryContext
	_, sock := serveExtension(t, s, "fleetproof", []osquery.Table{screenlockTable(func(qc osquery.QueryContext) {
		mu.Lock()
		last = qc
		mu.Unlock()
	})})

	callExtension(t, sock, func(ctx context.Context, c *gen.ExtensionClient) error {
		st, err := c.Ping(ctx)
		if err == nil && (st.Code != 0 || st.Message != "OK") {
			err = fmt.Errorf("ping = %+v", st)
		}
		return err
	})

	routes := []map[string]string{
		{"id": "column", "name": "user", "type": "TEXT", "op": "0"},
		{"id": "column", "name": "idle_delay", "type": "INTEGER", "op": "0"},
		{"id": "column", "name": "lock_enabled", "type": "INTEGER", "op": "0"},
	}
	cases := []struct {
		name, registry, item string
		req                  map[string]string
		code                 int32
		msg                  string
		rows                 []map[string]string
	}{
		{"columns returns the route rows", "table", screenlock, map[string]string{"action": "columns"}, 0, "OK", routes},
		{"generate with pre-3.0 string ops", "table", screenlock, map[string]string{"action": "generate",
			"context": `{"constraints":[{"name":"user","list":[{"op":"2","expr":"alice"}],"affinity":"TEXT"},{"name":"idle_delay","list":"","affinity":"INTEGER"}]}`},
			0, "OK", nil},
		{"unknown action", "table", screenlock, map[string]string{"action": "delete"}, 1, "unknown action: delete", nil},
		{"unknown table", "table", "nope", map[string]string{"action": "generate"}, 1, "Unknown registry item: nope", nil},
		{"unknown registry", "config", "fleetproof", map[string]string{"action": "genConfig"}, 1, "Unknown registry: config", nil},
		{"malformed context", "table", screenlock, map[string]string{"action": "generate", "context": "{"}, 1, "", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			callExtension(t, sock, func(ctx context.Context, c *gen.ExtensionClient) error {
				resp, err := c.Call(ctx, tc.registry, tc.item, tc.req)
				if err != nil {
					return err
				}
				if resp.Status.Code != tc.code || (tc.msg != "" && resp.Status.Message != tc.msg) {
					return fmt.Errorf("status %+v, want %d %q", resp.Status, tc.code, tc.msg)
				}
				if tc.rows != nil && !reflect.DeepEqual([]map[string]string(resp.Response), tc.rows) {
					return fmt.Errorf("rows %v, want %v", resp.Response, tc.rows)
				}
				return nil
			})
		})
	}
	mu.Lock()
	defer mu.Unlock()
	if got := last.Equals("user"); !reflect.DeepEqual(got, []string{"alice"}) {
		t.Fatalf("string op parsed as %v", last.Constraints)
	}
}

func TestExtensionRetriesDuplicateRegistration(t *testing.T) {
	s := osquerytest.New(t)
	old := startServe(t, s.Path(), "fleetproof", []osquery.Table{screenlockTable(nil)})
	oldID := old.waitReady(t)

	// A restarted agent registers while the old instance is still listed.
	next := startServe(t, s.Path(), "fleetproof", []osquery.Table{screenlockTable(nil)})
	refused := func(st osquerytest.State) bool {
		for _, r := range st.Registrations {
			if r.Info.Name == "fleetproof" && r.Message == "Duplicate extension registered" {
				return true
			}
		}
		return false
	}
	if err := s.Wait(t.Context(), refused); err != nil {
		t.Fatal(err)
	}
	old.cancel()
	if err := old.wait(t); err != nil {
		t.Fatalf("old instance: %v", err)
	}
	newID := next.waitReady(t)
	if newID == oldID {
		t.Fatalf("new registration reused route id %d", oldID)
	}
	rows, err := dial(t, s.Path()).Query(t.Context(), `SELECT count(*) AS n FROM `+screenlock)
	if err != nil || rows[0]["n"] != "2" {
		t.Fatalf("query through the new instance: %v, %v", rows, err)
	}
}

func TestExtensionDeregistersWhenCancelled(t *testing.T) {
	s := osquerytest.New(t)
	r := startServe(t, s.Path(), "fleetproof", []osquery.Table{screenlockTable(nil)})
	id := r.waitReady(t)
	r.cancel()
	if err := r.wait(t); err != nil {
		t.Fatalf("Serve = %v, want nil after cancel", err)
	}
	st := s.State()
	if !reflect.DeepEqual(st.Deregistered, []int64{id}) || len(st.Extensions) != 0 {
		t.Fatalf("state after cancel: %+v", st)
	}
	_, err := dial(t, s.Path()).Query(t.Context(), `SELECT * FROM `+screenlock)
	var se *osquery.StatusError
	if !errors.As(err, &se) || se.Message != "no such table: "+screenlock {
		t.Fatalf("query after deregistration: %v", err)
	}
}

func TestExtensionStopsWhenManagerGoes(t *testing.T) {
	cases := []struct {
		name string
		stop func(*osquerytest.Server, int64) error
		want error
	}{
		{"osqueryd crashes", func(s *osquerytest.Server, _ int64) error { return s.Kill() }, osquery.ErrManagerGone},
		{"osqueryd shuts down", func(s *osquerytest.Server, _ int64) error { return s.Close() }, osquery.ErrShutdown},
		{"osqueryd drops the registration", func(s *osquerytest.Server, id int64) error { return deregister(s.Path(), id) }, osquery.ErrDropped},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := osquerytest.New(t)
			r := startServe(t, s.Path(), "fleetproof", []osquery.Table{screenlockTable(nil)})
			id := r.waitReady(t)
			if err := tc.stop(s, id); err != nil {
				t.Fatal(err)
			}
			if err := r.wait(t); !errors.Is(err, tc.want) {
				t.Fatalf("Serve = %v, want %v", err, tc.want)
			}
		})
	}
}

// deregister removes a registration behind the extension's back.
func deregister(path string, id int64) error {
	conn, err := wire.Dial(context.Background(), path)
	if err != nil {
		return err
	}
	defer conn.Close()
	p := conn.Protocol()
	st, err := gen.NewExtensionManagerClient(thrift.NewTStandardClient(p, p)).DeregisterExtension(context.Background(), gen.ExtensionRouteUUID(id))
	if err == nil && st.Code != 0 {
		err = fmt.Errorf("deregister: %+v", st)
	}
	return err
}

func TestServeRefusesBadInputBeforeContactingOsqueryd(t *testing.T) {
	good := screenlockTable(nil)
	long := "/" + strings.Repeat("d", osquery.MaxManagerSocketPath)
	cases := []struct {
		name   string
		socket string
		tables []osquery.Table
		want   string
	}{
		{"manager socket path too long", long, []osquery.Table{good}, "longer than 97"},
		{"table without columns", "/nonexistent.em", []osquery.Table{{Name: "t", Generate: good.Generate}}, "no columns"},
		{"table name not an identifier", "/nonexistent.em", []osquery.Table{{Name: "my-table", Columns: good.Columns, Generate: good.Generate}}, "identifier"},
		{"unknown column type", "/nonexistent.em", []osquery.Table{{Name: "t", Columns: []osquery.Column{{Name: "a", Type: "VARCHAR"}}, Generate: good.Generate}}, "unknown type"},
		{"table twice", "/nonexistent.em", []osquery.Table{good, good}, "twice"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := osquery.Serve(t.Context(), tc.socket, "x", "1", tc.tables)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}
