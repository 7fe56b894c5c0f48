// Package chdb finds the shared chdb-sql tool for tests that prove SQL
// also runs on current ClickHouse (26.x, embedded through chDB), while the
// rest of the suite runs on the Debian 18.16 server.
package chdb

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// ModuleRoot walks up from the working directory (a test's package
// directory) to go.mod.
func ModuleRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the package directory")
		}
		dir = parent
	}
}

// Tool returns the path of ../shared/tools/chdb-sql beside the module, or
// skips the test with what is missing; under CI it fails instead, since a
// skipped check there would hide a broken setup. what says what goes
// unchecked, for the message.
func Tool(t testing.TB, what string) string {
	t.Helper()
	unavailable := func(why string) {
		t.Helper()
		msg := "chdb-sql cannot run, so " + what + " is not checked on current ClickHouse: " + why
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	tool := filepath.Join(ModuleRoot(t), "..", "shared", "tools", "chdb-sql")
	if _, err := os.Stat(tool); err != nil {
		unavailable(err.Error())
	}
	if _, err := exec.LookPath("python3"); err != nil {
		unavailable("python3 not found")
	}
	// npm is only needed for the first run's download.
	cache := os.Getenv("CHDB_CACHE")
	if cache == "" {
		cache = "/tmp/chdb-cache"
	}
	if os.Getenv("CHDB_LIB") == "" {
		if _, err := os.Stat(filepath.Join(cache, "libchdb.so")); err != nil {
			if _, err := exec.LookPath("npm"); err != nil {
				unavailable("npm not found and no libchdb.so in " + cache + " (set CHDB_LIB)")
			}
		}
	}
	return tool
}
