package pkg

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testMTime keeps the packages the tests build identical from run to run.
var testMTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// fakeBinaries writes two tiny executables standing in for the real
// programs: the packages are about where files land and what the scripts
// do, not about the binaries, and building the real ones would take most
// of the test budget.
func fakeBinaries(t *testing.T) (agent, collector string) {
	t.Helper()
	dir := t.TempDir()
	write := func(name string) string {
		p := filepath.Join(dir, name)
		body := "#!/bin/sh\n# fake " + name + " for packaging tests\nexit 0\n"
		if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return write("fleetproof-agent"), write("fleetproof-collector")
}

// buildPackages builds both packages in every format (or formats) with
// version into a temp dir and returns them by package and format.
func buildPackages(t *testing.T, version string, formats ...string) map[string]map[string]string {
	t.Helper()
	agent, collector := fakeBinaries(t)
	arts, err := Run(Options{
		Version: version, Arch: "amd64", AgentBinary: agent, CollectorBinary: collector,
		OutDir: t.TempDir(), Formats: formats, MTime: testMTime,
	})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]string{}
	for _, a := range arts {
		if out[a.Package] == nil {
			out[a.Package] = map[string]string{}
		}
		out[a.Package][a.Format] = a.Path
	}
	return out
}

// need skips the test when tool is not installed, except under CI, where
// the tool is part of the environment (scripts/deps.sh installs it) and
// its absence is a failure rather than a quietly thinner test run.
func need(t *testing.T, tool, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not installed (Debian package %s; scripts/deps.sh installs it)", tool, pkg)
	}
	t.Skipf("%s is not installed: apt-get install %s to run this test", tool, pkg)
	return ""
}

// run runs a command and returns its combined output, failing the test
// with that output when it fails.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// stagedScripts returns the maintainer scripts Run puts into a package of
// spec s in format, by kind, as written into the package.
func stagedScripts(t *testing.T, s spec, format string) map[string]string {
	t.Helper()
	paths, err := stageScripts(s, format, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for kind, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[kind] = string(b)
	}
	return out
}
