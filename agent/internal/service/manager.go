package service

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	ks "github.com/kardianos/service"
)

// State is what status reports.
type State string

const (
	Running      State = "running"
	Stopped      State = "stopped"
	NotInstalled State = "not installed"
)

// ErrNotInstalled is returned by Start, Stop and Restart when there is no
// service to control.
var ErrNotInstalled = errors.New("the service is not installed")

// Manager installs and controls the agent's service on this machine.
type Manager struct {
	svc      ks.Service
	name     string
	platform string
}

// NewManager prepares to control the service o describes with the
// machine's service manager.
func NewManager(o Options) (*Manager, error) {
	platform := ks.Platform()
	cfg, err := Definition(o, platform)
	if err != nil {
		return nil, err
	}
	s, err := ks.New(noop{}, cfg)
	if err != nil {
		return nil, err
	}
	return &Manager{svc: s, name: cfg.Name, platform: platform}, nil
}

// Name is the service name.
func (m *Manager) Name() string { return m.name }

// Platform names the service manager in use (linux-systemd, unix-systemv,
// darwin-launchd, windows-service, ...).
func (m *Manager) Platform() string { return m.platform }

// noop is the program given to kardianos when only controlling the service;
// its Start and Stop run only inside the service process.
type noop struct{}

func (noop) Start(ks.Service) error { return nil }
func (noop) Stop(ks.Service) error  { return nil }

// Status says whether the service is running, stopped or not installed.
func (m *Manager) Status() (State, error) {
	st, err := m.svc.Status()
	switch {
	case err == nil && st == ks.StatusRunning:
		return Running, nil
	case err == nil && st == ks.StatusStopped:
		return Stopped, nil
	case errors.Is(err, ks.ErrNotInstalled):
		return NotInstalled, nil
	}
	// kardianos cannot tell every state on every system: SysV scripts
	// answer "stopped" and "no such service" both with a failing exit
	// status, and systemd's "failed" comes back as an error. Whether the
	// service definition exists settles it.
	if path := definitionPath(m.platform, m.name); path != "" {
		_, statErr := os.Stat(path)
		var exitErr *exec.ExitError
		switch {
		case errors.Is(statErr, fs.ErrNotExist):
			return NotInstalled, nil
		case statErr == nil && (errors.As(err, &exitErr) || (err != nil && strings.Contains(err.Error(), "failed state"))):
			return Stopped, nil
		}
	}
	if err == nil {
		err = fmt.Errorf("unknown service status %d", st)
	}
	return "", fmt.Errorf("status of %s: %w", m.name, err)
}

// definitionPath is the file that defines the service, where the service
// manager keeps one.
func definitionPath(platform, name string) string {
	switch platform {
	case PlatformSystemd:
		return "/etc/systemd/system/" + name + ".service"
	case PlatformUpstart:
		return "/etc/init/" + name + ".conf"
	case PlatformLaunchd:
		return "/Library/LaunchDaemons/" + name + ".plist"
	case PlatformSysV, PlatformOpenRC, "linux-rcs", "linux-procd":
		return "/etc/init.d/" + name
	}
	return ""
}

// Install installs the service and starts it. An existing installation is
// stopped and replaced, so running install again (a package upgrade, a
// changed -config) reconfigures it; replaced reports that case.
func (m *Manager) Install() (replaced bool, err error) {
	st, err := m.Status()
	if err != nil {
		return false, err
	}
	if st != NotInstalled {
		if err := m.remove(st); err != nil {
			return false, fmt.Errorf("replace the installed %s: %w", m.name, err)
		}
		replaced = true
	}
	if err := m.svc.Install(); err != nil {
		return replaced, fmt.Errorf("install %s: %w", m.name, err)
	}
	if err := m.svc.Start(); err != nil {
		return replaced, fmt.Errorf("installed %s, but starting it failed: %w", m.name, err)
	}
	return replaced, nil
}

