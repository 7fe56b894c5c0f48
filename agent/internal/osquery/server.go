package osquery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/fleetproof/fleetproof/agent/internal/osquery/gen"
	"github.com/fleetproof/fleetproof/agent/internal/osquery/internal/wire"
)

// MaxManagerSocketPath is the longest manager socket path Serve accepts:
// the extension socket "<path>.<route id>" must still fit in sun_path
// (104 bytes on macOS). Keep the agent's private socket path short.
const MaxManagerSocketPath = wire.MaxManagerPath

var (
	// ErrManagerGone: osqueryd stopped answering pings (it exited or
	// crashed). Its tables are gone with it; register again once it is back.
	ErrManagerGone = errors.New("osquery: extension manager is gone")
	// ErrShutdown: osqueryd asked the extension to stop (it is shutting
	// down).
	ErrShutdown = errors.New("osquery: extension manager requested shutdown")
	// ErrDropped: osqueryd is up but no longer lists this extension, which
	// happens when one of its health-check pings failed.
	ErrDropped = errors.New("osquery: extension manager dropped this extension")
)

const duplicateExtension = "Duplicate extension registered"

// ServeOption tunes Serve.
type ServeOption func(*serveConfig)

type serveConfig struct {
	pingInterval    time.Duration
	callTimeout     time.Duration
	registerTimeout time.Duration
	log             *slog.Logger
	onReady         func(uuid int64)
}

// WithPingInterval sets how often Serve checks that osqueryd still answers
// and still lists the extension (default 5 s, osquery-go's interval).
func WithPingInterval(d time.Duration) ServeOption {
	return func(c *serveConfig) { c.pingInterval = d }
}

// WithCallTimeout bounds each call to the manager (default 10 s).
func WithCallTimeout(d time.Duration) ServeOption {
	return func(c *serveConfig) { c.callTimeout = d }
}

// WithRegisterTimeout bounds how long Serve keeps retrying a registration
// refused as a duplicate (default 30 s). osqueryd reaps a dead extension's
// registration within one --extensions_interval (3 s by default), so a
// restarted agent normally gets in on the first or second retry.
func WithRegisterTimeout(d time.Duration) ServeOption {
	return func(c *serveConfig) { c.registerTimeout = d }
}

// OnReady is called with the route id once the extension is registered and
// answering on its socket, i.e. once osqueryd can use its tables.
func OnReady(f func(uuid int64)) ServeOption {
	return func(c *serveConfig) { c.onReady = f }
}

// WithLogger receives registration retries and shutdown problems.
func WithLogger(l *slog.Logger) ServeOption {
	return func(c *serveConfig) { c.log = l }
}

// Serve registers tables with the osqueryd whose extension manager listens
// on managerSocket, answers osqueryd's calls on "<managerSocket>.<route id>"
// and blocks until ctx ends (it then deregisters and returns nil; ctx.Err()
// if registration had not finished), osqueryd asks it to shut down
// (ErrShutdown), osqueryd goes away (ErrManagerGone) or osqueryd drops the
// registration (ErrDropped). A supervisor restarts it after the errors.
func Serve(ctx context.Context, managerSocket, name, version string, tables []Table, opts ...ServeOption) error {
	cfg := serveConfig{
		pingInterval:    5 * time.Second,
		callTimeout:     10 * time.Second,
		registerTimeout: 30 * time.Second,
		log:             slog.New(slog.DiscardHandler),
	}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.pingInterval <= 0 {
		cfg.pingInterval = 5 * time.Second
	}
	if len(managerSocket) > MaxManagerSocketPath {
		return fmt.Errorf("osquery: manager socket path %q is %d characters, longer than %d: the extension socket would not fit in sun_path",
			managerSocket, len(managerSocket), MaxManagerSocketPath)
	}
	h := &extension{tables: map[string]*Table{}, shutdown: make(chan struct{})}
	// osquery-go also sends the registries it has no plugins for, empty.
	reg := gen.ExtensionRegistry{"table": {}, "config": {}, "logger": {}, "distributed": {}}
	for i := range tables {
		t := &tables[i]
		if err := t.validate(); err != nil {
			return err
		}
		if h.tables[t.Name] != nil {
			return fmt.Errorf("osquery: table %s defined twice", t.Name)
		}
		h.tables[t.Name] = t
		reg["table"][t.Name] = t.routes()
	}

	mgr, err := Dial(ctx, managerSocket, cfg.callTimeout)
	if err != nil {
		return err
	}
	defer mgr.Close()
	info := &gen.InternalExtensionInfo{Name: name, Version: version} // empty sdk_version, like osquery-go
	uuid, err := register(ctx, mgr, info, reg, cfg)
	if err != nil {
		return err
	}
	deregister := func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.callTimeout)
		defer cancel()
		if err := mgr.deregisterExtension(dctx, uuid); err != nil {
			cfg.log.Warn("osquery extension: deregister failed", "name", name, "uuid", uuid, "err", err)
		}
	}

	ln, err := wire.Listen(fmt.Sprintf("%s.%d", managerSocket, uuid))
	if err != nil {
		deregister()
		return fmt.Errorf("osquery: extension socket: %w", err)
	}
	srv := wire.Serve(ln, gen.NewExtensionProcessor(h))
	defer srv.Close()
	if cfg.onReady != nil {
		cfg.onReady(uuid)
	}

	tick := time.NewTicker(cfg.pingInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			deregister()
			return nil
		case <-h.shutdown:
			deregister()
			return ErrShutdown
		case <-tick.C:
			if err := checkManager(ctx, mgr, uuid); err != nil {
				if ctx.Err() != nil {
					continue // cancelled mid-check: deregister on the next pass
				}
				select {
				case <-h.shutdown:
					return ErrShutdown // it told us before it went
				default:
				}
				return err
			}
		}
	}
}

