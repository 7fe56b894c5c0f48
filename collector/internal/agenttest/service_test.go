package agenttest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	ks "github.com/kardianos/service"

	"github.com/fleetproof/fleetproof/collector/internal/chtest"
)

// TestInstalledServiceDeliversEvidence installs the real agent as an
// operating-system service (SysV init here, where there is no systemd)
// with a managed-settings style config file, as an MDM or a package
// script would, and follows it until its evidence is in ClickHouse; then
// stop and uninstall. Root on Linux only, not under -short.
func TestInstalledServiceDeliversEvidence(t *testing.T) {
	if testing.Short() {
		t.Skip("installs a system service and waits up to a minute for scheduled checks")
	}
	if runtime.GOOS != "linux" || os.Geteuid() != 0 {
		t.Skip("installing a service needs root on Linux")
	}
	platform := ks.Platform()
	if platform == "unix-systemv" {
		if _, err := exec.LookPath("service"); err != nil {
			t.Skip("SysV init without a service(8) command")
		}
	}
	t.Parallel()
	dsn := chtest.Database(t)
	conn := chtest.Open(t, dsn)
	c := startCollector(t, collectorConfig(t, dsn))
	dir := t.TempDir()
	bin := buildAgent(t)
	n := len(localResults(t, bin))

	// The file an admin's configuration management drops (the same keys
	// as /etc/fleetproof/managed.yaml); -config records it in the service.
	stateDir := filepath.Join(dir, "state")
	cfgPath := filepath.Join(dir, "agent.yaml")
	cfgBody := fmt.Sprintf("# managed by agenttest\nserver_url: %s\nenroll_secret: %s\nstate_dir: %s\nlog_level: debug\ntags: env=test,owner=agenttest\n",
		c.Info.HTTPURL, secret, stateDir)
	if err := os.WriteFile(cfgPath, []byte(cfgBody), 0o600); err != nil {
		t.Fatal(err)
	}

	name := fmt.Sprintf("fleetproof-agent-test-%d", os.Getpid())
	pidFile, errLog, outLog := "/var/run/"+name+".pid", "/var/log/"+name+".err", "/var/log/"+name+".log"
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s:\n%s", errLog, tail(readFile(errLog), 40))
		}
		// The CLI first; then by hand, whatever a failed run left behind.
		exec.Command(bin, "uninstall", "-service-name", name).Run()
		if b, err := os.ReadFile(pidFile); err == nil {
			var pid int
			if fmt.Sscan(string(b), &pid); pid > 0 {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		for _, f := range []string{pidFile, errLog, outLog, "/etc/init.d/" + name, "/etc/systemd/system/" + name + ".service"} {
			os.Remove(f)
		}
		for rl := range 7 {
			for _, prefix := range []string{"S50", "K02"} {
				link := fmt.Sprintf("/etc/rc%d.d/%s%s", rl, prefix, name)
				if target, err := os.Readlink(link); err == nil && target == "/etc/init.d/"+name {
					os.Remove(link)
				}
			}
		}
	})
	agentCLI := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, append(args, "-service-name", name)...)
		cmd.Env = agentEnv()
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("fleetproof-agent %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}

	if out := agentCLI("install", "-config", cfgPath); !strings.HasPrefix(out, "installed and started "+name) {
		t.Fatalf("install said %q", out)
	}
	if got := agentCLI("status"); got != "running" {
		t.Fatalf("status after install: %q", got)
	}

	// The service runs each check at its interval, the first time within
	// a minute (jitter), so all of them are in ClickHouse within ~60 s.
	start := time.Now()
	waitLogical(t, conn, uint64(n), 120*time.Second)
	t.Logf("all %d checks delivered %s after install (%s)", n, time.Since(start).Round(time.Second), platform)
	var heartbeats, devices uint64
	if err := conn.QueryRow(t.Context(), "SELECT count() FROM heartbeats").Scan(&heartbeats); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(t.Context(), "SELECT uniqExact(device_id) FROM results FINAL").Scan(&devices); err != nil {
		t.Fatal(err)
	}
	if heartbeats == 0 || devices != 1 {
		t.Errorf("%d heartbeats, %d devices; want heartbeats from the one device", heartbeats, devices)
	}
	if _, err := os.Stat(filepath.Join(stateDir, "spool.db")); err != nil {
		t.Errorf("the service did not use the configured state_dir: %v", err)
	}

	if out := agentCLI("stop"); !strings.Contains(out, "stopped") {
		t.Errorf("stop said %q", out)
	}
	if got := agentCLI("status"); got != "stopped" {
		t.Errorf("status after stop: %q", got)
	}
	if out := agentCLI("uninstall"); out != "uninstalled "+name {
		t.Errorf("uninstall said %q", out)
	}
	if got := agentCLI("status"); got != "not installed" {
		t.Errorf("status after uninstall: %q", got)
	}
	if _, err := os.Stat(filepath.Join(stateDir, "device.nk")); err != nil {
		t.Errorf("uninstall without --purge lost the device key: %v", err)
	}
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}