// Uninstall stops and removes the service. Removing a service that is not
// installed is not an error (wasInstalled is false), so uninstall scripts
// can run it unconditionally. The state directory is left alone; see Purge.
func (m *Manager) Uninstall() (wasInstalled bool, err error) {
	st, err := m.Status()
	if err != nil {
		return false, err
	}
	if st == NotInstalled {
		return false, nil
	}
	if err := m.remove(st); err != nil {
		return true, fmt.Errorf("uninstall %s: %w", m.name, err)
	}
	return true, nil
}

func (m *Manager) remove(st State) error {
	if st == Running {
		if err := m.svc.Stop(); err != nil {
			return fmt.Errorf("stop: %w", err)
		}
	}
	if err := m.svc.Uninstall(); err != nil {
		return err
	}
	if m.platform == PlatformSysV {
		removeRunlevelLinks(m.name, "/etc")
	}
	return nil
}

// removeRunlevelLinks deletes the /etc/rcN.d start and kill links that
// kardianos' SysV install creates and its uninstall forgets, which would
// otherwise dangle and fail at every boot. Only links pointing at the
// service's own init script are touched.
func removeRunlevelLinks(name, etc string) {
	script := "/etc/init.d/" + name
	for _, rl := range []string{"0", "1", "2", "3", "4", "5", "6"} {
		for _, prefix := range []string{"S50", "K02"} {
			link := filepath.Join(etc, "rc"+rl+".d", prefix+name)
			if target, err := os.Readlink(link); err == nil && target == script {
				os.Remove(link)
			}
		}
	}
}

func (m *Manager) installed() error {
	st, err := m.Status()
	if err != nil {
		return err
	}
	if st == NotInstalled {
		return fmt.Errorf("%s: %w; run \"fleetproof-agent install\" first", m.name, ErrNotInstalled)
	}
	return nil
}

// Start starts the installed service.
func (m *Manager) Start() error {
	if err := m.installed(); err != nil {
		return err
	}
	return m.svc.Start()
}

// Stop stops the installed service.
func (m *Manager) Stop() error {
	if err := m.installed(); err != nil {
		return err
	}
	return m.svc.Stop()
}

// Restart stops and starts the installed service.
func (m *Manager) Restart() error {
	if err := m.installed(); err != nil {
		return err
	}
	return m.svc.Restart()
}

// Purge deletes the agent's state directory: the device key, the spool and
// the enrollment. It is for decommissioning a device; a reinstall after it
// enrolls as a new key. Because the path comes from configuration, it
// refuses anything that looks like a system or home directory rather than
// an agent's own.
func Purge(stateDir string) error {
	if stateDir == "" || !filepath.IsAbs(stateDir) {
		return fmt.Errorf("purge: state directory %q is not an absolute path", stateDir)
	}
	dir := filepath.Clean(stateDir)
	if refusedPurge(dir) {
		return fmt.Errorf("purge: refusing to delete %s: it is not a directory the agent owns; remove it by hand", dir)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("purge: %w", err)
	}
	return nil
}

func refusedPurge(dir string) bool {
	if dir == filepath.Dir(dir) { // a root: "/" or "C:\"
		return true
	}
	if home, err := os.UserHomeDir(); err == nil && filepath.Clean(home) == dir {
		return true
	}
	var system []string
	if runtime.GOOS == "windows" {
		for _, env := range []string{"SystemRoot", "ProgramData", "ProgramFiles", "ProgramFiles(x86)", "SystemDrive", "USERPROFILE", "PUBLIC"} {
			if v := os.Getenv(env); v != "" {
				system = append(system, v)
			}
		}
		system = append(system, `C:\Users`, `C:\Windows`)
	} else {
		system = []string{
			"/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib64", "/opt", "/proc", "/root", "/run",
			"/sbin", "/srv", "/sys", "/tmp", "/usr", "/usr/local", "/var", "/var/lib", "/var/log", "/var/tmp",
			"/Applications", "/Library", "/Library/Application Support", "/System", "/Users", "/private", "/private/var",
		}
	}
	for _, s := range system {
		if strings.EqualFold(filepath.Clean(s), dir) {
			return true
		}
	}
	return false
}
