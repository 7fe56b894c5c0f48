package engine

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fleetproof/fleetproof/agent/internal/builtin"
	"github.com/fleetproof/fleetproof/agent/internal/osquery"
	"github.com/fleetproof/fleetproof/agent/internal/osquery/osquerytest"
	"github.com/fleetproof/fleetproof/agent/internal/osqueryd"
	"github.com/fleetproof/fleetproof/agent/internal/osqueryd/osquerydtest"
)

// aptRoot makes fleetproof_auto_updates deterministic.
const aptRoot = "../builtin/testdata/apt/ubuntu-default"

const autoUpdatesSQL = "SELECT manager, installed, enabled, update_package_lists, config_source FROM fleetproof_auto_updates"

type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// baseOptions never see this machine's osqueryd: the default socket and
// the osqueryd path point nowhere unless a test says otherwise.
func baseOptions(t *testing.T) Options {
	t.Helper()
	state, err := os.MkdirTemp("", "fpeng") // short: the socket lives here
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(state) })
	return Options{
		StateDir:      state,
		DefaultSocket: filepath.Join(state, "no-system-osqueryd.em"),
		OsquerydPath:  filepath.Join(state, "no-osqueryd-here"),
		Version:       "1.2.3-test",
		Builtin:       builtin.New(builtin.Options{Root: aptRoot}),
		Logger:        slog.New(slog.NewTextHandler(logWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		ExtensionWait: 20 * time.Second,
	}
}

// withFakeOsqueryd makes Open start this test binary as osqueryd; the
// returned directory steers and records it (see osquerydtest).
func withFakeOsqueryd(t *testing.T, o *Options) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	control := t.TempDir()
	o.OsquerydPath = exe
	o.Supervise = func(so *osqueryd.Options) {
		so.Env = osquerydtest.Env(control)
		so.MinBackoff = 50 * time.Millisecond
		so.StartTimeout = 20 * time.Second
	}
	return control
}

func open(t *testing.T, o Options) (Engine, func()) {
	t.Helper()
	e, c, err := Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	var closed bool
	closeIt := func() {
		if !closed {
			closed = true
			c.Close()
		}
	}
	t.Cleanup(closeIt)
	return e, closeIt
}

