package service

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	ks "github.com/kardianos/service"
)

const (
	// Name is the service name every platform knows the agent by.
	Name = "fleetproof-agent"
	// DisplayName is what service consoles show.
	DisplayName = "Fleetproof Agent"
	// Description explains the service to whoever finds it in a list.
	Description = "Runs Fleetproof compliance checks on this device and delivers signed evidence to the Fleetproof collector."

	// StopTimeout bounds a graceful stop: the agent flushes what it can
	// and exits; whatever is still spooled is delivered after the next
	// start, so waiting longer buys nothing.
	StopTimeout = 20 * time.Second
	// RestartDelay is how long a service manager waits before restarting
	// the agent after it exits. A device that is not reporting is a gap in
	// the evidence, so this is short; the agent's own retries back off.
	RestartDelay = 5 * time.Second
	// managerStopTimeout is what the service manager allows before it
	// kills the agent: StopTimeout plus slack for process exit.
	managerStopTimeout = StopTimeout + 10*time.Second
)

// Platform names as kardianos/service reports them.
const (
	PlatformSystemd = "linux-systemd"
	PlatformSysV    = "unix-systemv"
	PlatformUpstart = "linux-upstart"
	PlatformOpenRC  = "linux-openrc"
	PlatformLaunchd = "darwin-launchd"
	PlatformWindows = "windows-service"
)

// Options select one installation of the agent.
type Options struct {
	// Name is the service name; Name when empty. Another name lets a second
	// agent (staging, a test) run beside the production one.
	Name string
	// Executable is the binary the service runs; the running one when empty.
	Executable string
	// ConfigPath is passed to "run" as -config. Empty leaves the agent to
	// its usual lookup (MDM settings, the default file, the environment).
	ConfigPath string
}

func (o Options) name() string {
	if o.Name == "" {
		return Name
	}
	return o.Name
}

// validName keeps the name safe to embed in unit files, shell scripts and
// paths: it becomes /etc/init.d/NAME and a shell variable in the script.
var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// Definition builds the kardianos service configuration for platform (as
// returned by kardianos' Platform()). It is pure so it can be checked for
// every platform on any machine.
func Definition(o Options, platform string) (*ks.Config, error) {
	name := o.name()
	if !validName.MatchString(name) {
		return nil, fmt.Errorf("service name %q: use letters, digits, '.', '_' and '-'", name)
	}
	args := []string{"run"}
	if name != Name {
		// The running agent needs its own name for the event log source
		// and the Windows service dispatcher.
		args = append(args, "-service-name", name)
	}
	if o.ConfigPath != "" {
		// The service manager starts the agent in its own working
		// directory, so a relative path would point elsewhere.
		p, err := filepath.Abs(o.ConfigPath)
		if err != nil {
			return nil, err
		}
		args = append(args, "-config", p)
	}
	c := &ks.Config{
		Name:        name,
		DisplayName: DisplayName,
		Description: Description,
		Arguments:   args,
		Executable:  o.Executable,
		// UserName stays empty: a system service runs as root (Unix) or
		// LocalSystem (Windows), which the checks need to read disk
		// encryption and update state.
		Option: ks.KeyValue{
			// systemd (and the Upstart/OpenRC templates that read it).
			"Restart": "always",
			// launchd: start at boot and relaunch whenever it exits.
			"RunAtLoad": true,
			"KeepAlive": true,
			// Windows: automatic start, and the recovery action the SCM
			// takes when the process dies without reporting stopped.
			"StartType":              "automatic",
			"OnFailure":              "restart",
			"OnFailureDelayDuration": RestartDelay.String(),
			// Reset the failure count after a day of running well.
			"OnFailureResetPeriod": 86400,
		},
	}
	switch platform {
	case PlatformSystemd:
		c.Dependencies = []string{"After=network-online.target", "Wants=network-online.target"}
		c.Option["SystemdScript"] = systemdUnit
	case PlatformSysV:
		// Only here: procd, AIX, FreeBSD and Solaris also read the
		// SysvScript option but expect their own script formats.
		c.Option["SysvScript"] = sysvScript(name)
	case PlatformWindows:
		// Service names the SCM starts first. TCP/IP is always present;
		// the agent copes with a network that is not up yet.
		c.Dependencies = []string{"Tcpip"}
	}
	return c, nil
}

