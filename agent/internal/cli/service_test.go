package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// These run against the machine's real service manager but only ask about
// a service name that is never installed, so they change nothing.
func TestServiceCommandsOnAServiceThatIsNotInstalled(t *testing.T) {
	name := fmt.Sprintf("fleetproof-agent-cli-test-%d", os.Getpid())
	for _, tc := range []struct {
		args       []string
		code       int
		stdout     string
		stderrPart string
	}{
		{[]string{"status"}, 0, "not installed\n", ""},
		{[]string{"start"}, 1, "", `not installed; run "fleetproof-agent install" first`},
		{[]string{"stop"}, 1, "", "not installed"},
		{[]string{"restart"}, 1, "", "not installed"},
		{[]string{"uninstall"}, 0, name + " was not installed\n", ""},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := Run(context.Background(), append(tc.args, "-service-name", name), &stdout, &stderr)
			if code != tc.code || stdout.String() != tc.stdout || !strings.Contains(stderr.String(), tc.stderrPart) {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d, %q, …%q…", code, stdout.String(), stderr.String(), tc.code, tc.stdout, tc.stderrPart)
			}
		})
	}
}

func TestUninstallPurgeDeletesTheConfiguredStateDir(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	if err := os.MkdirAll(state, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(cfg, []byte("state_dir: "+state+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	name := fmt.Sprintf("fleetproof-agent-cli-test-%d", os.Getpid())
	if code := Run(context.Background(), []string{"uninstall", "-purge", "-config", cfg, "-service-name", name}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Errorf("state dir still there: %v", err)
	}
	if _, err := os.Stat(cfg); err != nil {
		t.Errorf("config file gone: %v", err)
	}
	if !strings.Contains(stdout.String(), "deleted state directory "+state) {
		t.Errorf("stdout %q", stdout.String())
	}
}

func TestUninstallPurgeWithBrokenConfigChangesNothing(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "agent.yaml")
	os.WriteFile(cfg, []byte("log_level: loud\n"), 0o600)
	var stdout, stderr bytes.Buffer
	code := Run(context.Background(), []string{"uninstall", "-purge", "-config", cfg, "-service-name", "fleetproof-agent-cli-test-x"}, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "--purge needs the configuration") || stdout.Len() != 0 {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}
}

func TestServiceNameMustBeSafe(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := Run(context.Background(), []string{"status", "-service-name", "../../etc/passwd"}, &stdout, &stderr); code != 1 {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
}
