package chserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Options configures a managed server. Zero values are usable except Dir.
type Options struct {
	Dir          string // data dir; config, data, tmp and logs go under it (created 0700)
	Binary       string // "" finds one; see Find
	Host         string // listen address, default 127.0.0.1; must be loopback
	TCPPort      int    // native protocol; 0 picks a free port
	HTTPPort     int    // 0 picks a free port
	Logger       *slog.Logger
	StartTimeout time.Duration // default 30s
}

const (
	// How long Stop waits after SIGTERM. 18.16 takes about 1 s to shut down
	// idle; a much longer wait means it is stuck, and a SIGKILL loses
	// nothing that was acknowledged (inserted parts are already on disk).
	stopGrace = 10 * time.Second
	// A failed bind is the one start failure a new port fixes: a free port
	// we picked can be taken before the server binds it.
	portAttempts = 4
	pollInterval = 50 * time.Millisecond
)

// Server is a running (or stopped) clickhouse-server child process.
type Server struct {
	bin      string
	args     []string
	lay      layout
	host     string
	tcpPort  int
	httpPort int
	autoTCP  bool
	autoHTTP bool
	timeout  time.Duration
	log      *slog.Logger
	life     sync.Mutex // serialises Stop and Restart
	cur      atomic.Pointer[proc]
}

// proc is one run of the process; Restart makes a new one so Done channels
// handed out earlier still describe the run they were taken from.
type proc struct {
	cmd      *exec.Cmd
	done     chan struct{}
	err      error       // Wait's result; read only after done is closed
	expected atomic.Bool // we asked it to exit, so exiting is not a crash
	ready    atomic.Bool
	outOff   int64 // log sizes at launch, so errors show only this run's lines
	errOff   int64
}

// Start writes the config under opts.Dir, launches the server and returns
// once it answers both HTTP /ping and a native-protocol ping. If it exits
// or ctx ends first, the process is killed and the error carries the tail
// of its logs.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if opts.Dir == "" {
		return nil, errors.New("chserver: Options.Dir is required")
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("chserver: %w", err)
	}
	host, err := loopbackHost(opts.Host)
	if err != nil {
		return nil, err
	}
	bin, args, err := Find(opts.Binary)
	if err != nil {
		return nil, fmt.Errorf("chserver: %w", err)
	}
	s := &Server{
		bin: bin, args: args, lay: newLayout(dir), host: host,
		tcpPort: opts.TCPPort, httpPort: opts.HTTPPort,
		autoTCP: opts.TCPPort == 0, autoHTTP: opts.HTTPPort == 0,
		timeout: opts.StartTimeout, log: opts.Logger,
	}
	if s.timeout <= 0 {
		s.timeout = 30 * time.Second
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if err := s.lay.mkdirs(); err != nil {
		return nil, fmt.Errorf("chserver: data dir %s is not usable: %w", dir, err)
	}
	for attempt := 1; ; attempt++ {
		if err := s.pickPorts(); err != nil {
			return nil, err
		}
		retry, err := s.launch(ctx)
		if err == nil {
			return s, nil
		}
		// With a port fixed by the caller we can't tell whose port was
		// taken, and moving a fixed port would be wrong anyway.
		if !retry || attempt == portAttempts || !s.autoTCP || !s.autoHTTP {
			return nil, err
		}
		s.log.Warn("clickhouse could not bind its ports; retrying with new ones", "attempt", attempt, "err", err)
	}
}

// Addr is the native-protocol address, host:port.
func (s *Server) Addr() string { return net.JoinHostPort(s.host, strconv.Itoa(s.tcpPort)) }

// HTTPAddr is the HTTP interface address, host:port.
func (s *Server) HTTPAddr() string { return net.JoinHostPort(s.host, strconv.Itoa(s.httpPort)) }

// DSN is a clickhouse-go DSN for the default database.
func (s *Server) DSN() string { return "clickhouse://" + s.Addr() + "/default" }

// Dir is the absolute data dir.
func (s *Server) Dir() string { return s.lay.dir }

// Pid is the process id of the current (or last) run, for metrics and
// resource checks.
func (s *Server) Pid() int { return s.cur.Load().cmd.Process.Pid }