func register(ctx context.Context, mgr *Client, info *gen.InternalExtensionInfo, reg gen.ExtensionRegistry, cfg serveConfig) (int64, error) {
	deadline := time.Now().Add(cfg.registerTimeout)
	backoff := 100 * time.Millisecond
	for {
		st, err := mgr.registerExtension(ctx, info, reg)
		if err != nil {
			return 0, err
		}
		if st.Code == int32(gen.ExtensionCode_EXT_SUCCESS) {
			return int64(st.UUID), nil
		}
		serr := statusErr(st)
		// A previous instance of us that died is still registered until
		// osqueryd's next health check reaps it.
		if st.Message != duplicateExtension || time.Now().Add(backoff).After(deadline) {
			return 0, fmt.Errorf("osquery: register extension %s: %w", info.Name, serr)
		}
		cfg.log.Info("osquery extension: name still registered, retrying", "name", info.Name, "in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, ctx.Err()
		case <-t.C:
		}
		backoff = min(backoff*2, 2*time.Second)
	}
}

// checkManager mirrors both SDKs: osquery-go pings, the C++ SDK looks for
// its own route id in extensions(). Without the second check a dropped
// extension would keep running while its tables are gone.
func checkManager(ctx context.Context, mgr *Client, uuid int64) error {
	if err := mgr.Ping(ctx); err != nil {
		return fmt.Errorf("%w: %w", ErrManagerGone, err)
	}
	exts, err := mgr.Extensions(ctx)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrManagerGone, err)
	}
	if _, ok := exts[uuid]; !ok {
		return ErrDropped
	}
	return nil
}

// extension answers osqueryd's calls (gen.Extension).
type extension struct {
	tables       map[string]*Table
	shutdown     chan struct{}
	shutdownOnce sync.Once
}

func okStatus() *gen.ExtensionStatus { return &gen.ExtensionStatus{Code: 0, Message: "OK"} }

func failed(msg string) *gen.ExtensionResponse {
	return &gen.ExtensionResponse{Status: &gen.ExtensionStatus{Code: int32(gen.ExtensionCode_EXT_FAILED), Message: msg}}
}

// Ping answers osqueryd's health check; any failure makes it drop us.
func (e *extension) Ping(context.Context) (*gen.ExtensionStatus, error) {
	return okStatus(), nil
}

// Call serves osqueryd's table requests.
func (e *extension) Call(ctx context.Context, registry, item string, req gen.ExtensionPluginRequest) (*gen.ExtensionResponse, error) {
	if registry != "table" {
		return failed("Unknown registry: " + registry), nil
	}
	t := e.tables[item]
	if t == nil {
		return failed("Unknown registry item: " + item), nil
	}
	switch action := req["action"]; action {
	case "columns":
		return &gen.ExtensionResponse{Status: okStatus(), Response: t.routes()}, nil
	case "generate":
		qc, err := ParseQueryContext(req["context"])
		if err != nil {
			return failed("error parsing context JSON: " + err.Error()), nil
		}
		rows, err := generate(ctx, t, qc)
		if err != nil {
			// osqueryd fails the whole statement with this message.
			return failed(fmt.Sprintf("error generating table %s: %v", t.Name, err)), nil
		}
		if rows == nil {
			rows = []map[string]string{}
		}
		return &gen.ExtensionResponse{Status: okStatus(), Response: rows}, nil
	default:
		// insert/update/delete are for writable tables, which we don't offer.
		return failed("unknown action: " + action), nil
	}
}

// generate keeps a panicking table from taking the agent down with it.
func generate(ctx context.Context, t *Table, qc QueryContext) (rows []map[string]string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return t.Generate(ctx, qc)
}

// Shutdown is osqueryd stopping; Serve deregisters and returns.
func (e *extension) Shutdown(context.Context) error {
	e.shutdownOnce.Do(func() { close(e.shutdown) })
	return nil
}
