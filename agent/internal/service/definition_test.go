package service

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestDefinitionRunsTheAgentWithItsConfig(t *testing.T) {
	abs, _ := filepath.Abs("agent.yaml")
	for _, tc := range []struct {
		name string
		o    Options
		want []string
	}{
		{"defaults run with the agent's own lookup", Options{}, []string{"run"}},
		{"config path is recorded absolute", Options{ConfigPath: "agent.yaml"}, []string{"run", "-config", abs}},
		{"a second instance passes its name", Options{Name: "fleetproof-agent-staging", ConfigPath: "/etc/fp/staging.yaml"},
			[]string{"run", "-service-name", "fleetproof-agent-staging", "-config", "/etc/fp/staging.yaml"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Definition(tc.o, PlatformSystemd)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(c.Arguments, tc.want) {
				t.Errorf("arguments %q, want %q", c.Arguments, tc.want)
			}
			if c.UserName != "" {
				t.Errorf("runs as %q; a system service must run as root/SYSTEM", c.UserName)
			}
		})
	}
}

func TestDefinitionNamesTheService(t *testing.T) {
	c, err := Definition(Options{}, PlatformWindows)
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "fleetproof-agent" || c.DisplayName != "Fleetproof Agent" || c.Description == "" {
		t.Errorf("name %q, display %q, description %q", c.Name, c.DisplayName, c.Description)
	}
}

func TestDefinitionRestartsQuicklyOnEveryPlatform(t *testing.T) {
	for _, tc := range []struct {
		platform string
		option   string
		want     any
	}{
		{PlatformSystemd, "Restart", "always"},
		{PlatformLaunchd, "KeepAlive", true},
		{PlatformLaunchd, "RunAtLoad", true},
		{PlatformWindows, "OnFailure", "restart"},
		{PlatformWindows, "OnFailureDelayDuration", "5s"},
		{PlatformWindows, "StartType", "automatic"},
	} {
		t.Run(tc.platform+" "+tc.option, func(t *testing.T) {
			c, err := Definition(Options{}, tc.platform)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Option[tc.option]; got != tc.want {
				t.Errorf("option %s = %v, want %v", tc.option, got, tc.want)
			}
		})
	}
}

func TestSystemdUnitRestartsAfterFiveSecondsNotTwoMinutes(t *testing.T) {
	c, err := Definition(Options{}, PlatformSystemd)
	if err != nil {
		t.Fatal(err)
	}
	unit, _ := c.Option["SystemdScript"].(string)
	for _, want := range []string{"Restart={{Restart}}", "RestartSec=5\n", "TimeoutStopSec=30\n", "StartLimitIntervalSec=0", "KillMode=mixed", "WantedBy=multi-user.target"} {
		if !strings.Contains(unit, want) {
			t.Errorf("unit template lacks %q:\n%s", want, unit)
		}
	}
	if strings.Contains(unit, "RestartSec=120") {
		t.Error("unit keeps kardianos' 120 s restart delay")
	}
	if !slices.Equal(c.Dependencies, []string{"After=network-online.target", "Wants=network-online.target"}) {
		t.Errorf("dependencies %q", c.Dependencies)
	}
}

func TestStopTimeoutOfServiceManagerExceedsGracefulStop(t *testing.T) {
	if managerStopTimeout <= StopTimeout {
		t.Fatalf("the service manager would kill the agent (%s) before its graceful stop ends (%s)", managerStopTimeout, StopTimeout)
	}
}

func TestPlatformSpecificPartsStayOnTheirPlatform(t *testing.T) {
	for _, tc := range []struct {
		platform              string
		systemd, sysv         bool
		dependenciesStartWith string
	}{
		{PlatformSystemd, true, false, "After="},
		{PlatformSysV, false, true, ""},
		{PlatformWindows, false, false, "Tcpip"},
		{PlatformLaunchd, false, false, ""},
		{"linux-procd", false, false, ""}, // reads SysvScript too, in its own format
	} {
		t.Run(tc.platform, func(t *testing.T) {
			c, err := Definition(Options{}, tc.platform)
			if err != nil {
				t.Fatal(err)
			}
			_, systemd := c.Option["SystemdScript"]
			_, sysv := c.Option["SysvScript"]
			if systemd != tc.systemd || sysv != tc.sysv {
				t.Errorf("systemd template %v, sysv script %v; want %v, %v", systemd, sysv, tc.systemd, tc.sysv)
			}
			first := ""
			if len(c.Dependencies) > 0 {
				first = c.Dependencies[0]
			}
			if !strings.HasPrefix(first, tc.dependenciesStartWith) || (tc.dependenciesStartWith == "" && first != "") {
				t.Errorf("dependencies %q", c.Dependencies)
			}
		})
	}
}

func TestSysVScriptIsForThisServiceAndWaitsForGracefulStop(t *testing.T) {
	c, err := Definition(Options{Name: "fleetproof-agent-x"}, PlatformSysV)
	if err != nil {
		t.Fatal(err)
	}
	script := c.Option["SysvScript"].(string)
	for _, want := range []string{"# Provides:          fleetproof-agent-x\n", "name=fleetproof-agent-x\n", "stop_wait=30\n", `"$state" != Z`, "exit 3"} {
		if !strings.Contains(script, want) {
			t.Errorf("script lacks %q", want)
		}
	}
	if strings.Contains(script, "@") {
		t.Error("script has an unreplaced @PLACEHOLDER@")
	}
}

func TestDefinitionRejectsNamesUnsafeForScriptsAndPaths(t *testing.T) {
	for _, name := range []string{"../evil", "a b", "x;rm -rf /", "-flag", strings.Repeat("a", 65)} {
		if _, err := Definition(Options{Name: name}, PlatformSysV); err == nil {
			t.Errorf("name %q accepted", name)
		}
	}
}