// Done is closed when the current run's process exits. After Restart, call
// it again for the new run.
func (s *Server) Done() <-chan struct{} { return s.cur.Load().done }

// Stop asks the server to shut down (SIGTERM) and waits; if it has not
// exited when ctx ends or after 10s, it is killed. Stopping a stopped
// server is a no-op.
func (s *Server) Stop(ctx context.Context) error {
	s.life.Lock()
	defer s.life.Unlock()
	return s.stop(ctx)
}

func (s *Server) stop(ctx context.Context) error {
	p := s.cur.Load()
	if p.exited() {
		return nil
	}
	p.expected.Store(true)
	if err := signalGroup(p.cmd.Process, false); err != nil && !p.exited() {
		return fmt.Errorf("chserver: stop: %w", err)
	}
	grace := time.NewTimer(stopGrace)
	defer grace.Stop()
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
	case <-grace.C:
	}
	s.log.Warn("clickhouse did not exit after SIGTERM; killing it", "pid", p.cmd.Process.Pid)
	_ = signalGroup(p.cmd.Process, true)
	<-p.done
	return nil
}

// Kill ends the server with SIGKILL, like a crash or power loss, and waits
// for the process to be gone. Meant for outage tests.
func (s *Server) Kill() error {
	p := s.cur.Load()
	if p.exited() {
		return nil
	}
	p.expected.Store(true)
	if err := signalGroup(p.cmd.Process, true); err != nil && !p.exited() {
		return fmt.Errorf("chserver: kill: %w", err)
	}
	<-p.done
	return nil
}

// Restart stops the server if it is running and starts it again with the
// same dir and ports, so existing DSNs keep working. It fails rather than
// moving if a port has been taken meanwhile.
func (s *Server) Restart(ctx context.Context) error {
	s.life.Lock()
	defer s.life.Unlock()
	if err := s.stop(ctx); err != nil {
		return err
	}
	_, err := s.launch(ctx)
	return err
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// launch runs one process and waits for readiness. retry reports that it
// failed to bind a port.
func (s *Server) launch(ctx context.Context) (retry bool, err error) {
	if err := s.lay.writeConfig(s.host, s.tcpPort, s.httpPort); err != nil {
		return false, fmt.Errorf("chserver: data dir %s is not usable: %w", s.lay.dir, err)
	}
	// The child gets its own descriptor for the file, so no copying
	// goroutine sits between it and the disk, and it never sees EPIPE if
	// we go away first.
	out, err := os.OpenFile(s.lay.stderrLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return false, fmt.Errorf("chserver: data dir %s is not usable: %w", s.lay.dir, err)
	}
	defer out.Close()

	p := &proc{done: make(chan struct{}), outOff: fileSize(s.lay.stderrLog), errOff: fileSize(s.lay.errLog)}
	p.cmd = exec.Command(s.bin, append(slices.Clone(s.args), "--config-file="+s.lay.config)...)
	p.cmd.Dir = s.lay.dir
	p.cmd.Stdout, p.cmd.Stderr = out, out
	// Current versions fork a watchdog parent by default; we are the
	// watchdog, and signals and Pdeathsig must reach the real server.
	p.cmd.Env = append(os.Environ(), "CLICKHOUSE_WATCHDOG_ENABLE=0")
	p.cmd.SysProcAttr = sysProcAttr()
	began := time.Now()
	if err := p.cmd.Start(); err != nil {
		return false, fmt.Errorf("chserver: start %s: %w", s.bin, err)
	}
	s.cur.Store(p)
	go s.wait(p)

	if err := s.waitReady(ctx, p); err != nil {
		p.expected.Store(true)
		_ = signalGroup(p.cmd.Process, true)
		<-p.done
		return strings.Contains(err.Error(), "Address already in use"), err
	}
	p.ready.Store(true)
	s.log.Info("clickhouse ready", "addr", s.Addr(), "pid", p.cmd.Process.Pid, "took", time.Since(began).Round(time.Millisecond))
	return false, nil
}

func (s *Server) wait(p *proc) {
	p.err = p.cmd.Wait()
	close(p.done)
	if p.ready.Load() && !p.expected.Load() {
		s.log.Error("clickhouse exited unexpectedly", "pid", p.cmd.Process.Pid, "err", p.err, "log", s.tail(p))
	}
}

// waitReady needs both probes: /ping answers as soon as the HTTP handler
// is up, while the native port is what the collector actually uses.
func (s *Server) waitReady(ctx context.Context, p *proc) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr:         []string{s.Addr()},
		Auth:         clickhouse.Auth{Database: "default", Username: "default"},
		DialTimeout:  time.Second,
		MaxOpenConns: 1,
	})
	if err != nil {
		return fmt.Errorf("chserver: %w", err)
	}
	defer conn.Close()
	// A probe can hang on a port someone else holds; the process exiting
	// (typically: it could not bind that port) must end it at once.
	pctx, cancelProbes := context.WithCancel(ctx)
	defer cancelProbes()
	go func() {
		select {
		case <-p.done:
			cancelProbes()
		case <-pctx.Done():
		}
	}()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		probeErr := s.probe(pctx, hc, conn)
		// Checked even after a successful probe: a process that failed to
		// bind may be exiting while something else answers on the port.
		if p.exited() {
			return fmt.Errorf("chserver: %s exited before it was ready (%v)%s", s.bin, p.err, s.tail(p))
		}
		if probeErr == nil {
			return nil
		}
		select {
		case <-p.done:
		case <-ctx.Done():
			return fmt.Errorf("chserver: %s not ready on %s after %s: %v (last probe: %v)%s",
				s.bin, s.Addr(), s.timeout, ctx.Err(), probeErr, s.tail(p))
		case <-tick.C:
		}
	}
}

