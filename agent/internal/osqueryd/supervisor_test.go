//go:build linux

package osqueryd

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fleetproof/fleetproof/agent/internal/osquery"
	"github.com/fleetproof/fleetproof/agent/internal/osqueryd/osquerydtest"
)

// fake runs the supervisor against this test binary acting as osqueryd
// (see TestMain and osquerydtest).
type fake struct {
	t       *testing.T
	control string
	opts    Options
	events  chan Event
}

func newFake(t *testing.T) *fake {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// A short state dir: the socket lives in it (sun_path is 108 bytes).
	state, err := os.MkdirTemp("", "fpsup")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(state) })
	control := t.TempDir()
	f := &fake{t: t, control: control, events: make(chan Event, 100)}
	f.opts = Options{
		Path: exe, StateDir: state, Env: osquerydtest.Env(control),
		Logger:       slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		StartTimeout: 20 * time.Second, StopTimeout: 5 * time.Second,
		MinBackoff: 50 * time.Millisecond, MaxBackoff: time.Second,
		MemoryInterval: 100 * time.Millisecond,
		OnEvent:        func(e Event) { f.events <- e },
	}
	return f
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func (f *fake) start() *Supervisor {
	f.t.Helper()
	s, err := Start(context.Background(), f.opts)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { s.Stop() })
	return s
}

func (f *fake) touch(name, content string) {
	f.t.Helper()
	if err := os.WriteFile(filepath.Join(f.control, name), []byte(content), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

// next waits for an event of kind, skipping others.
func (f *fake) next(kind EventKind) Event {
	f.t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case e := <-f.events:
			if e.Kind == kind {
				return e
			}
		case <-timeout:
			f.t.Fatalf("no %s event within 30s", kind)
		}
	}
}

