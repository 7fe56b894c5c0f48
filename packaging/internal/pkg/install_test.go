package pkg

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// These tests install the packages on this machine for real, with dpkg and
// rpm, and remove them again. They run only as root, only when nothing of
// Fleetproof is installed here (so they can never disturb a real agent or
// collector), and they clean up after themselves even when they fail.

const enabledLink = "/etc/systemd/system/multi-user.target.wants/"

// requireClean skips unless the test may own every path in paths.
func requireClean(t *testing.T, paths ...string) {
	t.Helper()
	if testing.Short() {
		t.Skip("installs packages on this machine")
	}
	if os.Geteuid() != 0 {
		t.Skip("installing packages needs root")
	}
	for _, p := range paths {
		if _, err := os.Lstat(p); err == nil {
			t.Skipf("%s exists: not touching a machine where Fleetproof is (or was) installed", p)
		}
	}
}

// dpkgStatus is the package's dpkg status, "" when dpkg does not know it.
func dpkgStatus(name string) string {
	out, err := exec.Command("dpkg-query", "-W", "-f", "${Status}", name).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// installCmd runs a package manager command non-interactively, as MDM
// does: no terminal, no answers.
func installCmd(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	cmd.Stdin = nil
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

func mustExist(t *testing.T, p string, mode fs.FileMode) {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Errorf("%s: %v", p, err)
		return
	}
	if mode != 0 && st.Mode().Perm() != mode {
		t.Errorf("%s: mode %v, want %v", p, st.Mode().Perm(), mode)
	}
}

func mustNotExist(t *testing.T, p string) {
	t.Helper()
	if exists(p) {
		t.Errorf("%s still exists", p)
	}
}

// agentProcesses lists processes running the installed agent binary.
func agentProcesses(t *testing.T) []string {
	t.Helper()
	var found []string
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, c := range cmdlines {
		b, err := os.ReadFile(c)
		if err == nil && bytes.Contains(b, []byte("/usr/bin/fleetproof-agent")) {
			found = append(found, c+": "+string(bytes.ReplaceAll(b, []byte{0}, []byte{' '})))
		}
	}
	return found
}

func writeFile(t *testing.T, p, body string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestDebAgentLifecycle: install unconfigured, upgrade configured, remove,
// purge, as apt would on a managed Debian or Ubuntu machine.
func TestDebAgentLifecycle(t *testing.T) {
	need(t, "dpkg", "dpkg")
	const (
		bin     = "/usr/bin/fleetproof-agent"
		unit    = "/lib/systemd/system/fleetproof-agent.service"
		example = "/etc/fleetproof/agent.yaml.example"
		config  = "/etc/fleetproof/agent.yaml"
		state   = "/var/lib/fleetproof"
	)
	requireClean(t, bin, unit, example, config, state, "/etc/fleetproof/managed.yaml", "/etc/fleetproof/managed.json",
		"/etc/default/fleetproof-agent", "/etc/systemd/system/fleetproof-agent.service", enabledLink+"fleetproof-agent.service")
	if dpkgStatus(AgentPackage) != "" {
		t.Skipf("dpkg knows %s already", AgentPackage)
	}
	systemd := exists("/run/systemd/system")
	v1 := buildPackages(t, "v1.0.0", "deb")[AgentPackage]["deb"]
	v2 := buildPackages(t, "v1.0.1", "deb")[AgentPackage]["deb"]
	t.Cleanup(func() {
		if dpkgStatus(AgentPackage) != "" {
			if out, err := exec.Command("dpkg", "-P", AgentPackage).CombinedOutput(); err != nil {
				t.Errorf("cleanup: dpkg -P: %v\n%s", err, out)
			}
		}
		os.Remove(config)
		os.Remove(enabledLink + "fleetproof-agent.service")
		os.Remove("/etc/fleetproof") // only when empty
		os.RemoveAll(state)
	})

	// 1. Fresh install with no configuration: files in place, the state
	// directory private, the service neither enabled nor started.
	out := installCmd(t, "dpkg", "-i", v1)
	if !strings.Contains(out, "not started: server_url is not set") {
		t.Errorf("dpkg -i output does not say why the agent is not started:\n%s", out)
	}
	if s := dpkgStatus(AgentPackage); s != "install ok installed" {
		t.Fatalf("status after install: %q", s)
	}
	mustExist(t, bin, 0o755)
	mustExist(t, unit, 0o644)
	mustExist(t, example, 0o644)
	mustExist(t, state, 0o700)
	mustNotExist(t, enabledLink+"fleetproof-agent.service")
	if p := agentProcesses(t); len(p) > 0 {
		t.Errorf("the agent runs although nothing is configured: %v", p)
	}
	if c, _ := exec.Command("dpkg-query", "-W", "-f", "${Conffiles}", AgentPackage).Output(); !strings.Contains(string(c), example) {
		t.Errorf("conffiles: %q", c)
	}

	// 2. The device enrolls (stand-in: a key in the state directory), the
	// admin edits the example and configures the agent, and version 1.0.1
	// arrives. Without a running systemd the unit is enabled for the next
	// boot; with one, this test does not configure the agent (it would
	// start the fake binary for real).
	writeFile(t, state+"/device.key", "key")
	writeFile(t, example, "# edited by the admin\n")
	if !systemd {
		writeFile(t, config, "server_url: https://fleetproof.example.com\n")
	}
	out = installCmd(t, "dpkg", "-i", v2)
	if s, _ := exec.Command("dpkg-query", "-W", "-f", "${Version}", AgentPackage).Output(); string(s) != "1.0.1" {
		t.Errorf("version after upgrade: %q", s)
	}
	mustExist(t, state+"/device.key", 0)
	if b, _ := os.ReadFile(example); string(b) != "# edited by the admin\n" {
		t.Errorf("upgrade replaced the edited conffile: %q", b)
	}
	if !systemd {
		if !strings.Contains(out, "enabled fleetproof-agent.service for the next boot") {
			t.Errorf("upgrade output:\n%s", out)
		}
		if target, err := os.Readlink(enabledLink + "fleetproof-agent.service"); err != nil || target != unit {
			t.Errorf("configured agent not enabled: %q %v", target, err)
		}
	}
	if p := agentProcesses(t); len(p) > 0 {
		t.Errorf("the agent runs without systemd: %v", p)
	}

	// 3. Remove: program and unit go, configuration and state stay.
	installCmd(t, "dpkg", "-r", AgentPackage)
	if s := dpkgStatus(AgentPackage); s != "deinstall ok config-files" {
		t.Errorf("status after remove: %q", s)
	}
	mustNotExist(t, bin)
	mustNotExist(t, unit)
	mustNotExist(t, enabledLink+"fleetproof-agent.service")
	mustExist(t, example, 0)
	mustExist(t, state+"/device.key", 0)
	if !systemd {
		mustExist(t, config, 0)
	}

	// 4. Purge: state and the package's conffile go; the admin's own
	// agent.yaml stays.
	out = installCmd(t, "dpkg", "-P", AgentPackage)
	if s := dpkgStatus(AgentPackage); s != "" && s != "unknown ok not-installed" {
		t.Errorf("status after purge: %q", s)
	}
	mustNotExist(t, state)
	mustNotExist(t, example)
	if !systemd {
		mustExist(t, config, 0)
	}
	if !strings.Contains(out, "deleted "+state) {
		t.Errorf("purge output:\n%s", out)
	}
}

// TestDebCollectorInstall: the collector package creates its system user
// and data directory, does not start without a configuration, and keeps
// the evidence on purge.
func TestDebCollectorInstall(t *testing.T) {
	need(t, "dpkg", "dpkg")
	const data = "/var/lib/fleetproof-collector"
	requireClean(t, "/usr/bin/fleetproof-collector", "/lib/systemd/system/fleetproof-collector.service",
		"/etc/fleetproof/collector.yaml", "/etc/fleetproof/collector.yaml.example", data)
	if err := exec.Command("getent", "passwd", "fleetproof").Run(); err == nil {
		t.Skip("a user fleetproof exists already")
	}
	if err := exec.Command("getent", "group", "fleetproof").Run(); err == nil {
		t.Skip("a group fleetproof exists already")
	}
	if dpkgStatus(CollectorPackage) != "" {
		t.Skipf("dpkg knows %s already", CollectorPackage)
	}
	deb := buildPackages(t, "v1.0.0", "deb")[CollectorPackage]["deb"]
	t.Cleanup(func() {
		if dpkgStatus(CollectorPackage) != "" {
			if out, err := exec.Command("dpkg", "-P", CollectorPackage).CombinedOutput(); err != nil {
				t.Errorf("cleanup: dpkg -P: %v\n%s", err, out)
			}
		}
		os.RemoveAll(data)
		exec.Command("userdel", "fleetproof").Run()
		exec.Command("groupdel", "fleetproof").Run()
		os.Remove("/etc/fleetproof")
	})

	out := installCmd(t, "dpkg", "-i", deb)
	for _, want := range []string{"created system user fleetproof", "not started: /etc/fleetproof/collector.yaml does not exist"} {
		if !strings.Contains(out, want) {
			t.Errorf("dpkg -i output lacks %q:\n%s", want, out)
		}
	}
	pw, err := exec.Command("getent", "passwd", "fleetproof").Output()
	if err != nil {
		t.Fatalf("no user fleetproof after install: %v", err)
	}
	f := strings.Split(strings.TrimSpace(string(pw)), ":")
	if len(f) != 7 || f[5] != data || !strings.HasSuffix(f[6], "nologin") {
		t.Errorf("user: %q", pw)
	}
	if uid := f[2]; len(uid) > 3 { // system users are below 1000 on Debian
		t.Errorf("uid %s is not a system uid", uid)
	}
	mustExist(t, data, 0o750)
	if o, _ := exec.Command("stat", "-c", "%U:%G", data).Output(); strings.TrimSpace(string(o)) != "fleetproof:fleetproof" {
		t.Errorf("%s owned by %s", data, o)
	}
	mustNotExist(t, enabledLink+"fleetproof-collector.service")

	writeFile(t, data+"/evidence", "rows")
	out = installCmd(t, "dpkg", "-P", CollectorPackage)
	mustExist(t, data+"/evidence", 0)
	if err := exec.Command("getent", "passwd", "fleetproof").Run(); err != nil {
		t.Error("purge removed the user that owns the evidence")
	}
	if !strings.Contains(out, "kept "+data) {
		t.Errorf("purge output:\n%s", out)
	}
}

// TestRPMAgentLifecycle installs, upgrades and erases the agent's rpm with
// rpm itself (a private database, so the machine's rpm database, if any,
// is untouched). It is what proves the scriptlets read $1 right: rpm runs
// the old version's %preun/%postun after installing the new one, and state
// deleted there would be an agent that re-enrolls after every upgrade.
func TestRPMAgentLifecycle(t *testing.T) {
	rpm := need(t, "rpm", "rpm")
	const (
		bin     = "/usr/bin/fleetproof-agent"
		unit    = "/usr/lib/systemd/system/fleetproof-agent.service"
		example = "/etc/fleetproof/agent.yaml.example"
		state   = "/var/lib/fleetproof"
	)
	requireClean(t, bin, unit, "/lib/systemd/system/fleetproof-agent.service", example, "/etc/fleetproof/agent.yaml",
		"/etc/fleetproof/managed.yaml", "/etc/default/fleetproof-agent", "/etc/sysconfig/fleetproof-agent", state,
		example+".rpmsave", enabledLink+"fleetproof-agent.service")
	if dpkgStatus(AgentPackage) != "" {
		t.Skipf("dpkg knows %s already", AgentPackage)
	}
	db := t.TempDir()
	base := []string{"--dbpath", db}
	if help, _ := exec.Command(rpm, "--help").CombinedOutput(); bytes.Contains(help, []byte("--force-debian")) {
		base = append(base, "--force-debian") // Debian's rpm refuses to install otherwise
	}
	rpmCmd := func(args ...string) string {
		t.Helper()
		return installCmd(t, rpm, append(append([]string{}, base...), args...)...)
	}
	v1 := buildPackages(t, "v1.0.0", "rpm")[AgentPackage]["rpm"]
	v2 := buildPackages(t, "v1.0.1", "rpm")[AgentPackage]["rpm"]
	t.Cleanup(func() {
		if exec.Command(rpm, "--dbpath", db, "-q", AgentPackage).Run() == nil {
			exec.Command(rpm, append(append([]string{}, base...), "-e", "--noscripts", AgentPackage)...).Run()
		}
		for _, p := range []string{bin, unit, example, example + ".rpmsave", enabledLink + "fleetproof-agent.service"} {
			os.Remove(p)
		}
		os.Remove("/etc/fleetproof")
		os.RemoveAll(state)
	})

	rpmCmd("-i", "--nodeps", v1)
	mustExist(t, bin, 0o755)
	mustExist(t, unit, 0o644)
	mustExist(t, example, 0o644)
	mustExist(t, state, 0o700)
	mustNotExist(t, enabledLink+"fleetproof-agent.service")
	if p := agentProcesses(t); len(p) > 0 {
		t.Errorf("the agent runs although nothing is configured: %v", p)
	}

	writeFile(t, state+"/device.key", "key")
	writeFile(t, example, "# edited by the admin\n")
	rpmCmd("-U", "--nodeps", v2)
	if q := rpmCmd("-q", "--qf", "%{VERSION}", AgentPackage); q != "1.0.1" {
		t.Errorf("version after upgrade: %q", q)
	}
	mustExist(t, state+"/device.key", 0)
	if b, _ := os.ReadFile(example); string(b) != "# edited by the admin\n" {
		t.Errorf("upgrade replaced the edited %%config(noreplace) file: %q", b)
	}

	rpmCmd("-e", AgentPackage)
	mustNotExist(t, bin)
	mustNotExist(t, unit)
	mustNotExist(t, state)
	// rpm keeps an edited config file on erase, renamed.
	mustExist(t, example+".rpmsave", 0)
	if err := exec.Command(rpm, "--dbpath", db, "-q", AgentPackage).Run(); err == nil {
		t.Error("still installed after rpm -e")
	} else if ee := (*exec.ExitError)(nil); !errors.As(err, &ee) {
		t.Errorf("rpm -q: %v", err)
	}
}
