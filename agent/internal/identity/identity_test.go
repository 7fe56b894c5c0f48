package identity_test

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nkeys"

	"github.com/fleetproof/fleetproof/agent/internal/identity"
)

func TestLoadOrCreateIsStableAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	a, err := identity.LoadOrCreate(dir, "4C4C4544-0042-3510-8052-B4C04F4E3232")
	if err != nil {
		t.Fatal(err)
	}
	b, err := identity.LoadOrCreate(dir, "something-else-now")
	if err != nil {
		t.Fatal(err)
	}
	if a.DeviceID != b.DeviceID || a.PublicKey() != b.PublicKey() {
		t.Fatalf("identity changed across restarts: %s/%s vs %s/%s", a.DeviceID, a.PublicKey(), b.DeviceID, b.PublicKey())
	}
	st, err := os.Stat(filepath.Join(dir, identity.SeedFile))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("seed mode %v, want 0600", st.Mode().Perm())
	}
}

func TestReinstallKeepsDeviceIDButNotKey(t *testing.T) {
	a, _ := identity.LoadOrCreate(t.TempDir(), "4c4c4544-0042-3510-8052-b4c04f4e3232")
	b, _ := identity.LoadOrCreate(t.TempDir(), "4C4C4544-0042-3510-8052-B4C04F4E3232")
	if a.DeviceID != b.DeviceID {
		t.Errorf("same hardware gave %s and %s", a.DeviceID, b.DeviceID)
	}
	if a.PublicKey() == b.PublicKey() {
		t.Error("a reinstall reused the key")
	}
}

func TestPlaceholderHardwareIDsDoNotMergeDevices(t *testing.T) {
	for _, hw := range []string{"", "00000000-0000-0000-0000-000000000000", "03000200-0400-0500-0006-000700080009", "Default string"} {
		a, _ := identity.LoadOrCreate(t.TempDir(), hw)
		b, _ := identity.LoadOrCreate(t.TempDir(), hw)
		if a.DeviceID == b.DeviceID {
			t.Errorf("hardware id %q: two installs share device id %s", hw, a.DeviceID)
		}
	}
}

func TestDeviceIDIsSubjectSafe(t *testing.T) {
	id := identity.DeriveDeviceID("x", "U")
	if !strings.HasPrefix(id, "d-") || strings.ContainsAny(id, ".*> ") || len(id) != 22 {
		t.Errorf("device id %q", id)
	}
}

func TestSignaturesVerifyWithThePublicKey(t *testing.T) {
	id, err := identity.LoadOrCreate(t.TempDir(), "hw")
	if err != nil {
		t.Fatal(err)
	}
	sig, err := id.Sign([]byte("body"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := nkeys.Decode(nkeys.PrefixByteUser, []byte(id.PublicKey()))
	if err != nil {
		t.Fatal(err)
	}
	if !ed25519.Verify(raw, []byte("body"), sig) {
		t.Error("signature does not verify")
	}
}

func TestRefusesBadState(t *testing.T) {
	cases := []struct {
		name  string
		setup func(dir string)
		want  string
	}{
		{"corrupt seed", func(dir string) {
			os.WriteFile(filepath.Join(dir, identity.SeedFile), []byte("garbage"), 0o600)
		}, "not a valid nkey seed"},
		{"seed readable by others", func(dir string) {
			kp, _ := nkeys.CreateUser()
			seed, _ := kp.Seed()
			os.WriteFile(filepath.Join(dir, identity.SeedFile), seed, 0o644)
			os.Chmod(filepath.Join(dir, identity.SeedFile), 0o644)
		}, "readable by others"},
		{"empty device id", func(dir string) {
			os.WriteFile(filepath.Join(dir, identity.DeviceIDFile), []byte("\n"), 0o600)
		}, "is empty"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			c.setup(dir)
			_, err := identity.LoadOrCreate(dir, "hw")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to mention %q", err, c.want)
			}
		})
	}
}