func (f *fake) starts() []osquerydtest.Start {
	f.t.Helper()
	st, err := osquerydtest.Starts(f.control)
	if err != nil {
		f.t.Fatal(err)
	}
	return st
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

// queryPID asks the osqueryd on socket for its pid, through the socket.
func queryPID(t *testing.T, socket string) int {
	t.Helper()
	c, err := osquery.Dial(context.Background(), socket, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rows, err := c.Query(context.Background(), "SELECT pid FROM osquery_info")
	if err != nil || len(rows) != 1 {
		t.Fatalf("osquery_info: %v %v", rows, err)
	}
	pid, _ := strconv.Atoi(rows[0]["pid"])
	return pid
}

func TestSupervisorStartsOsquerydAndStopsItWithSIGTERM(t *testing.T) {
	f := newFake(t)
	s := f.start()
	pid := s.PID()
	if got := queryPID(t, s.Socket()); got != pid {
		t.Fatalf("osqueryd on the socket is pid %d, supervised child is %d", got, pid)
	}
	if s.Socket() != filepath.Join(f.opts.StateDir, "osquery.em") {
		t.Errorf("socket %s not in the state dir", s.Socket())
	}
	st := f.starts()
	if len(st) != 1 || st[0].PID != pid || !slices.Equal(st[0].Args, s.Args()) {
		t.Fatalf("starts = %+v, want one with pid %d and args %q", st, pid, s.Args())
	}
	l := s.Layout()
	for path, want := range map[string]string{l.ConfigPath: "{}\n", l.Pidfile: strconv.Itoa(pid), l.Autoload: ""} {
		if b, err := os.ReadFile(path); err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q", path, b, err, want)
		}
	}
	for _, arg := range []string{"--watchdog_memory_limit=200", "--watchdog_utilization_limit=10", "--force", "--disable_events"} {
		if !slices.Contains(s.Args(), arg) {
			t.Errorf("args lack %s", arg)
		}
	}

	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if e := f.next(EventStopped); e.PID != pid {
		t.Errorf("stopped event for %d", e.PID)
	}
	if alive(pid) {
		t.Error("osqueryd still running after Stop")
	}
	if b, _ := os.ReadFile(filepath.Join(f.control, "events")); string(b) != fmt.Sprintf("terminated %d\n", pid) {
		t.Errorf("osqueryd did not see SIGTERM: events %q", b)
	}
	if s.PID() != 0 {
		t.Errorf("PID after Stop = %d", s.PID())
	}
	s.Stop() // again: no-op
}

func TestSupervisorRestartsACrashedOsquerydWithBackoff(t *testing.T) {
	f := newFake(t)
	s := f.start()
	first := s.PID()
	f.next(EventReady)

	f.touch("crash", "")
	if e := f.next(EventExited); e.PID != first || e.Err == nil || !strings.Contains(e.Err.Error(), "exit status 3") {
		t.Fatalf("exit event %+v", e)
	}
	crashed := time.Now()
	second := f.next(EventReady).PID
	firstDelay := time.Since(crashed)
	if second == first || alive(first) {
		t.Fatalf("second pid %d, first %d alive %v", second, first, alive(first))
	}
	if got := queryPID(t, s.Socket()); got != second {
		t.Fatalf("socket answered by %d, want the restarted %d", got, second)
	}

	f.touch("crash", "")
	f.next(EventExited)
	crashed = time.Now()
	third := f.next(EventReady).PID
	secondDelay := time.Since(crashed)
	if third == second || len(f.starts()) != 3 {
		t.Fatalf("third pid %d, starts %d", third, len(f.starts()))
	}
	// 50ms, then 100ms: a crash loop slows down.
	if firstDelay < 50*time.Millisecond || secondDelay < 100*time.Millisecond {
		t.Errorf("restart delays %s, %s; want ≥ 50ms, ≥ 100ms", firstDelay, secondDelay)
	}
}

func TestSupervisorRestartsOsquerydAboveTheMemoryCeiling(t *testing.T) {
	f := newFake(t)
	f.opts.MemoryMB = 120
	s := f.start()
	first := s.PID()
	rss, err := treeRSS(first)
	if err != nil {
		t.Fatal(err)
	}
	if rss > 100<<20 {
		t.Skipf("the fake osqueryd alone uses %d MiB", rss>>20)
	}
	f.touch("alloc", "200")
	e := f.next(EventOverMemory)
	if e.PID != first || e.RSS <= 120<<20 {
		t.Fatalf("over-memory event %+v", e)
	}
	next := f.next(EventReady).PID
	if next == first || alive(first) {
		t.Fatalf("restarted as %d; %d alive %v", next, first, alive(first))
	}
	if b, _ := os.ReadFile(filepath.Join(f.control, "events")); !strings.Contains(string(b), fmt.Sprintf("terminated %d", first)) {
		t.Errorf("the memory kill was not graceful first: events %q", b)
	}
	if got := queryPID(t, s.Socket()); got != next {
		t.Fatalf("socket answered by %d, want %d", got, next)
	}
}

func TestSupervisorKillsOsquerydThatIgnoresSIGTERM(t *testing.T) {
	f := newFake(t)
	f.opts.StopTimeout = 300 * time.Millisecond
	f.touch("ignore-term", "")
	s := f.start()
	pid := s.PID()
	t0 := time.Now()
	s.Stop()
	if d := time.Since(t0); d < 300*time.Millisecond {
		t.Errorf("Stop took %s, less than the SIGTERM grace", d)
	}
	if alive(pid) {
		t.Fatal("osqueryd survived Stop")
	}
	if b, _ := os.ReadFile(filepath.Join(f.control, "events")); len(b) != 0 {
		t.Errorf("events %q: it should have died by SIGKILL", b)
	}
}

func TestStartFailsWhenTheSocketNeverAnswers(t *testing.T) {
	f := newFake(t)
	f.opts.StartTimeout = 500 * time.Millisecond
	f.touch("no-socket", "")
	_, err := Start(context.Background(), f.opts)
	if err == nil || !strings.Contains(err.Error(), "did not answer within 500ms") || !strings.Contains(err.Error(), "fake osqueryd") {
		t.Fatalf("err = %v", err)
	}
	st := f.starts()
	if len(st) != 1 || alive(st[0].PID) {
		t.Fatalf("starts %+v; the child must be gone", st)
	}
}

func TestStartFailsWhenOsquerydExitsAtOnce(t *testing.T) {
	f := newFake(t)
	f.opts.Path = "/bin/false"
	_, err := Start(context.Background(), f.opts)
	if err == nil || !strings.Contains(err.Error(), "exited before its socket answered") {
		t.Fatalf("err = %v", err)
	}
}

func TestStartReplacesAStaleSocketFile(t *testing.T) {
	f := newFake(t)
	stale := filepath.Join(f.opts.StateDir, "osquery.em")
	if err := os.WriteFile(stale, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s := f.start()
	if got := queryPID(t, s.Socket()); got != s.PID() {
		t.Fatalf("socket answered by %d, want %d", got, s.PID())
	}
}