func query(t *testing.T, e Engine, sql string) []map[string]string {
	t.Helper()
	rows, err := e.Query(context.Background(), sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return rows
}

func builtinRows(t *testing.T, sql string) []map[string]string {
	t.Helper()
	return query(t, builtin.New(builtin.Options{Root: aptRoot}), sql)
}

func TestParseMode(t *testing.T) {
	for in, want := range map[string]Mode{"": Auto, "auto": Auto, "osquery": Osquery, "builtin": Builtin} {
		if got, err := ParseMode(in); err != nil || got != want {
			t.Errorf("ParseMode(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseMode("osqueryi"); err == nil {
		t.Error("ParseMode(osqueryi) accepted")
	}
}

func TestBuiltinModeAndAutoWithoutOsqueryd(t *testing.T) {
	for _, mode := range []Mode{Builtin, Auto} {
		o := baseOptions(t)
		o.Mode = mode
		e, _ := open(t, o)
		if e.Name() != "builtin" {
			t.Errorf("%s: engine %s, want builtin (no osqueryd here)", mode, e.Name())
		}
	}
	o := baseOptions(t)
	o.Mode = Osquery
	if _, _, err := Open(context.Background(), o); err == nil || !strings.Contains(err.Error(), "not an executable") {
		t.Errorf("osquery mode without osqueryd: err = %v", err)
	}
}

// A system osqueryd (here the stand-in manager) on the default socket is
// used as it is: nothing is started, and the agent's tables are
// registered into it and answer from the built-in engine.
func TestAttachesToARunningOsqueryd(t *testing.T) {
	sys := osquerytest.New(t, osquerytest.WithPingInterval(200*time.Millisecond))
	if err := sys.Exec(`CREATE TABLE osquery_info (version TEXT); INSERT INTO osquery_info VALUES ('5.99.0-system')`); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		set  func(*Options)
	}{
		{"default socket", func(o *Options) { o.DefaultSocket = sys.Path() }},
		{"configured osquery_socket", func(o *Options) { o.Socket = sys.Path() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := baseOptions(t)
			control := withFakeOsqueryd(t, &o)
			tc.set(&o)
			e, closeIt := open(t, o)
			if e.Name() != "osquery" {
				t.Fatalf("engine %s", e.Name())
			}
			if v := query(t, e, "SELECT version FROM osquery_info"); v[0]["version"] != "5.99.0-system" {
				t.Errorf("osquery_info %v", v)
			}
			if got, want := query(t, e, autoUpdatesSQL), builtinRows(t, autoUpdatesSQL); !reflect.DeepEqual(got, want) || len(want) == 0 {
				t.Errorf("extension table through osqueryd = %v, want %v", got, want)
			}
			if st, _ := osquerydtest.Starts(control); len(st) != 0 {
				t.Errorf("started osqueryd %d times next to a running one", len(st))
			}
			closeIt()
			// Closing deregisters the tables and leaves osqueryd alone.
			if err := sys.Wait(context.Background(), func(s osquerytest.State) bool { return len(s.Extensions) == 0 }); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestConfiguredSocketThatDoesNotAnswer(t *testing.T) {
	o := baseOptions(t)
	control := withFakeOsqueryd(t, &o)
	o.Socket = filepath.Join(o.StateDir, "admins-osqueryd.em")
	e, _ := open(t, o)
	if e.Name() != "builtin" {
		t.Errorf("auto: engine %s, want builtin", e.Name())
	}
	o.Mode, o.ExtensionWait = Osquery, 100*time.Millisecond
	e, _ = open(t, o)
	if e.Name() != "osquery" {
		t.Fatalf("osquery mode: engine %s", e.Name())
	}
	if _, err := e.Query(context.Background(), "SELECT 1"); err == nil {
		t.Error("query to a dead socket succeeded")
	}
	if st, _ := osquerydtest.Starts(control); len(st) != 0 {
		t.Error("osqueryd started although osquery_socket is configured")
	}
}

func childPID(t *testing.T, control string) int {
	t.Helper()
	st, err := osquerydtest.Starts(control)
	if err != nil || len(st) == 0 {
		t.Fatalf("starts: %v %v", st, err)
	}
	return st[len(st)-1].PID
}

// Without a running osqueryd, auto starts one (the stand-in executable),
// registers the agent's tables into it, re-registers them after a crash
// and stops osqueryd on Close.
func TestAutoStartsSupervisedOsqueryd(t *testing.T) {
	o := baseOptions(t)
	control := withFakeOsqueryd(t, &o)
	e, closeIt := open(t, o)
	if e.Name() != "osquery" {
		t.Fatalf("engine %s", e.Name())
	}
	pid := childPID(t, control)
	if got := query(t, e, "SELECT pid FROM osquery_info")[0]["pid"]; got != strconv.Itoa(pid) {
		t.Fatalf("osquery_info.pid %s, want the child %d", got, pid)
	}
	want := builtinRows(t, autoUpdatesSQL)
	if got := query(t, e, autoUpdatesSQL); !reflect.DeepEqual(got, want) {
		t.Fatalf("extension table = %v, want %v", got, want)
	}

	// A crash: the supervisor restarts osqueryd, the engine redials and
	// the extension registers again.
	if err := os.WriteFile(filepath.Join(control, "crash"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := e.Query(context.Background(), autoUpdatesSQL)
		if err == nil && reflect.DeepEqual(got, want) && childPID(t, control) != pid {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tables not back after a crash: %v %v", got, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	second := childPID(t, control)

	closeIt()
	if alive(second) {
		t.Error("osqueryd still running after Close")
	}
	if b, _ := os.ReadFile(filepath.Join(control, "events")); string(b) != fmt.Sprintf("terminated %d\n", second) {
		t.Errorf("events %q, want a SIGTERM for %d", b, second)
	}
}

// A CLI command beside the service: it uses the service's osqueryd and
// tables rather than starting (and --force-killing) another.
func TestSharedUsesTheServicesOsqueryd(t *testing.T) {
	o := baseOptions(t)
	control := withFakeOsqueryd(t, &o)
	_, _ = open(t, o) // the service
	pid := childPID(t, control)

	cli := o
	cli.Shared = true
	e, closeIt := open(t, cli)
	if e.Name() != "osquery" {
		t.Fatalf("engine %s", e.Name())
	}
	if got, want := query(t, e, autoUpdatesSQL), builtinRows(t, autoUpdatesSQL); !reflect.DeepEqual(got, want) {
		t.Errorf("extension table = %v, want %v", got, want)
	}
	closeIt()
	if st, _ := osquerydtest.Starts(control); len(st) != 1 {
		t.Errorf("%d osqueryd starts, want 1", len(st))
	}
	if !alive(pid) {
		t.Errorf("the service's osqueryd died with the CLI command")
	}
}

func TestTablesMirrorBuiltinSchemas(t *testing.T) {
	b := builtin.New(builtin.Options{Root: aptRoot})
	var names []string
	for _, tb := range Tables(b) {
		names = append(names, tb.Name)
		cols, _ := b.Schema(tb.Name)
		if len(cols) != len(tb.Columns) {
			t.Fatalf("%s: %d columns, builtin has %d", tb.Name, len(tb.Columns), len(cols))
		}
		for i, c := range cols {
			if tb.Columns[i].Name != c.Name || string(tb.Columns[i].Type) != c.Type {
				t.Errorf("%s column %d = %+v, builtin %+v", tb.Name, i, tb.Columns[i], c)
			}
		}
		rows, err := tb.Generate(context.Background(), osquery.QueryContext{})
		if err != nil {
			t.Fatal(err)
		}
		if tb.Name == "fleetproof_auto_updates" && len(rows) != 1 {
			t.Errorf("%s: %v", tb.Name, rows)
		}
	}
	sort.Strings(names)
	if !reflect.DeepEqual(names, builtin.ExtensionTables) {
		t.Errorf("tables %v, want %v", names, builtin.ExtensionTables)
	}
}
