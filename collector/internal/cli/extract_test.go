package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleetproof/fleetproof/collector/internal/chtest"
	"github.com/fleetproof/fleetproof/collector/internal/cli"
	"github.com/fleetproof/fleetproof/collector/internal/extract"
	"github.com/fleetproof/fleetproof/collector/internal/store"
	"github.com/fleetproof/fleetproof/evidence"
)

// extractCLI runs a command line and returns exit code, stdout, stderr.
func extractCLI(args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := cli.Run(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// extractFleet seeds one enrolled Mac with results in the first half of 2026.
func extractFleet(t *testing.T) string {
	t.Helper()
	dsn := chtest.Database(t)
	st, err := store.Open(t.Context(), dsn, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	enrolled := time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC)
	if err := st.UpsertDevice(t.Context(), store.Device{DeviceID: "dev-1", PublicKey: "UKEY", Hostname: "Zoë's MacBook",
		OS: "darwin", EnrolledAt: enrolled, UpdatedAt: enrolled}); err != nil {
		t.Fatal(err)
	}
	env := &evidence.Envelope{Schema: 1, DeviceID: "dev-1", Seq: 1}
	for i, status := range []evidence.Status{evidence.StatusPass, evidence.StatusFail, evidence.StatusPass} {
		env.Results = append(env.Results, evidence.Result{CheckID: "disk_encryption", CheckVersion: 1, Pack: "fleetproof-core",
			PackVersion: "1.0.0", ObservedAt: time.Date(2026, 2, 1+i, 9, 0, 0, 0, time.UTC), Status: status})
	}
	if err := st.InsertEnvelopes(t.Context(), []*evidence.Envelope{env}, time.Date(2026, 2, 4, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	return dsn
}

func TestExtractThenVerifyFromTheCommandLine(t *testing.T) {
	dsn := extractFleet(t)
	dataDir := t.TempDir()
	out := filepath.Join(t.TempDir(), "audit-2026h1")
	code, stdout, stderr := extractCLI("extract", "-clickhouse-dsn", dsn, "-data-dir", dataDir,
		"--controls", "CC6.1", "--from", "2026-01-01", "--to", "2026-06-30", "--out", out, "--sample", "1")
	if code != 0 {
		t.Fatalf("extract: exit %d\n%s%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "extract: evidence.csv: 3 rows") {
		t.Errorf("no progress on stderr:\n%s", stderr)
	}
	raw, err := os.ReadFile(filepath.Join(out, extract.ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	var m extract.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if want := extract.DefaultSeed([]string{"CC6.1"}, "2026-01-01", "2026-06-30"); m.Sample.Seed != want {
		t.Errorf("seed %d without -seed, want the derived %d", m.Sample.Seed, want)
	}
	if info, err := os.Stat(filepath.Join(dataDir, extract.KeyFile)); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("signing key not kept in the data dir with mode 0600: %v %v", info, err)
	}

	code, stdout, _ = extractCLI("extract-key", "-data-dir", dataDir)
	fingerprint, _, _ := strings.Cut(stdout, "\n")
	if code != 0 || fingerprint != m.SigningKey.Fingerprint || !strings.Contains(stdout, m.SigningKey.PublicKeyPEM) {
		t.Fatalf("extract-key printed %q, the manifest has %s", stdout, m.SigningKey.Fingerprint)
	}

	cases := []struct {
		name     string
		args     []string
		damage   func(dir string)
		wantCode int
		want     string // in stdout+stderr
	}{
		{"intact, key pinned", []string{"-key", fingerprint}, nil, 0, "OK: "},
		{"intact, flag after the directory", []string{"-key", fingerprint}, nil, 0, "signed by the expected key"},
		{"intact, no key pinned", nil, nil, 0, "compare it with the fingerprint obtained out of band"},
		{"another key pinned", []string{"-key", "SHA256:00"}, nil, 1, "manifest.json key"},
		{"evidence.csv edited", nil, func(dir string) {
			p := filepath.Join(dir, extract.EvidenceFile)
			b, _ := os.ReadFile(p)
			os.WriteFile(p, bytes.Replace(b, []byte(",fail,"), []byte(",pass,"), 1), 0o644)
		}, 1, "FAILED: evidence.csv changed"},
		{"sample.csv deleted and a file added", nil, func(dir string) {
			os.Remove(filepath.Join(dir, extract.SampleFile))
			os.WriteFile(filepath.Join(dir, "notes.txt"), nil, 0o644)
		}, 1, "sample.csv removed, notes.txt added"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "b")
			if err := os.CopyFS(dir, os.DirFS(out)); err != nil {
				t.Fatal(err)
			}
			if c.damage != nil {
				c.damage(dir)
			}
			args := append([]string{"verify"}, append(c.args, dir)...)
			if strings.Contains(c.name, "after the directory") {
				args = append([]string{"verify", dir}, c.args...)
			}
			code, stdout, stderr := extractCLI(args...)
			if code != c.wantCode || !strings.Contains(stdout+stderr, c.want) {
				t.Errorf("exit %d, want %d with %q:\n%s%s", code, c.wantCode, c.want, stdout, stderr)
			}
		})
	}
}

func TestExtractRefusesBadFlags(t *testing.T) {
	dsn := extractFleet(t)
	occupied := t.TempDir()
	os.WriteFile(filepath.Join(occupied, "x"), nil, 0o644)
	base := func(extra ...string) []string {
		args := []string{"extract", "-clickhouse-dsn", dsn, "-data-dir", t.TempDir(), "-controls", "CC6.1",
			"-from", "2026-01-01", "-to", "2026-06-30", "-out", filepath.Join(t.TempDir(), "b")}
		return append(args, extra...)
	}
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"no controls", []string{"extract", "-from", "2026-01-01", "-to", "2026-06-30", "-out", "x"}, "are required"},
		{"a date that is not one", base("-from", "January"), "want YYYY-MM-DD"},
		{"a control without checks", base("-controls", "CC9.9"), "no check evidences CC9.9"},
		{"a bundle directory in use", base("-out", occupied), "is not empty"},
		{"a negative sample", base("-sample", "-1"), "must not be negative"},
		{"verify without a directory", []string{"verify"}, "exactly one bundle directory"},
		{"verify a directory that is not there", []string{"verify", filepath.Join(t.TempDir(), "nope")}, "no such file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, stdout, stderr := extractCLI(c.args...)
			if code == 0 || !strings.Contains(stderr, c.want) {
				t.Errorf("exit %d, want an error with %q:\n%s%s", code, c.want, stdout, stderr)
			}
		})
	}
}
