package osqueryd

import (
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"strconv"
)

// MaxSocketPath is the longest extensions socket path usable: extensions
// listen on "<path>.<route id>", which must fit in sun_path.
const MaxSocketPath = 97

// Layout is where a supervised osqueryd keeps its files. Everything lives
// in the agent's state directory except, when that path is too long for a
// unix socket, the socket itself.
type Layout struct {
	Dir        string // <state>/osquery: pidfile, database, config
	Socket     string // --extensions_socket
	Pidfile    string
	Database   string
	ConfigPath string // an empty "{}" config: no schedule, no packs
	Autoload   string // an empty extensions.load
	LoggerPath string // <state>/osquery-logs
}

// NewLayout lays out files under stateDir for the platform goos. runDir
// ("/var/run", or "" when it is not a writable directory) and tmpDir are
// the fallbacks for a socket path the state directory makes too long.
func NewLayout(goos, stateDir, runDir, tmpDir string) Layout {
	dir := filepath.Join(stateDir, "osquery")
	return Layout{
		Dir:        dir,
		Socket:     SocketPath(goos, stateDir, runDir, tmpDir),
		Pidfile:    filepath.Join(dir, "osqueryd.pid"),
		Database:   filepath.Join(dir, "osquery.db"),
		ConfigPath: filepath.Join(dir, "osquery.conf"),
		Autoload:   filepath.Join(dir, "extensions.load"),
		LoggerPath: filepath.Join(stateDir, "osquery-logs"),
	}
}

// SocketPath picks the supervised osqueryd's extensions socket: a short
// path in the state directory when it fits (≤ MaxSocketPath characters),
// else "fleetproof-<hash of stateDir>.em" under runDir, else under tmpDir.
// On Windows it is a named pipe named after the state directory's hash.
func SocketPath(goos, stateDir, runDir, tmpDir string) string {
	sum := sha256.Sum256([]byte(stateDir))
	tag := hex.EncodeToString(sum[:])[:12]
	if goos == "windows" {
		return `\\.\pipe\fleetproof-osquery-` + tag
	}
	if p := filepath.Join(stateDir, "osquery.em"); len(p) <= MaxSocketPath {
		return p
	}
	name := "fleetproof-" + tag + ".em"
	if runDir != "" {
		if p := filepath.Join(runDir, name); len(p) <= MaxSocketPath {
			return p
		}
	}
	return filepath.Join(tmpDir, name)
}

// Limits are the resource ceilings given to osquery's watchdog.
type Limits struct {
	MemoryMB   int // --watchdog_memory_limit, resident memory of the worker
	CPUPercent int // --watchdog_utilization_limit
}

// Flags are the osqueryd command line for a supervised instance: its own
// pidfile, database and socket; an empty config and no remote plugins
// (the agent only runs queries over the socket); filesystem logging into
// the state directory; the extension manager on for the agent's tables;
// --force so a leftover instance of ours (the agent was killed) is
// replaced; and the watchdog limits.
func Flags(goos string, l Layout, lim Limits) []string {
	f := []string{
		"--pidfile=" + l.Pidfile,
		"--database_path=" + l.Database,
		"--extensions_socket=" + l.Socket,
		"--extensions_autoload=" + l.Autoload,
		"--disable_extensions=false",
		"--extensions_timeout=10",
		"--extensions_interval=3",
		"--config_plugin=filesystem",
		"--config_path=" + l.ConfigPath,
		"--disable_events",
		"--disable_distributed",
		"--logger_plugin=filesystem",
		"--logger_path=" + l.LoggerPath,
		"--host_identifier=uuid",
		"--force",
		"--watchdog_memory_limit=" + strconv.Itoa(lim.MemoryMB),
		"--watchdog_utilization_limit=" + strconv.Itoa(lim.CPUPercent),
	}
	if goos == "windows" {
		// The agent's state directory is not owned the way osquery
		// demands of extension and config paths on Windows.
		f = append(f, "--allow_unsafe")
	}
	return f
}

// Env is what the supervised osqueryd gets on top of the agent's
// environment: on macOS, SYSTEM_VERSION_COMPAT=0 so os_version reports
// real versions rather than 10.16.
func Env(goos string) []string {
	if goos == "darwin" {
		return []string{"SYSTEM_VERSION_COMPAT=0"}
	}
	return nil
}
