package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"

	ks "github.com/kardianos/service"
)

// Work is the agent itself. It must return soon after ctx is done; an
// error it returns on its own makes the process exit non-zero so the
// service manager restarts it.
type Work func(ctx context.Context, log *slog.Logger) error

// Run runs work as the service named by o, or in the foreground when
// started from a terminal. It returns when the service manager stops the
// agent, on SIGTERM or SIGINT, when ctx ends, or when work returns on its
// own. Logs go to the platform logger under a service manager and to
// stderr otherwise.
func Run(ctx context.Context, o Options, level slog.Level, stderr io.Writer, work Work) error {
	cfg, err := Definition(o, ks.Platform())
	if err != nil {
		return err
	}
	p := newProgram(ctx, work, StopTimeout)
	// RunWait replaces kardianos' wait for SIGTERM/SIGINT on Unix, so that
	// an agent failing on its own also ends Run (and the process) instead
	// of leaving a live process that does nothing.
	cfg.Option["RunWait"] = p.wait
	s, err := ks.New(p, cfg)
	if err != nil {
		return err
	}
	p.log = newLogger(s, ks.Interactive(), level, stderr)
	if runtime.GOOS == "windows" {
		// The Windows dispatcher has no RunWait: it only returns when the
		// SCM says stop. Exiting is the one way to tell the SCM the agent
		// died, which then applies the recovery action (restart in 5 s).
		go p.exitIfWorkEndsOnItsOwn(os.Exit)
	}
	return s.Run()
}

// newLogger picks where logs go: the platform logger when a service
// manager runs the agent (nobody reads its stderr on Windows or macOS, and
// on Linux syslog reaches the journal too), stderr from a terminal, and
// stderr again when the platform logger cannot be opened (a container
// without /dev/log).
func newLogger(s ks.Service, interactive bool, level slog.Level, stderr io.Writer) *slog.Logger {
	console := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if interactive {
		return console
	}
	sl, err := s.SystemLogger(nil)
	if err != nil {
		console.Warn("platform logger unavailable; logging to stderr", "err", err)
		return console
	}
	return slog.New(NewHandler(sl, &slog.HandlerOptions{Level: level}))
}

// program adapts Work to kardianos' Start/Stop interface.
type program struct {
	parent      context.Context
	work        Work
	log         *slog.Logger
	stopTimeout time.Duration

	ctx      context.Context
	cancel   context.CancelFunc
	done     chan struct{} // closed when work has returned
	err      error         // work's result, valid after done
	stopping atomic.Bool   // Stop was called: work ending is expected
}

func newProgram(parent context.Context, work Work, stopTimeout time.Duration) *program {
	ctx, cancel := context.WithCancel(parent)
	return &program{
		parent: parent, work: work, log: slog.New(slog.DiscardHandler), stopTimeout: stopTimeout,
		ctx: ctx, cancel: cancel, done: make(chan struct{}),
	}
}

// Start launches work and returns at once: service managers expect the
// start to be acknowledged quickly.
func (p *program) Start(ks.Service) error {
	go func() {
		defer close(p.done)
		p.err = p.work(p.ctx, p.log)
	}()
	return nil
}

// Stop cancels work and waits for it, at most stopTimeout. Past the bound
// the process exits anyway: the spool is crash-safe, and a service manager
// would kill a slower agent regardless.
func (p *program) Stop(ks.Service) error {
	p.stopping.Store(true)
	select {
	case <-p.done:
		// Either work failed on its own (its error is the result) or the
		// caller's context already stopped it (a signal reached the CLI
		// first); only the latter is a requested stop.
		if p.parent.Err() != nil {
			p.log.Info("stopping the agent", "timeout", p.stopTimeout)
		}
	default:
		p.log.Info("stopping the agent", "timeout", p.stopTimeout)
	}
	p.cancel()
	t := time.NewTimer(p.stopTimeout)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
		return fmt.Errorf("agent did not stop within %s; exiting anyway", p.stopTimeout)
	}
	if p.err != nil && !errors.Is(p.err, context.Canceled) {
		return p.err
	}
	p.log.Info("agent stopped cleanly")
	return nil
}

// wait blocks until a stop is asked for (SIGTERM from systemd, SysV or
// launchd; SIGINT from a terminal; the caller's context) or work has ended
// on its own.
func (p *program) wait() {
	ctx, stop := signal.NotifyContext(p.parent, syscall.SIGTERM, os.Interrupt)
	defer stop()
	select {
	case <-ctx.Done():
	case <-p.done:
	}
}

// exitIfWorkEndsOnItsOwn exits the process with status 1 when work returns
// without a stop having been asked for.
func (p *program) exitIfWorkEndsOnItsOwn(exit func(int)) {
	<-p.done
	if p.stopping.Load() || p.parent.Err() != nil {
		return
	}
	p.log.Error("agent stopped unexpectedly; exiting so the service manager restarts it", "err", p.err)
	exit(1)
}
