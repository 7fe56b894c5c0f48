// Package osquerydtest is a stand-in osqueryd executable for tests: a test
// binary that calls MainIfFake from TestMain becomes, when re-executed with
// the environment from Env, a fake osqueryd. It parses the osqueryd flags
// the supervisor passes (unknown flags are fatal, as in osqueryd), writes
// its pidfile, creates --database_path, checks that --config_path is a JSON
// object, and serves the stand-in extension manager (osquerytest) on
// --extensions_socket, with osquery_info answering its own pid.
//
// The test steers it through files in the control directory:
//
//   - starts: one JSON line per start (pid and arguments), written by it.
//   - events: "terminated <pid>" lines, written by it on SIGTERM.
//   - crash: it exits with status 3 without cleaning up (the file is
//     removed first, so only one instance crashes).
//   - alloc: holds a number of MiB it allocates and keeps resident.
//   - ignore-term: it ignores SIGTERM (the supervisor must SIGKILL it).
//   - no-socket: it never serves its socket.
package osquerydtest

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/fleetproof/fleetproof/agent/internal/osquery/osquerytest"
)

// Environment variables that turn a test binary into the fake.
const (
	EnvSwitch  = "FLEETPROOF_FAKE_OSQUERYD"
	EnvControl = "FLEETPROOF_FAKE_OSQUERYD_CONTROL"
)

// Env returns the environment entries that make a re-executed test binary
// act as osqueryd, steered through controlDir.
func Env(controlDir string) []string {
	return []string{EnvSwitch + "=1", EnvControl + "=" + controlDir}
}

// Start is one line of the control directory's "starts" file.
type Start struct {
	PID  int      `json:"pid"`
	Args []string `json:"args"`
}

// Starts reads the "starts" file of controlDir.
func Starts(controlDir string) ([]Start, error) {
	b, err := os.ReadFile(filepath.Join(controlDir, "starts"))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Start
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var s Start
		if err := json.Unmarshal([]byte(line), &s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// MainIfFake runs the fake osqueryd and exits when the environment asks
// for it; otherwise it returns at once. Call it first thing in TestMain.
func MainIfFake() {
	if os.Getenv(EnvSwitch) == "" {
		return
	}
	os.Exit(run(os.Args[1:], os.Getenv(EnvControl)))
}

func run(args []string, control string) int {
	fs := flag.NewFlagSet("osqueryd", flag.ContinueOnError)
	str := func(name string) *string { return fs.String(name, "", "") }
	socket, pidfile, dbPath, configPath := str("extensions_socket"), str("pidfile"), str("database_path"), str("config_path")
	for _, name := range []string{"extensions_autoload", "extensions_timeout", "extensions_interval", "config_plugin",
		"logger_plugin", "logger_path", "host_identifier", "watchdog_memory_limit", "watchdog_utilization_limit"} {
		str(name)
	}
	for _, name := range []string{"disable_extensions", "disable_events", "disable_distributed", "force", "allow_unsafe", "verbose"} {
		fs.Bool(name, false, "")
	}
	if err := fs.Parse(args); err != nil {
		return 1 // osqueryd refuses unknown flags too
	}
	if fs.NArg() > 0 || *socket == "" || *pidfile == "" || *dbPath == "" {
		fmt.Fprintf(os.Stderr, "fake osqueryd: bad command line %q\n", args)
		return 1
	}
	if b, err := os.ReadFile(*configPath); err != nil || !json.Valid(b) || !strings.HasPrefix(strings.TrimSpace(string(b)), "{") {
		fmt.Fprintf(os.Stderr, "fake osqueryd: config %s is not a JSON object: %v\n", *configPath, err)
		return 1
	}
	if err := os.MkdirAll(*dbPath, 0o700); err != nil {
		fmt.Fprintln(os.Stderr, "fake osqueryd:", err)
		return 1
	}
	pid := os.Getpid()
	line, _ := json.Marshal(Start{PID: pid, Args: args})
	appendFile(filepath.Join(control, "starts"), string(line)+"\n")
	if err := os.WriteFile(*pidfile, []byte(strconv.Itoa(pid)), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "fake osqueryd:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "fake osqueryd %d: starting on %s\n", pid, *socket)

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	var srv *osquerytest.Server
	if !exists(filepath.Join(control, "no-socket")) {
		var err error
		srv, err = osquerytest.Start(*socket, osquerytest.WithPingInterval(200*time.Millisecond),
			osquerytest.WithExtensionsTimeout(5*time.Second))
		if err != nil {
			fmt.Fprintln(os.Stderr, "fake osqueryd:", err)
			return 1
		}
		if err := srv.Exec(`CREATE TABLE osquery_info (pid INTEGER, version TEXT, extensions TEXT, watcher INTEGER)`); err != nil {
			fmt.Fprintln(os.Stderr, "fake osqueryd:", err)
			return 1
		}
		if err := srv.Exec(`INSERT INTO osquery_info VALUES (?, '5.99.0-fake', 'active', -1)`, pid); err != nil {
			fmt.Fprintln(os.Stderr, "fake osqueryd:", err)
			return 1
		}
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-sigs:
			if exists(filepath.Join(control, "ignore-term")) {
				continue
			}
			if srv != nil {
				srv.Close()
			}
			os.Remove(*pidfile)
			appendFile(filepath.Join(control, "events"), fmt.Sprintf("terminated %d\n", pid))
			return 0
		case <-tick.C:
		}
		if os.Remove(filepath.Join(control, "crash")) == nil {
			fmt.Fprintf(os.Stderr, "fake osqueryd %d: crashing\n", pid)
			return 3
		}
		if b, err := os.ReadFile(filepath.Join(control, "alloc")); err == nil {
			os.Remove(filepath.Join(control, "alloc"))
			mb, _ := strconv.Atoi(strings.TrimSpace(string(b)))
			chunk := make([]byte, mb<<20)
			for i := 0; i < len(chunk); i += 4096 {
				chunk[i] = 1 // touch every page so it is resident
			}
			hoard = append(hoard, chunk)
			fmt.Fprintf(os.Stderr, "fake osqueryd %d: holding %d MiB more\n", pid, mb)
		}
	}
}

// hoard keeps allocations reachable (a local could be collected).
var hoard [][]byte

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func appendFile(path, s string) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	f.WriteString(s)
}
