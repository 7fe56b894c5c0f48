package osqueryd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/fleetproof/fleetproof/agent/internal/osquery"
)

// Options configure a Supervisor. Zero durations take the defaults noted.
type Options struct {
	Path     string // the osqueryd binary (see Find)
	StateDir string // the agent's state directory
	// Socket overrides the layout's extensions socket (tests).
	Socket string
	// MemoryMB is the memory ceiling (default 200): osquery's watchdog
	// limit, and the supervisor's own check of the resident memory of
	// osqueryd's processes.
	MemoryMB   int
	CPUPercent int      // watchdog utilization limit, default 10
	Env        []string // added to the agent's environment
	Logger     *slog.Logger

	StartTimeout time.Duration // socket up and answering ping; 60s
	StopTimeout  time.Duration // SIGTERM to SIGKILL; 10s
	MinBackoff   time.Duration // first restart delay; 1s
	MaxBackoff   time.Duration // restart delay cap; 2m
	// StableAfter resets the restart delay once a child ran this long; 2m.
	StableAfter time.Duration
	// MemoryInterval is how often the supervisor samples osqueryd's
	// memory (5s); it kills osqueryd when MemoryStrikes (2) samples in a
	// row are above the ceiling, which leaves osquery's own watchdog,
	// which restarts just the worker, time to act first.
	MemoryInterval time.Duration
	MemoryStrikes  int

	// OnEvent, if set, sees every lifecycle event, synchronously.
	OnEvent func(Event)
}

// EventKind names a lifecycle event.
type EventKind string

// Lifecycle events.
const (
	EventStarted    EventKind = "started"     // process started
	EventReady      EventKind = "ready"       // socket answers ping
	EventExited     EventKind = "exited"      // process ended on its own (or was killed for memory)
	EventOverMemory EventKind = "over_memory" // ceiling exceeded; about to kill
	EventStopped    EventKind = "stopped"     // stopped with the supervisor
)

// Event is one step in the supervised osqueryd's life.
type Event struct {
	Kind EventKind
	PID  int
	RSS  int64 // bytes, for EventOverMemory
	Err  error // exit status for EventExited
}

func (o *Options) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if o.MemoryMB <= 0 {
		o.MemoryMB = 200
	}
	if o.CPUPercent <= 0 {
		o.CPUPercent = 10
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	def(&o.StartTimeout, 60*time.Second)
	def(&o.StopTimeout, 10*time.Second)
	def(&o.MinBackoff, time.Second)
	def(&o.MaxBackoff, 2*time.Minute)
	def(&o.StableAfter, 2*time.Minute)
	def(&o.MemoryInterval, 5*time.Second)
	if o.MemoryStrikes <= 0 {
		o.MemoryStrikes = 2
	}
}

// Supervisor runs osqueryd as a child process: it starts it, restarts it
// with exponential backoff when it dies, kills and restarts it when it
// stays above the memory ceiling, and stops it on Stop.
type Supervisor struct {
	o      Options
	layout Layout
	args   []string
	log    *slog.Logger

	ctx    context.Context // ends on Stop
	cancel context.CancelFunc
	done   chan struct{}

	mu  sync.Mutex
	cur *child
}

type child struct {
	cmd     *exec.Cmd
	started time.Time
	exited  chan struct{}
	err     error // Wait's result, set before exited closes
	out     *tail
	prevID  uint64 // socket file identity before the start
	hadPrev bool
	swept   bool // process group killed (only once: its id may be reused)
}