// systemdUnit is kardianos' default unit with RestartSec lowered from its
// hard-coded 120 s, the start rate limit lifted (an agent must never end up
// permanently "failed"), a stop timeout above StopTimeout, and KillMode=mixed
// so SIGTERM reaches only the agent, which stops its own children.
var systemdUnit = fmt.Sprintf(`[Unit]
Description={{Description}}
ConditionFileIsExecutable={{Path | cmdEscape}}
StartLimitIntervalSec=0
{{range Dependencies}}{{.}}
{{end}}
[Service]
Type=simple
ExecStart={{Path | cmdEscape}}{{range Arguments}} {{. | cmd}}{{end}}
{{if WorkingDirectory}}WorkingDirectory={{WorkingDirectory | cmdEscape}}
{{end}}{{if UserName}}User={{UserName}}
{{end}}Restart={{Restart}}
RestartSec=%d
TimeoutStopSec=%d
KillMode=mixed
EnvironmentFile=-/etc/default/{{Name}}
EnvironmentFile=-/etc/sysconfig/{{Name}}
{{range EnvVars}}{{.}}
{{end}}
[Install]
WantedBy=multi-user.target
`, int(RestartDelay/time.Second), int(managerStopTimeout/time.Second))

// sysvScript is an LSB init script for machines without systemd. Unlike
// kardianos' default it quotes the command line, treats a zombie as stopped
// (a container's PID 1 may never reap the agent after it exits), waits for
// the agent's full graceful stop, and answers status with LSB exit codes.
// SysV has no restart-on-exit; the agent's own retries cover collector
// outages, but a crash stays down until the next start.
func sysvScript(name string) string {
	return strings.NewReplacer(
		"@NAME@", name,
		"@STOP_WAIT@", fmt.Sprint(int(managerStopTimeout/time.Second)),
	).Replace(`#!/bin/sh
# chkconfig: 2345 99 01
# description: {{Description}}
### BEGIN INIT INFO
# Provides:          @NAME@
# Required-Start:    $network $remote_fs
# Required-Stop:     $network $remote_fs
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: {{DisplayName}}
# Description:       {{Description}}
### END INIT INFO
# Written by "fleetproof-agent install"; "fleetproof-agent uninstall" removes it.

name=@NAME@
pid_file="/var/run/$name.pid"
stdout_log="{{LogDirectory}}/$name.log"
stderr_log="{{LogDirectory}}/$name.err"
stop_wait=@STOP_WAIT@

{{range EnvVars}}{{.}}
{{end}}[ -r "/etc/default/$name" ] && . "/etc/default/$name"
[ -r "/etc/sysconfig/$name" ] && . "/etc/sysconfig/$name"

is_running() {
    [ -f "$pid_file" ] || return 1
    pid=$(cat "$pid_file" 2>/dev/null)
    [ -n "$pid" ] || return 1
    # Field 3 of /proc/PID/stat is the process state. A zombie (Z) has
    # exited and only waits to be reaped, so it is not running.
    state=$(sed -n 's/^[0-9]* (.*) \(.\) .*/\1/p' "/proc/$pid/stat" 2>/dev/null)
    [ -n "$state" ] && [ "$state" != Z ]
}

case "$1" in
start)
    if is_running; then
        echo "Already started"
        exit 0
    fi
    echo "Starting $name"
    {{if WorkingDirectory}}cd {{WorkingDirectory | cmd}} || exit 1
    {{end}}{{Path | cmd}}{{range Arguments}} {{. | cmd}}{{end}} >>"$stdout_log" 2>>"$stderr_log" </dev/null &
    echo $! >"$pid_file"
    if ! is_running; then
        echo "Unable to start, see $stdout_log and $stderr_log"
        exit 1
    fi
    ;;
stop)
    if ! is_running; then
        rm -f "$pid_file"
        echo "Not running"
        exit 0
    fi
    printf "Stopping %s" "$name"
    kill "$(cat "$pid_file")"
    i=0
    while is_running && [ "$i" -lt "$stop_wait" ]; do
        printf .
        sleep 1
        i=$((i + 1))
    done
    echo
    if is_running; then
        echo "Not stopped after $stop_wait s"
        exit 1
    fi
    rm -f "$pid_file"
    echo "Stopped"
    ;;
restart)
    "$0" stop || exit 1
    "$0" start
    ;;
status)
    if is_running; then
        echo "Running"
        exit 0
    fi
    echo "Stopped"
    exit 3
    ;;
*)
    echo "Usage: $0 {start|stop|restart|status}"
    exit 2
    ;;
esac
exit 0
`)
}
