package chserver

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ErrNotInstalled means no ClickHouse server binary could be found. Callers
// match it with errors.Is to decide between skipping and failing.
var ErrNotInstalled = errors.New("clickhouse-server not installed; apt-get install clickhouse-server")

// Find resolves the server binary and the arguments that select server mode.
// An empty binary searches for Debian's clickhouse-server first (what the
// project's machines have), then the current single `clickhouse` binary,
// which needs the `server` subcommand.
func Find(binary string) (path string, args []string, err error) {
	if binary != "" {
		p, err := lookup(binary)
		if err != nil {
			return "", nil, fmt.Errorf("%w: %s: %v", ErrNotInstalled, binary, err)
		}
		return p, modeArgs(p), nil
	}
	for _, c := range []string{"clickhouse-server", "/usr/sbin/clickhouse-server", "clickhouse", "/usr/bin/clickhouse"} {
		if p, err := lookup(c); err == nil {
			return p, modeArgs(p), nil
		}
	}
	return "", nil, fmt.Errorf("%w (looked for clickhouse-server and clickhouse on PATH and in /usr/sbin, /usr/bin)", ErrNotInstalled)
}

func lookup(name string) (string, error) {
	if !strings.ContainsRune(name, os.PathSeparator) {
		return exec.LookPath(name)
	}
	fi, err := os.Stat(name)
	if err != nil {
		return "", err
	}
	if fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		return "", fmt.Errorf("not an executable file")
	}
	return filepath.Abs(name)
}

// modeArgs decides from the file name only: the single binary dispatches on
// argv[0] or its first argument, and `clickhouse-server` (a symlink to it in
// current packages, a separate program in 18.16) needs nothing extra.
func modeArgs(path string) []string {
	base := strings.TrimSuffix(filepath.Base(path), ".exe")
	if base == "clickhouse" {
		return []string{"server"}
	}
	return nil
}
