// Package service runs the agent as an operating-system service through
// github.com/kardianos/service: systemd (or SysV init, Upstart, OpenRC when
// there is no systemd) on Linux, launchd on macOS, the Service Control
// Manager on Windows.
//
// It owns three things:
//
//   - the service definition (Definition): name fleetproof-agent, running
//     "fleetproof-agent run" as root/SYSTEM, restarted 5 s after any exit
//     (systemd Restart=always RestartSec=5, launchd KeepAlive, Windows
//     recovery actions), with a stop timeout longer than the agent's own
//     graceful-shutdown bound;
//   - the lifecycle an MDM or package script drives (Manager): install is
//     idempotent and starts the service, uninstall stops and removes it and
//     leaves the state directory unless purged, status says running,
//     stopped or not installed;
//   - running under the service manager (Run): the daemon gets a context
//     cancelled on stop, stop waits for it within StopTimeout, and logs go
//     to the platform logger (journald/syslog, the Windows event log)
//     through an slog handler, or to stderr when run from a terminal.
//
// kardianos/service v1.3.0 hard-codes RestartSec=120 in its systemd unit
// and has no option to change it, and its SysV script mistakes an unreaped
// zombie for a running agent and gives up stopping after 10 s, so this
// package supplies its own systemd and SysV templates (the library's
// supported extension point) rather than accepting either.
package service
