package osquerytest

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/apache/thrift/lib/go/thrift"
	sqlite "modernc.org/sqlite"

	"github.com/fleetproof/fleetproof/agent/internal/osquery/gen"
	"github.com/fleetproof/fleetproof/agent/internal/osquery/internal/wire"
)

// Option tunes a Server.
type Option func(*Server)

// WithPingInterval sets how often the server pings registered extensions
// (osqueryd's --extensions_interval, default 3 s).
func WithPingInterval(d time.Duration) Option { return func(s *Server) { s.pingInterval = d } }

// WithExtensionsTimeout sets how long a new extension's socket may be
// missing before its first ping counts as failed (--extensions_timeout,
// default 3 s).
func WithExtensionsTimeout(d time.Duration) Option { return func(s *Server) { s.extTimeout = d } }

// WithCallTimeout bounds each call the server makes to an extension
// (osqueryd uses --thrift_timeout, 300 s; default here 30 s).
func WithCallTimeout(d time.Duration) Option { return func(s *Server) { s.callTimeout = d } }

// ExtensionInfo is what an extension registered with.
type ExtensionInfo struct{ Name, Version, SDKVersion, MinSDKVersion string }

// Registration is one registerExtension call and its answer.
type Registration struct {
	Info    ExtensionInfo
	Code    int
	Message string
	UUID    int64
}

// State is a snapshot of the server's extension bookkeeping.
type State struct {
	Extensions    map[int64]ExtensionInfo
	Registrations []Registration // every attempt, in order
	Deregistered  []int64        // by deregisterExtension
	Dropped       []int64        // by a failed health-check ping
}

// Server is a stand-in for osqueryd's extension manager. Canned tables
// live in an in-memory SQLite database; registered extension tables are
// SQLite virtual tables whose scans call the extension's generate, so
// WHERE constraints reach the extension the way osqueryd pushes them.
type Server struct {
	path         string
	pingInterval time.Duration
	extTimeout   time.Duration
	callTimeout  time.Duration

	ctx    context.Context // ends on Close/Kill; aborts calls to extensions
	cancel context.CancelFunc
	srv    *wire.Server
	db     *sql.DB
	stop   chan struct{}
	wg     sync.WaitGroup
	once   sync.Once

	// Lock order: regMu, then sqlMu, then mu.
	regMu sync.Mutex // serialises registry changes
	sqlMu sync.Mutex // one statement at a time on conn (a :memory: DB lives in it)
	conn  *sql.Conn

	mu      sync.Mutex
	exts    map[int64]*extension
	tables  map[string]*extTable // by lower-case name
	options map[string]*gen.InternalOptionInfo
	state   State
	changed chan struct{} // closed and replaced on every state change
}

type extension struct {
	info       ExtensionInfo
	tables     []*extTable
	registered time.Time
	answered   bool
}

type extTable struct {
	name string
	uuid int64
	cols []column
}

type column struct{ name, typ string }

// SocketPath returns a fresh manager socket path short enough for sun_path
// (108 bytes; t.TempDir's paths often are not), removed after the test.
func SocketPath(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "oq")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "osquery.em")
}

// New starts a Server on a fresh socket and closes it after the test.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s, err := Start(SocketPath(t), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Start serves the extension manager protocol on the unix socket path.
func Start(path string, opts ...Option) (*Server, error) {
	s := &Server{
		path:         path,
		pingInterval: 3 * time.Second,
		extTimeout:   3 * time.Second,
		callTimeout:  30 * time.Second,
		stop:         make(chan struct{}),
		exts:         map[int64]*extension{},
		tables:       map[string]*extTable{},
		changed:      make(chan struct{}),
	}
	for _, o := range opts {
		o(s)
	}
	if s.pingInterval <= 0 {
		s.pingInterval = 3 * time.Second
	}
	s.options = defaultOptions(path, s.pingInterval, s.extTimeout)
	s.ctx, s.cancel = context.WithCancel(context.Background())

	// A private driver keeps our virtual table module off every other
	// SQLite connection in the process.
	drv := &sqlite.Driver{}
	if err := drv.RegisterModule("osquery_extension", &module{s: s}); err != nil {
		return nil, err
	}
	s.db = sql.OpenDB(connector{drv})
	conn, err := s.db.Conn(s.ctx)
	if err != nil {
		s.db.Close()
		return nil, err
	}
	s.conn = conn
	ln, err := wire.Listen(path)
	if err != nil {
		conn.Close()
		s.db.Close()
		return nil, err
	}
	s.srv = wire.Serve(ln, gen.NewExtensionManagerProcessor(&handler{s: s}))
	s.wg.Add(1)
	go s.pinger()
	return s, nil
}

type connector struct{ d *sqlite.Driver }

