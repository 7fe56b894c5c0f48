package service

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	ks "github.com/kardianos/service"

	"github.com/fleetproof/fleetproof/agent/internal/identity"
)

// TestInstalledServiceLifecycleOnSysV installs the real agent binary as a
// SysV service, which is what kardianos uses on a Linux machine without
// systemd as PID 1 (this project's CI container), and drives it through
// the CLI as an admin or package script would. It runs only as root and
// only on SysV, under a unique service name, and always uninstalls.
func TestInstalledServiceLifecycleOnSysV(t *testing.T) {
	if testing.Short() {
		t.Skip("installs a system service")
	}
	if os.Geteuid() != 0 {
		t.Skip("installing a service needs root")
	}
	if p := ks.Platform(); p != PlatformSysV {
		t.Skipf("service system here is %s; this test only installs into SysV /etc/init.d", p)
	}
	if _, err := exec.LookPath("service"); err != nil {
		t.Skip("no service(8) command")
	}

	dir := t.TempDir()
	bin := filepath.Join(dir, "fleetproof-agent")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/fleetproof/fleetproof/agent").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	stateDir := filepath.Join(dir, "state")
	cfgPath := filepath.Join(dir, "agent.yaml")
	// 127.0.0.1:1 refuses connections: the agent keeps retrying enrollment,
	// a long-running service that never reaches a network.
	cfgBody := fmt.Sprintf("server_url: http://127.0.0.1:1\nenroll_secret: test-secret\nstate_dir: %s\nlog_level: debug\n", stateDir)
	if err := os.WriteFile(cfgPath, []byte(cfgBody), 0o600); err != nil {
		t.Fatal(err)
	}

	name := fmt.Sprintf("fleetproof-agent-test-%d", os.Getpid())
	script := "/etc/init.d/" + name
	pidFile := "/var/run/" + name + ".pid"
	errLog := "/var/log/" + name + ".err"
	t.Cleanup(func() {
		// The CLI first; then by hand, whatever a failed run left behind.
		exec.Command(bin, "uninstall", "-service-name", name).Run()
		if b, err := os.ReadFile(pidFile); err == nil {
			var pid int
			if fmt.Sscan(string(b), &pid); pid > 0 {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		os.Remove(script)
		removeRunlevelLinks(name, "/etc")
		for _, f := range []string{pidFile, errLog, "/var/log/" + name + ".log"} {
			os.Remove(f)
		}
	})

	agent := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(bin, append(args, "-service-name", name)...).CombinedOutput()
		if err != nil {
			t.Fatalf("fleetproof-agent %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	status := func(want State) {
		t.Helper()
		if got := agent("status"); got != string(want) {
			t.Fatalf("status %q, want %q", got, want)
		}
	}

	status(NotInstalled)
	if out := agent("install", "-config", cfgPath); !strings.HasPrefix(out, "installed and started "+name+" (unix-systemv)") {
		t.Fatalf("install said %q", out)
	}
	if _, err := os.Stat(script); err != nil {
		t.Fatalf("no init script: %v", err)
	}
	status(Running)

	// The service runs the daemon with the installed config: it creates the
	// device key in the configured state dir and fails to enroll at
	// 127.0.0.1:1. Nothing signals this across processes, so poll.
	waitFor(t, "the service to create its identity and try to enroll", func() bool {
		_, err := os.Stat(filepath.Join(stateDir, identity.SeedFile))
		return err == nil && (!interactiveService() || logContains(errLog, "enrollment failed"))
	})

	agent("stop")
	status(Stopped)
	if interactiveService() && !logContains(errLog, "agent stopped cleanly") {
		t.Errorf("no clean stop in %s:\n%s", errLog, readFile(errLog))
	}
	agent("start")
	status(Running)
	agent("restart")
	status(Running)

	// Installing again reconfigures (here: same config) and leaves it running.
	if out := agent("install", "-config", cfgPath); !strings.HasPrefix(out, "reinstalled and started") {
		t.Fatalf("second install said %q", out)
	}
	status(Running)

	if out := agent("uninstall"); out != "uninstalled "+name {
		t.Fatalf("uninstall said %q", out)
	}
	if _, err := os.Stat(script); !os.IsNotExist(err) {
		t.Errorf("init script still there: %v", err)
	}
	for _, rl := range []string{"rc2.d/S50", "rc0.d/K02"} {
		if _, err := os.Lstat(filepath.Join("/etc", rl+name)); !os.IsNotExist(err) {
			t.Errorf("runlevel link %s%s left behind", rl, name)
		}
	}
	status(NotInstalled)
	if _, err := os.Stat(filepath.Join(stateDir, identity.SeedFile)); err != nil {
		t.Errorf("uninstall without --purge lost the device key: %v", err)
	}
	if out := agent("uninstall"); out != name+" was not installed" {
		t.Errorf("second uninstall said %q", out)
	}

	agent("install", "-config", cfgPath)
	status(Running)
	if out := agent("uninstall", "-purge", "-config", cfgPath); !strings.Contains(out, "deleted state directory "+stateDir) {
		t.Fatalf("uninstall --purge said %q", out)
	}
	if _, err := os.Stat(stateDir); !os.IsNotExist(err) {
		t.Errorf("state dir survived --purge: %v", err)
	}
	if _, err := os.Stat(cfgPath); err != nil {
		t.Errorf("--purge removed more than the state dir: %v", err)
	}
	status(NotInstalled)
}

// interactiveService says whether the installed agent logs to stderr (the
// init script's .err file) rather than syslog: kardianos treats every
// process in a container as interactive.
func interactiveService() bool { return ks.Interactive() }

func logContains(path, s string) bool { return strings.Contains(readFile(path), s) }

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}
