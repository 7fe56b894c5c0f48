package service

import (
	"os"
	"path/filepath"
	"testing"
)

func TestPurgeRemovesOnlyTheStateDir(t *testing.T) {
	root := t.TempDir()
	state := filepath.Join(root, "lib", "fleetproof")
	for _, p := range []string{
		filepath.Join(state, "device.seed"),
		filepath.Join(state, "spool.db"),
		filepath.Join(state, "sub", "enroll.json"),
		filepath.Join(root, "lib", "other-app", "data"),
		filepath.Join(root, "agent.yaml"),
	} {
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := Purge(state + "/"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Errorf("state dir still there: %v", err)
	}
	for _, keep := range []string{filepath.Join(root, "lib", "other-app", "data"), filepath.Join(root, "agent.yaml")} {
		if _, err := os.Stat(keep); err != nil {
			t.Errorf("purge removed %s: %v", keep, err)
		}
	}
}

func TestPurgeOfMissingStateDirIsFine(t *testing.T) {
	if err := Purge(filepath.Join(t.TempDir(), "never-created")); err != nil {
		t.Fatal(err)
	}
}

func TestPurgeRefusesDirectoriesTheAgentDoesNotOwn(t *testing.T) {
	home, _ := os.UserHomeDir()
	for _, dir := range []string{"", "relative/state", "/", "/etc", "/var/lib", "/var/lib/", "/usr", "/tmp", "/home", home, "/Library/Application Support"} {
		if dir == "" && home == "" {
			continue
		}
		if err := Purge(dir); err == nil {
			t.Errorf("Purge(%q) went ahead", dir)
		}
	}
}

func TestUninstallRemovesOnlyItsOwnRunlevelLinks(t *testing.T) {
	etc := t.TempDir()
	name := "fleetproof-agent-x"
	own := "/etc/init.d/" + name
	links := map[string]string{
		"rc2.d/S50" + name: own,
		"rc0.d/K02" + name: own,
		"rc3.d/S50" + name: "/etc/init.d/someone-else", // same name, other target: not ours
		"rc2.d/S01ssh":     "/etc/init.d/ssh",
	}
	for link, target := range links {
		p := filepath.Join(etc, link)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	removeRunlevelLinks(name, etc)
	for link, target := range links {
		_, err := os.Lstat(filepath.Join(etc, link))
		if gone := os.IsNotExist(err); gone != (target == own) {
			t.Errorf("%s -> %s: gone=%v", link, target, gone)
		}
	}
}
