package extract_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fleetproof/fleetproof/collector/internal/extract"
)

// resign rewrites manifest.json from m and signs it with key: what a
// forger with the collector's key (or their own key) would do.
func resign(t *testing.T, dir string, m *extract.Manifest, key ed25519.PrivateKey) {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(m); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, extract.ManifestFile), buf.Bytes(), 0o644)
	sig := ed25519.Sign(key, buf.Bytes())
	os.WriteFile(filepath.Join(dir, extract.SignatureFile), []byte(b64(sig)+"\n"), 0o644)
}

func TestVerifyNamesWhatWasTamperedWith(t *testing.T) {
	st := fleet(t)
	good, _ := write(t, st, options(t))
	pin := extract.Fingerprint(testKey().Public().(ed25519.PublicKey))
	otherKey := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, ed25519.SeedSize))

	cases := []struct {
		name   string
		damage func(t *testing.T, dir string)
		pin    string
		want   []string // "file kind" of every finding, in order
	}{
		{"untouched", func(*testing.T, string) {}, pin, nil},
		{"one byte of evidence.csv changed", func(t *testing.T, dir string) {
			path := filepath.Join(dir, extract.EvidenceFile)
			b, _ := os.ReadFile(path)
			i := bytes.Index(b, []byte("fail"))
			b[i] = 'F'
			os.WriteFile(path, b, 0o644)
		}, pin, []string{"evidence.csv changed"}},
		{"a file deleted", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, extract.GapsFile))
		}, pin, []string{"gaps.csv removed"}},
		{"a file added", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "more-evidence.csv"), []byte("x"), 0o644)
		}, pin, []string{"more-evidence.csv added"}},
		{"a file added in a subdirectory", func(t *testing.T, dir string) {
			os.Mkdir(filepath.Join(dir, "extra"), 0o755)
			os.WriteFile(filepath.Join(dir, "extra", "notes.txt"), []byte("x"), 0o644)
		}, pin, []string{"extra/notes.txt added"}},
		{"the manifest altered", func(t *testing.T, dir string) {
			path := filepath.Join(dir, extract.ManifestFile)
			b, _ := os.ReadFile(path)
			os.WriteFile(path, bytes.Replace(b, []byte(`"CC7.1"`), []byte(`"CC8.1"`), 1), 0o644)
		}, pin, []string{"manifest.json signature"}},
		{"the manifest not JSON any more", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, extract.ManifestFile), []byte("{"), 0o644)
		}, pin, []string{"manifest.json manifest"}},
		{"the signature deleted", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, extract.SignatureFile))
		}, pin, []string{"manifest.sig removed"}},
		{"a file changed and the manifest re-signed with another key", func(t *testing.T, dir string) {
			path := filepath.Join(dir, extract.EvidenceFile)
			os.WriteFile(path, []byte("\uFEFFdevice_id\r\n"), 0o644)
			res, _ := extract.Verify(dir, "")
			m := res.Manifest
			for i, f := range m.Files {
				if f.Name == extract.EvidenceFile {
					m.Files[i].Size, m.Files[i].SHA256 = hash(t, path)
				}
			}
			m.SigningKey = extract.SigningKeyFor(otherKey.Public().(ed25519.PublicKey))
			resign(t, dir, m, otherKey)
		}, pin, []string{"manifest.json key"}},
		{"a hand-picked sample re-signed with the real key", func(t *testing.T, dir string) {
			path := filepath.Join(dir, extract.SampleFile)
			b, _ := os.ReadFile(path)
			b = bytes.Replace(b, []byte("\r\n1,dev-"), []byte("\r\n1,dev-01-"), 1)
			os.WriteFile(path, b, 0o644)
			res, _ := extract.Verify(dir, "")
			m := res.Manifest
			for i, f := range m.Files {
				if f.Name == extract.SampleFile {
					m.Files[i].Size, m.Files[i].SHA256 = hash(t, path)
				}
			}
			resign(t, dir, m, testKey())
		}, pin, []string{"sample.csv sample"}},
		{"an unexpected key pinned", func(*testing.T, string) {}, extract.Fingerprint(otherKey.Public().(ed25519.PublicKey)),
			[]string{"manifest.json key"}},
		{"two problems at once", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, extract.PopulationFile), nil, 0o644)
			os.Remove(filepath.Join(dir, extract.WorkbookFile))
		}, pin, []string{"evidence.xlsx removed", "population.csv changed"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := copyDir(t, good)
			c.damage(t, dir)
			res, err := extract.Verify(dir, c.pin)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range res.Findings {
				got = append(got, f.File+" "+f.Kind)
			}
			if strings.Join(got, "|") != strings.Join(c.want, "|") {
				t.Errorf("findings %q, want %q\n%v", got, c.want, res.Findings)
			}
		})
	}
}

func hash(t *testing.T, path string) (int64, string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return int64(len(b)), sha256hex(b)
}

// TestManualRecipeInTheREADMEWorks runs the README's OpenSSL and
// sha256sum steps, so the instructions an auditor follows by hand stay
// true.
func TestManualRecipeInTheREADMEWorks(t *testing.T) {
	for _, tool := range []string{"openssl", "sha256sum", "jq", "base64", "sh"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s not installed", tool)
			}
			t.Skipf("%s not installed, so the README's manual recipe is not tried", tool)
		}
	}
	st := fleet(t)
	dir, m := write(t, st, options(t))
	readme, _ := os.ReadFile(filepath.Join(dir, extract.ReadmeFile))
	var blocks []string
	for i, part := range strings.Split(string(readme), "```") {
		if i%2 == 1 && !strings.HasPrefix(part, "sql") {
			blocks = append(blocks, strings.TrimPrefix(part, "\n"))
		}
	}
	// blocks: the verify command, then the four manual steps.
	if len(blocks) != 5 {
		t.Fatalf("README has %d shell blocks, want 5:\n%q", len(blocks), blocks)
	}
	sh := func(script string) string {
		cmd := exec.Command("sh", "-ec", script)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", script, err, out)
		}
		return string(out)
	}
	sh(blocks[1])
	if out := sh(blocks[2]); !strings.Contains(out, strings.TrimPrefix(m.SigningKey.Fingerprint, "SHA256:")) {
		t.Errorf("openssl fingerprint %q is not the manifest's %s", out, m.SigningKey.Fingerprint)
	}
	if out := sh(blocks[3]); !strings.Contains(out, "Signature Verified Successfully") {
		t.Errorf("openssl signature check: %s", out)
	}
	if out := sh(blocks[4]); strings.Count(out, ": OK") != len(m.Files) {
		t.Errorf("sha256sum -c: %s", out)
	}
	// And it fails once manifest.json is altered.
	path := filepath.Join(dir, extract.ManifestFile)
	b, _ := os.ReadFile(path)
	os.WriteFile(path, bytes.Replace(b, []byte("CC6.1"), []byte("CC6.2"), 1), 0o644)
	cmd := exec.Command("sh", "-ec", blocks[3])
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Errorf("openssl accepted an altered manifest: %s", out)
	}
}
