package service

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	ks "github.com/kardianos/service"
)

// systemdBackend is kardianos' systemd implementation, which exists in
// every Linux build whether or not systemd runs here.
func systemdBackend(t *testing.T) ks.System {
	t.Helper()
	for _, s := range ks.AvailableSystems() {
		if s.String() == PlatformSystemd {
			return s
		}
	}
	t.Fatal("kardianos has no linux-systemd backend")
	return nil
}

// TestSystemdUnitAsKardianosWritesIt renders the unit through kardianos
// itself, not a copy of its template engine: a user-mode install writes
// ~/.config/systemd/user/NAME.service, and with HOME in a temp dir and no
// systemctl on PATH nothing else on the machine is touched (the enable
// step fails after the file is written).
func TestSystemdUnitAsKardianosWritesIt(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
	sdAnalyze, _ := exec.LookPath("systemd-analyze")
	t.Setenv("PATH", t.TempDir())

	exe := filepath.Join(t.TempDir(), "fleetproof agent") // a space, to check escaping
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg, err := Definition(Options{Executable: exe, ConfigPath: "/etc/fleetproof/agent.yaml"}, PlatformSystemd)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Option["UserService"] = true
	s, err := systemdBackend(t).New(noop{}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	installErr := s.Install() // fails at "systemctl enable": not on PATH
	b, err := os.ReadFile(filepath.Join(home, ".config", "systemd", "user", Name+".service"))
	if err != nil {
		t.Fatalf("unit not written (install: %v): %v", installErr, err)
	}
	unit := string(b)
	for _, want := range []string{
		"\nRestart=always\n",
		"\nRestartSec=5\n",
		"\nTimeoutStopSec=30\n",
		"\nStartLimitIntervalSec=0\n",
		"\nAfter=network-online.target\n",
		"\nWants=network-online.target\n",
		`ExecStart=` + strings.ReplaceAll(exe, " ", `\x20`) + ` "run" "-config" "/etc/fleetproof/agent.yaml"` + "\n",
		"\nDescription=" + Description + "\n",
	} {
		if !strings.Contains(unit, want) {
			t.Errorf("unit lacks %q:\n%s", want, unit)
		}
	}
	if strings.Contains(unit, "RestartSec=120") {
		t.Errorf("unit keeps the 120 s restart delay:\n%s", unit)
	}

	// systemd's own parser, when installed, must accept every line.
	if sdAnalyze == "" {
		t.Log("systemd-analyze not installed; unit syntax not verified by systemd")
		return
	}
	out, err := exec.Command(sdAnalyze, "verify", filepath.Join(home, ".config", "systemd", "user", Name+".service")).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
