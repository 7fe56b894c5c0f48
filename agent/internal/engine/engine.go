package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fleetproof/fleetproof/agent/internal/builtin"
	"github.com/fleetproof/fleetproof/agent/internal/checks"
	"github.com/fleetproof/fleetproof/agent/internal/osquery"
	"github.com/fleetproof/fleetproof/agent/internal/osqueryd"
)

// Engine answers check SQL; Name() is what every result records.
type Engine = checks.Engine

// Mode selects the engine.
type Mode string

// Engine modes (config key engine).
const (
	Auto    Mode = "auto"    // osqueryd when reachable or startable, else builtin
	Osquery Mode = "osquery" // osqueryd or an error
	Builtin Mode = "builtin" // the built-in engine only
)

// ParseMode accepts auto, osquery or builtin; "" is auto.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case "":
		return Auto, nil
	case Auto, Osquery, Builtin:
		return m, nil
	}
	return "", fmt.Errorf("engine %q is not one of auto, osquery, builtin", s)
}

// Options configure Open.
type Options struct {
	Mode Mode
	// Socket is the extensions socket of an osqueryd run by someone else
	// (config osquery_socket). When set, the agent never starts osqueryd.
	Socket       string
	OsquerydPath string // config osqueryd_path; "" searches PATH and the install paths
	MemoryMB     int    // config osquery_memory_mb; 0 means 200
	StateDir     string // where a supervised osqueryd keeps its files
	Version      string // the agent's, reported with its extension
	Logger       *slog.Logger
	// Shared is for short-lived commands (query, run-checks): when the
	// agent service already supervises an osqueryd in StateDir, use it
	// instead of starting another (whose --force would kill the service's).
	Shared bool
	// Builtin is the built-in engine, also behind the extension tables;
	// nil means builtin.New with defaults.
	Builtin *builtin.Engine
	// DefaultSocket is where a system osqueryd listens; "" means
	// osqueryd.DefaultSocket() (/var/osquery/osquery.em).
	DefaultSocket string
	// ExtensionWait bounds how long Open waits for the agent's tables to
	// be registered in osqueryd (0 means 10s, negative not at all);
	// registration goes on in the background after that.
	ExtensionWait time.Duration
	// QueryTimeout bounds one call to osqueryd (default osquery.DefaultTimeout).
	QueryTimeout time.Duration
	// Supervise adjusts the supervisor's options (tests).
	Supervise func(*osqueryd.Options)
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

var nopCloser = closerFunc(func() error { return nil })

// Open returns the engine o.Mode asks for and a Closer that releases it:
// it stops the agent's extension and, if the agent started osqueryd,
// osqueryd too. In auto mode it prefers, in order: the configured
// osquery_socket if it answers (if it does not, the built-in engine: the
// agent never competes with an osqueryd someone else runs); a system
// osqueryd on the default socket; with Shared, the agent service's own
// osqueryd; a newly started supervised osqueryd; the built-in engine.
func Open(ctx context.Context, o Options) (Engine, io.Closer, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Builtin == nil {
		o.Builtin = builtin.New(builtin.Options{})
	}
	if o.DefaultSocket == "" {
		o.DefaultSocket = osqueryd.DefaultSocket()
	}
	if o.ExtensionWait == 0 {
		o.ExtensionWait = 10 * time.Second
	}
	mode, err := ParseMode(string(o.Mode))
	if err != nil {
		return nil, nil, err
	}
	log := o.Logger
	if mode == Builtin {
		return o.Builtin, nopCloser, nil
	}
	fallback := func(why error) (Engine, io.Closer, error) {
		if mode == Osquery {
			return nil, nil, why
		}
		lvl := slog.LevelWarn
		if errors.Is(why, osqueryd.ErrNotFound) {
			lvl = slog.LevelInfo // expected on hosts without osquery
		}
		log.Log(ctx, lvl, "osqueryd not available; using the built-in engine", "reason", why)
		return o.Builtin, nopCloser, nil
	}
	answers := func(socket string) bool {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		return osqueryd.Ping(pctx, socket, 5*time.Second) == nil
	}

	if o.Socket != "" {
		if answers(o.Socket) {
			log.Info("using osqueryd", "socket", o.Socket, "managed_by", "osquery_socket")
			return attach(ctx, o, o.Socket, nil, nil)
		}
		if mode == Osquery {
			// It may come up later: queries fail until it does.
			log.Warn("osquery_socket does not answer yet; checks fail until it does", "socket", o.Socket)
			o.ExtensionWait = -1 // nothing to register with yet: do not wait
			return attach(ctx, o, o.Socket, nil, nil)
		}
		return fallback(fmt.Errorf("osquery_socket %s does not answer", o.Socket))
	}
	if answers(o.DefaultSocket) {
		log.Info("using osqueryd", "socket", o.DefaultSocket, "managed_by", "system")
		return attach(ctx, o, o.DefaultSocket, nil, nil)
	}
	if o.StateDir == "" {
		return fallback(errors.New("no state directory to run osqueryd in"))
	}
	if o.Shared {
		own := osqueryd.HostLayout(o.StateDir).Socket
		if answers(own) {
			log.Info("using osqueryd", "socket", own, "managed_by", "agent service")
			return attach(ctx, o, own, nil, nil)
		}
	}
	path, err := osqueryd.Find(o.OsquerydPath)
	if err != nil {
		return fallback(err)
	}
	so := osqueryd.Options{Path: path, StateDir: o.StateDir, MemoryMB: o.MemoryMB, Logger: log}
	if o.Supervise != nil {
		o.Supervise(&so)
	}
	var ext atomic.Pointer[extension]
	prev := so.OnEvent
	so.OnEvent = func(e osqueryd.Event) {
		if prev != nil {
			prev(e)
		}
		if x := ext.Load(); x != nil && e.Kind == osqueryd.EventReady {
			x.restarted()
		}
	}
	sup, err := osqueryd.Start(ctx, so)
	if err != nil {
		return fallback(err)
	}
	return attach(ctx, o, sup.Socket(), sup, &ext)
}

// attach returns an osquery engine on socket with the agent's extension
// tables being registered there; publish, if set, receives the extension
// so the supervisor can report restarts to it.
func attach(ctx context.Context, o Options, socket string, sup *osqueryd.Supervisor, publish *atomic.Pointer[extension]) (Engine, io.Closer, error) {
	eng := &osquery.Engine{Socket: socket, Timeout: o.QueryTimeout}
	ext := startExtension(socket, o.Builtin, o.Version, o.Logger)
	if publish != nil {
		publish.Store(ext)
	}
	t := time.NewTimer(max(o.ExtensionWait, 0))
	select {
	case <-ext.ready:
	case <-t.C:
		o.Logger.Warn("agent tables not registered in osqueryd yet; queries naming them fail until they are",
			"socket", socket, "waited", max(o.ExtensionWait, 0))
	case <-ctx.Done():
	}
	t.Stop()
	var once sync.Once
	return eng, closerFunc(func() error {
		once.Do(func() {
			ext.stop()
			eng.Close()
			if sup != nil {
				sup.Stop()
			}
		})
		return nil
	}), nil
}
