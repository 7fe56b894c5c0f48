package extract

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// KeyFile is the manifest signing key's path inside the collector's data
// directory, next to the NATS operator and account seeds.
const KeyFile = "auth/manifest.key"

// LoadOrCreateKey reads the ed25519 private key at path (PKCS#8 PEM),
// creating it, mode 0600, on first use. PEM rather than an nkey seed
// because auditors check signatures with stock tools (openssl), which
// read PKCS#8/SPKI but not nkeys.
//
// Two extracts starting at once on a fresh data dir must end up with the
// same key, so the new key is written to a temporary file and linked into
// place: link fails if another process won, and then its key is read.
func LoadOrCreateKey(path string) (ed25519.PrivateKey, error) {
	if key, err := readKey(path); !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("extract: signing key: %w", err)
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("extract: signing key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("extract: signing key: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".manifest.key-*")
	if err != nil {
		return nil, fmt.Errorf("extract: signing key: %w", err)
	}
	defer os.Remove(tmp.Name())
	// CreateTemp already makes the file 0600; Chmod states it.
	err = errors.Join(tmp.Chmod(0o600), pem.Encode(tmp, &pem.Block{Type: "PRIVATE KEY", Bytes: der}), tmp.Sync(), tmp.Close())
	if err != nil {
		return nil, fmt.Errorf("extract: signing key: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("extract: signing key: %w", err)
	}
	return readKey(path)
}

func readKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("extract: signing key %s: not a PEM PRIVATE KEY", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("extract: signing key %s: %w", path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("extract: signing key %s: a %T, want ed25519", path, k)
	}
	return priv, nil
}

// PublicKeyPEM encodes pub as a PEM SPKI block ("PUBLIC KEY"), the form
// openssl pkeyutl -pubin reads.
func PublicKeyPEM(pub ed25519.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		panic(err) // only for key types x509 does not know
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// Fingerprint names a public key: "SHA256:" and the hex SHA-256 of its
// DER SPKI encoding, which
// `openssl pkey -pubin -in key.pem -outform DER | sha256sum` reproduces.
func Fingerprint(pub ed25519.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		panic(err)
	}
	sum := sha256.Sum256(der)
	return "SHA256:" + hex.EncodeToString(sum[:])
}

// SameFingerprint compares fingerprints as people type them: with or
// without the "SHA256:" prefix, in either case, with ':' or space between
// byte pairs.
func SameFingerprint(a, b string) bool {
	norm := func(s string) string {
		s = strings.ToLower(strings.TrimSpace(s))
		s = strings.TrimPrefix(s, "sha256:")
		return strings.NewReplacer(":", "", " ", "").Replace(s)
	}
	return norm(a) != "" && norm(a) == norm(b)
}
