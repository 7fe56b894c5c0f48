// Package osqueryd finds, starts and supervises osqueryd for the agent.
//
// The agent queries osqueryd over its extensions socket (package osquery).
// When no osqueryd is already running with a socket the agent can reach,
// the agent runs one as a child process, the way kolide/launcher does:
//
//   - Its own files: --pidfile, --database_path and an empty "{}"
//     --config_path under <state>/osquery, filesystem logs under
//     <state>/osquery-logs, and --extensions_socket at <state>/osquery.em.
//     A socket path longer than 97 characters (extensions append
//     ".<route id>" and must fit in sun_path) moves to
//     /var/run/fleetproof-<hash>.em, else the temp dir; on Windows it is
//     the named pipe \\.\pipe\fleetproof-osquery-<hash>.
//   - No remote anything: --disable_distributed, --disable_events, no
//     schedule; the extension manager on (--disable_extensions=false) for
//     the agent's own tables, with an empty autoload file.
//   - --force, so an osqueryd of ours that outlived a killed agent is
//     replaced rather than blocking the pidfile.
//   - Memory and CPU: osquery's watchdog gets --watchdog_memory_limit and
//     --watchdog_utilization_limit; on top, the supervisor samples the
//     resident memory of osqueryd's processes (Linux: /proc/<pid>/status
//     VmRSS of the child and its descendants; elsewhere gopsutil, child
//     and direct children) and kills and restarts osqueryd when the
//     largest stays above the ceiling for MemoryStrikes samples in a row,
//     which leaves the watchdog (which restarts just the worker) time to
//     act first.
//
// Start waits for the socket to appear and answer a ping (a socket file
// from an earlier instance does not count: a dead one is removed, a live
// one must be replaced by a new file). The supervisor restarts osqueryd
// when it exits, after a delay that doubles from MinBackoff to MaxBackoff
// and resets once a child ran for StableAfter. Stop sends SIGTERM to
// osqueryd's process group, SIGKILL after StopTimeout (on Windows it kills
// at once).
//
// Find locates osqueryd: the configured path, else PATH, else the
// official packages' paths (/opt/osquery/bin/osqueryd, /usr/bin,
// /usr/local/bin; macOS /opt/osquery/lib/osquery.app/Contents/MacOS;
// Windows C:\Program Files\osquery\osqueryd\osqueryd.exe).
//
// Tests run the supervisor against a stand-in executable: the test binary
// re-executes itself as a fake osqueryd (osquerydtest) serving the stand-in
// extension manager on --extensions_socket, so start, ping, crash and
// restart, the memory ceiling and both stop paths run for real. Real
// osqueryd is not installed on the project's machines.
package osqueryd
