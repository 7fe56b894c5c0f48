package natsd

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Options configure the embedded server.
type Options struct {
	// StoreDir holds JetStream's file storage; it must be set, or JetStream
	// would write to a temporary directory and lose evidence on restart.
	StoreDir string
	// Listen is host:port for clients (agents). Port 0 picks a free port.
	Listen string
	// ServerName names the node in logs and cluster views.
	ServerName string
	Logger     *slog.Logger
	// ReadyTimeout bounds the wait for the server to accept clients.
	ReadyTimeout time.Duration
	// MaxPayload bounds one message; envelopes are batched, so it is well
	// above NATS' 1 MiB default.
	MaxPayload int32
}

// Server is a running embedded NATS server.
type Server struct {
	ns *server.Server
}

// Start starts the server and waits until it accepts connections.
func Start(opts Options) (*Server, error) {
	if opts.StoreDir == "" {
		return nil, errors.New("natsd: start: StoreDir is required")
	}
	if err := os.MkdirAll(opts.StoreDir, 0o700); err != nil {
		return nil, fmt.Errorf("natsd: start: %w", err)
	}
	if opts.Listen == "" {
		opts.Listen = "127.0.0.1:4222"
	}
	host, portStr, err := net.SplitHostPort(opts.Listen)
	if err != nil {
		return nil, fmt.Errorf("natsd: start: listen address %q: %w", opts.Listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("natsd: start: listen port %q: %w", portStr, err)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = 10 * time.Second
	}
	if opts.MaxPayload == 0 {
		opts.MaxPayload = 8 << 20
	}
	sopts := &server.Options{
		ServerName: opts.ServerName,
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   opts.StoreDir,
		MaxPayload: opts.MaxPayload,
		NoSigs:     true, // the collector owns signal handling
	}
	ns, err := server.NewServer(sopts)
	if err != nil {
		return nil, fmt.Errorf("natsd: start: %w", err)
	}
	if opts.Logger != nil {
		ns.SetLoggerV2(&logAdapter{opts.Logger.With("component", "nats")}, false, false, false)
	}
	go ns.Start()
	if !ns.ReadyForConnections(opts.ReadyTimeout) {
		ns.Shutdown()
		return nil, fmt.Errorf("natsd: start: not ready after %s", opts.ReadyTimeout)
	}
	return &Server{ns: ns}, nil
}

// ClientURL is the URL clients connect to.
func (s *Server) ClientURL() string { return s.ns.ClientURL() }

// Shutdown stops the server and waits for it to finish.
func (s *Server) Shutdown() {
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
}

// logAdapter routes the server's log lines to slog.
type logAdapter struct{ l *slog.Logger }

func (a *logAdapter) Noticef(format string, v ...any) { a.l.Debug(fmt.Sprintf(format, v...)) }
func (a *logAdapter) Warnf(format string, v ...any)   { a.l.Warn(fmt.Sprintf(format, v...)) }
func (a *logAdapter) Fatalf(format string, v ...any)  { a.l.Error(fmt.Sprintf(format, v...)) }
func (a *logAdapter) Errorf(format string, v ...any)  { a.l.Error(fmt.Sprintf(format, v...)) }
func (a *logAdapter) Debugf(format string, v ...any)  { a.l.Debug(fmt.Sprintf(format, v...)) }
func (a *logAdapter) Tracef(format string, v ...any)  {}
