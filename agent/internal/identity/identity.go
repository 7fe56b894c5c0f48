package identity

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/nats-io/nkeys"
)

// Files in the state directory.
const (
	SeedFile     = "device.nk"
	DeviceIDFile = "device_id"
)

// Identity is the device's key and id.
type Identity struct {
	DeviceID string
	kp       nkeys.KeyPair
}

// PublicKey is the nkey ("U...") the collector records at enrollment.
func (id *Identity) PublicKey() string {
	pk, _ := id.kp.PublicKey()
	return pk
}

// Sign signs data with the device key.
func (id *Identity) Sign(data []byte) ([]byte, error) { return id.kp.Sign(data) }

// Seed returns the private seed, for the NATS connection's nonce signing.
func (id *Identity) Seed() ([]byte, error) { return id.kp.Seed() }

// LoadOrCreate reads the identity from dir, creating what is missing.
// hardwareID is the platform's stable hardware identifier (system UUID or
// serial); it only matters the first time, when the device id is derived.
func LoadOrCreate(dir, hardwareID string) (*Identity, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("identity: state dir: %w", err)
	}
	kp, err := loadOrCreateKey(filepath.Join(dir, SeedFile))
	if err != nil {
		return nil, err
	}
	idPath := filepath.Join(dir, DeviceIDFile)
	b, err := os.ReadFile(idPath)
	switch {
	case err == nil:
		id := strings.TrimSpace(string(b))
		if id == "" {
			return nil, fmt.Errorf("identity: %s is empty; delete it to derive a new device id", idPath)
		}
		return &Identity{DeviceID: id, kp: kp}, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("identity: read device id: %w", err)
	}
	pub, _ := kp.PublicKey()
	id := DeriveDeviceID(hardwareID, pub)
	if err := writeFileAtomic(idPath, []byte(id+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("identity: write device id: %w", err)
	}
	return &Identity{DeviceID: id, kp: kp}, nil
}

// placeholderIDs are hardware ids that firmware ships on many machines at
// once (seen on VMs and white-box boards); deriving from them would merge
// distinct devices.
var placeholderIDs = map[string]bool{
	"":                                     true,
	"00000000-0000-0000-0000-000000000000": true,
	"ffffffff-ffff-ffff-ffff-ffffffffffff": true,
	"03000200-0400-0500-0006-000700080009": true,
	"not settable":                         true,
	"to be filled by o.e.m.":               true,
	"default string":                       true,
}

// DeriveDeviceID derives a stable id from the hardware id, so a reinstall
// keeps the device's history. When the hardware id is a known placeholder
// it falls back to the public key, which is unique per install.
func DeriveDeviceID(hardwareID, publicKey string) string {
	h := strings.ToLower(strings.TrimSpace(hardwareID))
	src := "hw:" + h
	if placeholderIDs[h] {
		src = "key:" + publicKey
	}
	sum := sha256.Sum256([]byte("fleetproof-device-id\x00" + src))
	return "d-" + hex.EncodeToString(sum[:10])
}

func loadOrCreateKey(path string) (nkeys.KeyPair, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		kp, err := nkeys.FromSeed([]byte(strings.TrimSpace(string(b))))
		if err != nil {
			return nil, fmt.Errorf("identity: %s is not a valid nkey seed: %w", path, err)
		}
		if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 {
			return nil, fmt.Errorf("identity: %s is readable by others (mode %v); it must be 0600", path, st.Mode().Perm())
		}
		return kp, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("identity: read key: %w", err)
	}
	kp, err := nkeys.CreateUser()
	if err != nil {
		return nil, fmt.Errorf("identity: create key: %w", err)
	}
	seed, _ := kp.Seed()
	if err := writeFileAtomic(path, append(seed, '\n'), 0o600); err != nil {
		return nil, fmt.Errorf("identity: write key: %w", err)
	}
	return kp, nil
}

// writeFileAtomic writes via a temp file and rename, so a crash never
// leaves a half-written key.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