func (c connector) Connect(context.Context) (driver.Conn, error) { return c.d.Open(":memory:") }
func (c connector) Driver() driver.Driver                        { return c.d }

func defaultOptions(path string, interval, timeout time.Duration) map[string]*gen.InternalOptionInfo {
	secs := func(d time.Duration) string { return strconv.Itoa(max(1, int(d.Round(time.Second)/time.Second))) }
	o := func(v, d, t string) *gen.InternalOptionInfo {
		return &gen.InternalOptionInfo{Value: v, DefaultValue: d, Type: t}
	}
	return map[string]*gen.InternalOptionInfo{
		"extensions_socket":   o(path, "/var/osquery/osquery.em", "string"),
		"extensions_interval": o(secs(interval), "3", "string"),
		"extensions_timeout":  o(secs(timeout), "3", "string"),
		"disable_extensions":  o("false", "false", "bool"),
		"config_plugin":       o("filesystem", "filesystem", "string"),
		"logger_plugin":       o("filesystem", "filesystem", "string"),
		"distributed_plugin":  o("tls", "tls", "string"),
		"disable_distributed": o("true", "true", "bool"),
		"host_identifier":     o("hostname", "hostname", "string"),
		"thrift_timeout":      o("300", "300", "uint32"),
	}
}

// Path is the manager socket.
func (s *Server) Path() string { return s.path }

// Exec runs SQL on the canned database, e.g. to create osquery's tables
// with their declared types and insert rows.
func (s *Server) Exec(query string, args ...any) error {
	s.sqlMu.Lock()
	defer s.sqlMu.Unlock()
	_, err := s.conn.ExecContext(s.ctx, query, args...)
	return err
}

// SetOption sets the value options() reports for a flag.
func (s *Server) SetOption(name, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o := s.options[name]; o != nil {
		o.Value = value
		return
	}
	s.options[name] = &gen.InternalOptionInfo{Value: value, Type: "string"}
}

// State returns a snapshot of the extension bookkeeping.
func (s *Server) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.snapshot()
}

func (s *Server) snapshot() State {
	st := State{
		Extensions:    map[int64]ExtensionInfo{},
		Registrations: append([]Registration(nil), s.state.Registrations...),
		Deregistered:  append([]int64(nil), s.state.Deregistered...),
		Dropped:       append([]int64(nil), s.state.Dropped...),
	}
	for id, e := range s.exts {
		st.Extensions[id] = e.info
	}
	return st
}

// notify wakes Wait; s.mu must be held.
func (s *Server) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// Wait blocks until cond holds, re-checking on every state change.
func (s *Server) Wait(ctx context.Context, cond func(State) bool) error {
	for {
		s.mu.Lock()
		st, ch := s.snapshot(), s.changed
		s.mu.Unlock()
		if cond(st) {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("osquerytest: waiting: %w (state %+v)", ctx.Err(), st)
		}
	}
}

// WaitRegistered waits for an extension called name and returns its id.
func (s *Server) WaitRegistered(ctx context.Context, name string) (int64, error) {
	var id int64
	err := s.Wait(ctx, func(st State) bool {
		for uuid, e := range st.Extensions {
			if e.Name == name {
				id = uuid
				return true
			}
		}
		return false
	})
	return id, err
}

// Close shuts down like osqueryd: it asks every extension to shut down,
// then stops serving.
func (s *Server) Close() error {
	s.mu.Lock()
	ids := make([]int64, 0, len(s.exts))
	for id := range s.exts {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(s.ctx, time.Second)
			defer cancel()
			_ = s.callExtension(ctx, id, func(ctx context.Context, c *gen.ExtensionClient) error { return c.Shutdown(ctx) })
		})
	}
	wg.Wait()
	return s.Kill()
}

// Kill stops serving without telling extensions, like a crashed osqueryd.
func (s *Server) Kill() error {
	var err error
	s.once.Do(func() {
		close(s.stop)
		s.cancel()
		err = s.srv.Close()
		s.wg.Wait()
		s.conn.Close()
		s.db.Close()
	})
	return err
}

func (s *Server) extPath(id int64) string { return fmt.Sprintf("%s.%d", s.path, id) }

// callExtension calls the extension with route id over a new connection,
// as osqueryd does for every call.
func (s *Server) callExtension(ctx context.Context, id int64, fn func(context.Context, *gen.ExtensionClient) error) error {
	ctx, cancel := context.WithTimeout(ctx, s.callTimeout)
	defer cancel()
	conn, err := wire.Dial(ctx, s.extPath(id))
	if err != nil {
		return err
	}
	defer conn.Close()
	dl, _ := ctx.Deadline()
	conn.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	p := conn.Protocol()
	return fn(ctx, gen.NewExtensionClient(thrift.NewTStandardClient(p, p)))
}
