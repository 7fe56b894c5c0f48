package pkg

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunRefuses(t *testing.T) {
	agent, _ := fakeBinaries(t)
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"no binary", Options{Version: "v1.0.0", Arch: "amd64"}, "nothing to package"},
		{"missing binary", Options{Version: "v1.0.0", Arch: "amd64", AgentBinary: filepath.Join(t.TempDir(), "nope")}, "fleetproof-agent binary"},
		{"directory as binary", Options{Version: "v1.0.0", Arch: "amd64", AgentBinary: t.TempDir()}, "not a regular file"},
		{"unknown format", Options{Version: "v1.0.0", Arch: "amd64", AgentBinary: agent, Formats: []string{"msi"}}, `format "msi"`},
		{"bad version", Options{Version: "release-7", Arch: "amd64", AgentBinary: agent}, "version"},
		{"no arch", Options{Version: "v1.0.0", AgentBinary: agent}, "arch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			if tc.o.OutDir == "" {
				tc.o.OutDir = out
			}
			arts, err := Run(tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Run: %v, want an error about %q", err, tc.want)
			}
			if len(arts) != 0 {
				t.Errorf("wrote %v", arts)
			}
			if ents, _ := os.ReadDir(out); len(ents) != 0 {
				t.Errorf("output directory not empty: %v", ents)
			}
		})
	}
}

// TestRunWritesOnlyFinishedPackages: every artifact is in the output
// directory under its final name, with nothing else beside it.
func TestRunWritesOnlyFinishedPackages(t *testing.T) {
	agent, collector := fakeBinaries(t)
	out := t.TempDir()
	arts, err := Run(Options{Version: "v2.0.0", Arch: "arm64", AgentBinary: agent, CollectorBinary: collector, OutDir: out, MTime: testMTime})
	if err != nil {
		t.Fatal(err)
	}
	if len(arts) != 2*len(Formats) {
		t.Fatalf("%d artifacts: %v", len(arts), arts)
	}
	ents, _ := os.ReadDir(out)
	if len(ents) != len(arts) {
		t.Errorf("output directory holds %d files for %d packages", len(ents), len(arts))
	}
	for _, a := range arts {
		st, err := os.Stat(a.Path)
		if err != nil || st.Size() != a.Size || st.Size() == 0 || st.Mode().Perm() != 0o644 {
			t.Errorf("%s: %v %v", a.Path, st, err)
		}
		if want := a.Package + "_2.0.0_arm64." + a.Format; filepath.Base(a.Path) != want {
			t.Errorf("file %s, want %s", filepath.Base(a.Path), want)
		}
	}
}