// Start starts osqueryd and returns once its extensions socket answers a
// ping, or with an error (the child is then stopped again). From then on
// the supervisor keeps osqueryd running until Stop.
func Start(ctx context.Context, o Options) (*Supervisor, error) {
	o.defaults()
	if o.Path == "" || o.StateDir == "" {
		return nil, errors.New("osqueryd: supervisor needs the osqueryd path and a state directory")
	}
	l := HostLayout(o.StateDir)
	if o.Socket != "" {
		l.Socket = o.Socket
	}
	if err := prepare(l); err != nil {
		return nil, err
	}
	s := &Supervisor{
		o: o, layout: l, log: o.Logger.With("osqueryd", o.Path),
		args: Flags(runtime.GOOS, l, Limits{MemoryMB: o.MemoryMB, CPUPercent: o.CPUPercent}),
		done: make(chan struct{}),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	stop := context.AfterFunc(ctx, s.cancel) // abandon the first start with ctx
	c, err := s.launch(ctx)
	stop()
	if err != nil {
		s.cancel()
		close(s.done)
		return nil, err
	}
	go s.run(c)
	return s, nil
}

// HostLayout is NewLayout for this machine: a socket path the state dir
// makes too long falls back to /var/run when the agent may write there,
// else to the temp dir.
func HostLayout(stateDir string) Layout {
	runDir := ""
	if writableDir("/var/run") {
		runDir = "/var/run"
	}
	return NewLayout(runtime.GOOS, stateDir, runDir, os.TempDir())
}

// prepare creates the state files osqueryd is pointed at.
func prepare(l Layout) error {
	for _, d := range []string{l.Dir, l.LoggerPath} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("osqueryd: %w", err)
		}
	}
	for path, body := range map[string]string{l.ConfigPath: "{}\n", l.Autoload: ""} {
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			return fmt.Errorf("osqueryd: %w", err)
		}
	}
	return nil
}

// Socket is the supervised osqueryd's extensions socket.
func (s *Supervisor) Socket() string { return s.layout.Socket }

// Layout is where the supervised osqueryd keeps its files.
func (s *Supervisor) Layout() Layout { return s.layout }

// Args is the osqueryd command line, without the program.
func (s *Supervisor) Args() []string { return append([]string(nil), s.args...) }

// PID is the running child's process id, 0 between restarts.
func (s *Supervisor) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil {
		return 0
	}
	return s.cur.cmd.Process.Pid
}

// Stop stops osqueryd (SIGTERM, SIGKILL after StopTimeout) and the
// supervision; it is safe to call more than once.
func (s *Supervisor) Stop() error {
	s.cancel()
	<-s.done
	return nil
}

func (s *Supervisor) emit(e Event) {
	if s.o.OnEvent != nil {
		s.o.OnEvent(e)
	}
}

// launch starts a child and waits until it answers; on failure the child
// is gone when it returns.
func (s *Supervisor) launch(ctx context.Context) (*child, error) {
	c, err := s.spawn()
	if err != nil {
		return nil, err
	}
	if err := s.waitReady(ctx, c); err != nil {
		s.end(c, false)
		return nil, err
	}
	s.log.Info("osqueryd ready", "pid", c.cmd.Process.Pid, "socket", s.layout.Socket)
	s.emit(Event{Kind: EventReady, PID: c.cmd.Process.Pid})
	return c, nil
}

func (s *Supervisor) spawn() (*child, error) {
	c := &child{exited: make(chan struct{}), out: &tail{max: 8 << 10}}
	if id, ok := socketID(s.layout.Socket); ok && runtime.GOOS != "windows" {
		pctx, cancel := context.WithTimeout(s.ctx, 2*time.Second)
		alive := Ping(pctx, s.layout.Socket, 2*time.Second) == nil
		cancel()
		if alive {
			// An osqueryd of ours that outlived its agent: --force makes
			// the new one replace it, on a new socket file.
			c.prevID, c.hadPrev = id, true
		} else {
			_ = os.Remove(s.layout.Socket) // stale: must not look ready
		}
	}
	cmd := exec.Command(s.o.Path, s.args...)
	cmd.Env = append(append(os.Environ(), Env(runtime.GOOS)...), s.o.Env...)
	cmd.Stdout, cmd.Stderr = c.out, c.out
	cmd.SysProcAttr = sysProcAttr()
	cmd.Dir = s.layout.Dir
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("osqueryd: start %s: %w", s.o.Path, err)
	}
	c.cmd, c.started = cmd, time.Now()
	go func() {
		c.err = cmd.Wait()
		close(c.exited)
	}()
	s.mu.Lock()
	s.cur = c
	s.mu.Unlock()
	s.log.Info("osqueryd started", "pid", cmd.Process.Pid)
	s.emit(Event{Kind: EventStarted, PID: cmd.Process.Pid})
	return c, nil
}

