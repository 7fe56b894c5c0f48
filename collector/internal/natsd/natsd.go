package natsd

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/jwt/v2"
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
	// Operator, when set, runs the server in decentralized-auth mode:
	// clients need a user JWT signed by one of Accounts (public key →
	// account JWT), themselves signed by the operator.
	Operator      *jwt.OperatorClaims
	Accounts      map[string]string
	SystemAccount string
	// TLS, when set, makes the server require TLS from clients.
	TLS *tls.Config
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
	if opts.TLS != nil {
		sopts.TLSConfig = opts.TLS
		sopts.TLS = true
		sopts.TLSTimeout = 5
	}
	if opts.Operator != nil {
		res := &server.MemAccResolver{}
		for pub, tok := range opts.Accounts {
			if err := res.Store(pub, tok); err != nil {
				return nil, fmt.Errorf("natsd: start: account %s: %w", pub, err)
			}
		}
		sopts.TrustedOperators = []*jwt.OperatorClaims{opts.Operator}
		sopts.AccountResolver = res
		sopts.SystemAccount = opts.SystemAccount
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

// UpdateAccount applies a re-signed account JWT (e.g. with a new
// revocation) to the running server; revoked users are disconnected.
func (s *Server) UpdateAccount(token string) error {
	ac, err := jwt.DecodeAccountClaims(token)
	if err != nil {
		return fmt.Errorf("natsd: update account: %w", err)
	}
	res := s.ns.AccountResolver()
	if res == nil {
		return errors.New("natsd: update account: server is not in operator mode")
	}
	if err := res.Store(ac.Subject, token); err != nil {
		return fmt.Errorf("natsd: update account: %w", err)
	}
	acc, err := s.ns.LookupAccount(ac.Subject)
	if err != nil {
		return fmt.Errorf("natsd: update account: %w", err)
	}
	s.ns.UpdateAccountClaims(acc, ac)
	return nil
}

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
