package osqueryd

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
)

// ErrNotFound: no osqueryd on PATH or at the platform's install paths.
var ErrNotFound = errors.New("osqueryd: not installed (not on PATH nor at the default install paths)")

// DefaultPaths are where osquery's official packages install osqueryd.
func DefaultPaths(goos string) []string {
	switch goos {
	case "windows":
		return []string{`C:\Program Files\osquery\osqueryd\osqueryd.exe`}
	case "darwin":
		return []string{"/opt/osquery/lib/osquery.app/Contents/MacOS/osqueryd", "/usr/local/bin/osqueryd", "/opt/osquery/bin/osqueryd"}
	}
	return []string{"/opt/osquery/bin/osqueryd", "/usr/bin/osqueryd", "/usr/local/bin/osqueryd"}
}

// DefaultSocket is the extension manager socket of an osqueryd installed
// and run the usual way (its --extensions_socket default).
func DefaultSocket() string { return defaultSocket(runtime.GOOS) }

func defaultSocket(goos string) string {
	switch goos {
	case "windows":
		return `\\.\pipe\osquery.em`
	case "freebsd":
		return "/var/run/osquery.em"
	}
	return "/var/osquery/osquery.em"
}

// Find returns the osqueryd to run: configured if set (it must exist),
// else "osqueryd" on PATH, else the first default install path that
// exists.
func Find(configured string) (string, error) {
	return find(configured, runtime.GOOS, exec.LookPath, isExecutable)
}

func find(configured, goos string, lookPath func(string) (string, error), usable func(string) bool) (string, error) {
	if configured != "" {
		if !usable(configured) {
			return "", fmt.Errorf("osqueryd: %s is not an executable file", configured)
		}
		return configured, nil
	}
	name := "osqueryd"
	if goos == "windows" {
		name = "osqueryd.exe"
	}
	if p, err := lookPath(name); err == nil && usable(p) {
		return p, nil
	}
	for _, p := range DefaultPaths(goos) {
		if usable(p) {
			return p, nil
		}
	}
	return "", ErrNotFound
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	if err != nil || !fi.Mode().IsRegular() {
		return false
	}
	return runtime.GOOS == "windows" || fi.Mode().Perm()&0o111 != 0
}