// waitReady waits for the socket to be (re)created and to answer ping.
func (s *Supervisor) waitReady(ctx context.Context, c *child) error {
	deadline := time.NewTimer(s.o.StartTimeout)
	defer deadline.Stop()
	delay := 20 * time.Millisecond
	for {
		if id, ok := socketID(s.layout.Socket); ok && (!c.hadPrev || id != c.prevID) {
			pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			err := Ping(pctx, s.layout.Socket, 2*time.Second)
			cancel()
			if err == nil {
				return nil
			}
		}
		t := time.NewTimer(delay)
		select {
		case <-c.exited:
			t.Stop()
			return fmt.Errorf("osqueryd exited before its socket answered (%v)%s", c.err, c.out.suffix())
		case <-deadline.C:
			t.Stop()
			return fmt.Errorf("osqueryd: socket %s did not answer within %s%s", s.layout.Socket, s.o.StartTimeout, c.out.suffix())
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("osqueryd: waiting for socket %s: %w", s.layout.Socket, ctx.Err())
		case <-t.C:
		}
		delay = min(2*delay, 250*time.Millisecond)
	}
}

// run supervises until Stop: restart after exits, kill above the ceiling.
func (s *Supervisor) run(c *child) {
	defer close(s.done)
	backoff := s.o.MinBackoff
	for {
		s.watch(c)
		if s.ctx.Err() != nil {
			s.end(c, true)
			return
		}
		s.end(c, false) // sweep what is left of the group
		if time.Since(c.started) >= s.o.StableAfter {
			backoff = s.o.MinBackoff
		}
		for {
			s.log.Warn("osqueryd restarting", "in", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-s.ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			backoff = min(2*backoff, s.o.MaxBackoff)
			next, err := s.launch(s.ctx)
			if err == nil {
				c = next
				break
			}
			if s.ctx.Err() != nil {
				return
			}
			s.log.Error("osqueryd restart failed", "err", err)
		}
	}
}

// watch returns when the child exited, was killed over the memory
// ceiling, or Stop was called.
func (s *Supervisor) watch(c *child) {
	tick := time.NewTicker(s.o.MemoryInterval)
	defer tick.Stop()
	limit := int64(s.o.MemoryMB) << 20
	strikes := 0
	pid := c.cmd.Process.Pid
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-c.exited:
			s.log.Warn("osqueryd exited", "pid", pid, "status", c.err, "ran", time.Since(c.started).Round(time.Millisecond), "output", c.out.last(512))
			s.emit(Event{Kind: EventExited, PID: pid, Err: c.err})
			return
		case <-tick.C:
			rss, err := treeRSS(pid)
			if err != nil || rss <= limit {
				strikes = 0
				continue
			}
			if strikes++; strikes < s.o.MemoryStrikes {
				continue
			}
			s.log.Warn("osqueryd over its memory ceiling; restarting it", "pid", pid, "rss_mb", rss>>20, "ceiling_mb", s.o.MemoryMB)
			s.emit(Event{Kind: EventOverMemory, PID: pid, RSS: rss})
			s.end(c, true)
			s.emit(Event{Kind: EventExited, PID: pid, Err: c.err})
			return
		}
	}
}

// end makes sure the child and its process group are gone: gracefully
// (SIGTERM, then SIGKILL after StopTimeout) or at once.
func (s *Supervisor) end(c *child, graceful bool) {
	pid := c.cmd.Process.Pid
	if graceful {
		select {
		case <-c.exited:
		default:
			_ = terminate(c.cmd.Process)
			t := time.NewTimer(s.o.StopTimeout)
			select {
			case <-c.exited:
				t.Stop()
			case <-t.C:
				s.log.Warn("osqueryd ignored SIGTERM; killing it", "pid", pid, "after", s.o.StopTimeout)
			}
		}
	}
	if !c.swept {
		c.swept = true
		_ = kill(c.cmd.Process) // the whole group: a worker may outlive its watcher
	}
	<-c.exited
	s.mu.Lock()
	if s.cur == c {
		s.cur = nil
	}
	s.mu.Unlock()
	if graceful && s.ctx.Err() != nil {
		s.log.Info("osqueryd stopped", "pid", pid)
		s.emit(Event{Kind: EventStopped, PID: pid, Err: c.err})
	}
}

// Ping reports whether an osqueryd answers on socket: nil when it does.
func Ping(ctx context.Context, socket string, timeout time.Duration) error {
	if _, ok := socketID(socket); !ok {
		return fmt.Errorf("osqueryd: no socket at %s", socket)
	}
	c, err := osquery.Dial(ctx, socket, timeout)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.Ping(ctx)
}

// tail keeps the last max bytes of osqueryd's output for error messages.
type tail struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tail) last(n int) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.b
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.TrimSpace(string(b))
}

func (t *tail) suffix() string {
	if s := t.last(1024); s != "" {
		return "; its output ends:\n" + s
	}
	return ""
}
