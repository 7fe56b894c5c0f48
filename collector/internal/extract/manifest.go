package extract

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// FormatVersion identifies the bundle layout; Verify refuses others.
const FormatVersion = "fleetproof-extract/2"

// Names of the files every bundle has.
const (
	ManifestFile   = "manifest.json"
	SignatureFile  = "manifest.sig"
	ReadmeFile     = "README.md"
	PopulationFile = "population.csv"
	EvidenceFile   = "evidence.csv"
	DailyFile      = "evidence_daily.csv"
	ComplianceFile = "compliance.csv"
	ExceptionsFile = "exceptions.csv"
	GapsFile       = "gaps.csv"
	SampleFile     = "sample.csv"
	WorkbookFile   = "evidence.xlsx"
)

// Manifest describes a bundle; its exact bytes are what manifest.sig signs.
type Manifest struct {
	Format          string          `json:"format"`
	GeneratedAt     time.Time       `json:"generated_at"`
	GeneratedAtRule string          `json:"generated_at_rule"`
	Generator       Generator       `json:"generator"`
	Controls        []string        `json:"controls"`
	Checks          []ManifestCheck `json:"checks"`
	Period          Period          `json:"period"`
	Sample          SampleInfo      `json:"sample"`
	Inventory       *InventoryInfo  `json:"inventory"`
	Compliance      string          `json:"compliance_method"`
	Files           []FileEntry     `json:"files"`
	SigningKey      SigningKey      `json:"signing_key"`
}

// Generator names the program and check pack that produced the bundle.
type Generator struct {
	Name        string `json:"name"`
	Version     string `json:"version"`
	Pack        string `json:"pack"`
	PackVersion string `json:"pack_version"`
}

// ManifestCheck is a check whose results are in the bundle.
type ManifestCheck struct {
	ID       string   `json:"id"`
	Version  int      `json:"version"`
	Criteria []string `json:"criteria"`
}

// Period is the audit period: whole UTC days, From and To inclusive.
type Period struct {
	From         string    `json:"from"`
	To           string    `json:"to"`
	Start        time.Time `json:"start"`
	EndExclusive time.Time `json:"end_exclusive"`
	TimeZone     string    `json:"time_zone"`
}

// SampleInfo records how sample.csv was drawn.
type SampleInfo struct {
	Size      int    `json:"size"`
	Requested int    `json:"requested"`
	FrameSize int    `json:"frame_size"`
	Seed      uint64 `json:"seed"`
	Algorithm string `json:"algorithm"`
}

// InventoryInfo is the asset inventory snapshot the population was
// reconciled with.
type InventoryInfo struct {
	SnapshotID string    `json:"snapshot_id"`
	ImportedAt time.Time `json:"imported_at"`
	Source     string    `json:"source"`
	FileSHA256 string    `json:"file_sha256"`
	Rows       int       `json:"rows"`
	Matched    int       `json:"matched"`
	Missing    int       `json:"missing"`
	Unknown    int       `json:"unknown"`
	OutOfScope int       `json:"out_of_scope"`
}

// FileEntry is one file of the bundle.
type FileEntry struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	// Rows counts data rows (header excluded) of a CSV file.
	Rows *int `json:"rows,omitempty"`
}

// SigningKey is the public half of the key that signed manifest.json.
type SigningKey struct {
	Algorithm    string `json:"algorithm"`
	PublicKey    string `json:"public_key"` // base64 of the 32 raw bytes
	PublicKeyPEM string `json:"public_key_pem"`
	Fingerprint  string `json:"fingerprint"`
}

// SigningKeyFor describes pub as a manifest records it.
func SigningKeyFor(pub ed25519.PublicKey) SigningKey {
	return SigningKey{Algorithm: "ed25519", PublicKey: base64.StdEncoding.EncodeToString(pub),
		PublicKeyPEM: PublicKeyPEM(pub), Fingerprint: Fingerprint(pub)}
}

// hashFile returns a file's size and hex SHA-256.
func hashFile(path string) (int64, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return 0, "", err
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// writeSigned writes manifest.json and manifest.sig into dir. The manifest
// ends with a newline so that cat and editors show it cleanly; the
// signature covers every byte, newline included.
func writeSigned(dir string, m *Manifest, key ed25519.PrivateKey) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return fmt.Errorf("extract: manifest: %w", err)
	}
	sig := ed25519.Sign(key, buf.Bytes())
	if err := os.WriteFile(filepath.Join(dir, ManifestFile), buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("extract: %w", err)
	}
	sigText := base64.StdEncoding.EncodeToString(sig) + "\n"
	if err := os.WriteFile(filepath.Join(dir, SignatureFile), []byte(sigText), 0o644); err != nil {
		return fmt.Errorf("extract: %w", err)
	}
	return nil
}