func (s *Server) probe(ctx context.Context, hc *http.Client, conn driver.Conn) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.HTTPAddr()+"/ping", nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64))
	resp.Body.Close()
	if strings.TrimSpace(string(body)) != "Ok." {
		return fmt.Errorf("/ping answered %d %q", resp.StatusCode, body)
	}
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return conn.Ping(pctx)
}

func (s *Server) pickPorts() error {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	// Both listeners stay open until both ports are known, so the two
	// can't be the same port.
	for _, port := range []*int{&s.tcpPort, &s.httpPort} {
		if port == &s.tcpPort && !s.autoTCP || port == &s.httpPort && !s.autoHTTP {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort(s.host, "0"))
		if err != nil {
			return fmt.Errorf("chserver: pick a free port on %s: %w", s.host, err)
		}
		ls = append(ls, l)
		*port = l.Addr().(*net.TCPAddr).Port
	}
	return nil
}

// loopbackHost refuses anything reachable from the network: the default
// user has no password.
func loopbackHost(h string) (string, error) {
	if h == "" || h == "localhost" {
		return "127.0.0.1", nil
	}
	ip := net.ParseIP(h)
	if ip == nil || !ip.IsLoopback() {
		return "", fmt.Errorf("chserver: Host %q is not a loopback IP address; the managed server has a passwordless user and must only listen on loopback", h)
	}
	return ip.String(), nil
}

// tail returns the end of what this run wrote to stderr and the error log.
// 18.16 sends almost nothing to stderr once its logger is set up, so the
// error log is where the reason for an exit usually is.
func (s *Server) tail(p *proc) string {
	var b strings.Builder
	for _, f := range []struct {
		path string
		off  int64
	}{{s.lay.stderrLog, p.outOff}, {s.lay.errLog, p.errOff}} {
		if t := readTail(f.path, f.off, 2048); t != "" {
			fmt.Fprintf(&b, "\n--- %s ---\n%s", f.path, t)
		}
	}
	return b.String()
}

func readTail(path string, from int64, max int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return ""
	}
	if from > fi.Size() { // rotated since launch
		from = 0
	}
	cut := fi.Size()-from > max
	if cut {
		from = fi.Size() - max
	}
	buf := make([]byte, fi.Size()-from)
	n, _ := f.ReadAt(buf, from)
	t := string(buf[:n])
	if i := strings.IndexByte(t, '\n'); cut && i >= 0 {
		t = t[i+1:] // drop the partial first line
	}
	return strings.TrimRight(t, "\n")
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}
