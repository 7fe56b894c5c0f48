package extract

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Finding is one thing wrong with a bundle.
type Finding struct {
	File string
	// Kind is changed, removed, added, signature, key, manifest or sample.
	Kind   string
	Detail string
}

func (f Finding) String() string { return f.File + ": " + f.Kind + ": " + f.Detail }

// Result is what Verify found.
type Result struct {
	// Manifest is nil when manifest.json is missing or unreadable.
	Manifest *Manifest
	// Fingerprint is the signing key's, as computed from the manifest.
	Fingerprint string
	// Checked counts the listed files whose size and hash matched.
	Checked  int
	Findings []Finding
}

// OK reports whether the bundle is intact.
func (r *Result) OK() bool { return len(r.Findings) == 0 }

// Verify checks the bundle in dir offline: the signature over the exact
// bytes of manifest.json; when pin is not empty, that the signing key has
// that fingerprint; every listed file's size and SHA-256; files present
// but not listed; and that sample.csv is the draw the manifest's seed
// gives from population.csv. It keeps going after a problem so that the
// auditor learns everything that differs at once. The error is for a
// directory it cannot read at all.
func Verify(dir, pin string) (*Result, error) {
	res := &Result{}
	add := func(file, kind, format string, args ...any) {
		res.Findings = append(res.Findings, Finding{File: file, Kind: kind, Detail: fmt.Sprintf(format, args...)})
	}
	if st, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	} else if !st.IsDir() {
		return nil, fmt.Errorf("verify: %s is not a directory", dir)
	}
	raw, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		add(ManifestFile, "removed", "cannot read the manifest: %v", err)
		return res, nil
	}
	// Unknown fields are allowed: the signature, not the schema, is what
	// proves the manifest unaltered, and a later minor addition should
	// not make older verifiers refuse good bundles.
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		add(ManifestFile, "manifest", "not a valid manifest (altered or corrupt): %v", err)
		return res, nil
	}
	res.Manifest = &m
	// Format 1 bundles (every result in evidence.csv, no daily file) are
	// verified the same way: the manifest lists whatever files there are.
	if m.Format != FormatVersion && m.Format != "fleetproof-extract/1" {
		add(ManifestFile, "manifest", "format %q, this verifier reads %q and fleetproof-extract/1", m.Format, FormatVersion)
	}
	verifySignature(dir, raw, &m, pin, res, add)

	listed := map[string]bool{ManifestFile: true, SignatureFile: true}
	intact := map[string]bool{}
	for _, f := range m.Files {
		if f.Name == "" || f.Name != filepath.Base(f.Name) || f.Name == "." || f.Name == ".." || strings.Contains(f.Name, `\`) {
			add(ManifestFile, "manifest", "file name %q is not a plain name in the bundle directory", f.Name)
			continue
		}
		if listed[f.Name] {
			add(ManifestFile, "manifest", "%s is listed twice", f.Name)
			continue
		}
		listed[f.Name] = true
		size, sum, err := hashFile(filepath.Join(dir, f.Name))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			add(f.Name, "removed", "listed in the manifest but missing")
		case err != nil:
			add(f.Name, "removed", "cannot read: %v", err)
		case size != f.Size || sum != f.SHA256:
			add(f.Name, "changed", "size %d sha256 %s, the manifest says size %d sha256 %s", size, sum, f.Size, f.SHA256)
		default:
			res.Checked++
			intact[f.Name] = true
		}
	}
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if rel == "." || d.IsDir() {
			return nil
		}
		if !listed[filepath.ToSlash(rel)] {
			add(filepath.ToSlash(rel), "added", "present but not listed in the manifest")
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	if intact[PopulationFile] && intact[SampleFile] {
		if err := checkSample(dir, &m); err != nil {
			add(SampleFile, "sample", "%v", err)
		}
	}
	return res, nil
}

func verifySignature(dir string, raw []byte, m *Manifest, pin string, res *Result, add func(file, kind, format string, args ...any)) {
	pub, err := base64.StdEncoding.DecodeString(m.SigningKey.PublicKey)
	if err != nil || len(pub) != ed25519.PublicKeySize || m.SigningKey.Algorithm != "ed25519" {
		add(ManifestFile, "key", "signing_key is not an ed25519 public key")
		return
	}
	res.Fingerprint = Fingerprint(pub)
	if !SameFingerprint(res.Fingerprint, m.SigningKey.Fingerprint) {
		add(ManifestFile, "key", "signing_key.fingerprint %s does not match the key, whose fingerprint is %s",
			m.SigningKey.Fingerprint, res.Fingerprint)
	}
	if pin != "" && !SameFingerprint(res.Fingerprint, pin) {
		add(ManifestFile, "key", "signed by key %s, not by the expected key %s", res.Fingerprint, pin)
	}
	sigText, err := os.ReadFile(filepath.Join(dir, SignatureFile))
	if err != nil {
		add(SignatureFile, "removed", "cannot read the signature: %v", err)
		return
	}
	sig, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(sigText)))
	if err != nil || len(sig) != ed25519.SignatureSize {
		add(SignatureFile, "signature", "not a base64 ed25519 signature")
		return
	}
	if !ed25519.Verify(pub, raw, sig) {
		add(ManifestFile, "signature", "the signature in %s does not match: manifest.json was altered after signing, "+
			"or the signature belongs to another manifest (the file hashes below are checked against an untrusted manifest)", SignatureFile)
	}
}

// checkSample re-draws the sample from population.csv with the manifest's
// seed and compares it with sample.csv, so a sample picked by hand and
// presented as random is caught offline.
func checkSample(dir string, m *Manifest) error {
	pop, err := readCSV(filepath.Join(dir, PopulationFile))
	if err != nil {
		return err
	}
	frame, err := sampleFrame(pop)
	if err != nil {
		return fmt.Errorf("%s: %w", PopulationFile, err)
	}
	if len(frame) != m.Sample.FrameSize {
		return fmt.Errorf("population.csv has %d devices in the sample frame, the manifest says %d", len(frame), m.Sample.FrameSize)
	}
	sample, err := readCSV(filepath.Join(dir, SampleFile))
	if err != nil {
		return err
	}
	col := slices.Index(sample[0], "device_id")
	if col < 0 {
		return errors.New("no device_id column")
	}
	var got []string
	for _, rec := range sample[1:] {
		got = append(got, rec[col])
	}
	want := Sample(frame, m.Sample.Size, m.Sample.Seed)
	if !slices.Equal(got, want) {
		return fmt.Errorf("the devices listed are not the draw for seed %d (want, in order: %s)", m.Sample.Seed, strings.Join(want, ", "))
	}
	return nil
}

// sampleFrame lists the device ids of population rows the sample is drawn
// from: enrolled devices that are in scope.
func sampleFrame(pop [][]string) ([]string, error) {
	idCol, stCol := slices.Index(pop[0], "device_id"), slices.Index(pop[0], "inventory_status")
	if idCol < 0 || stCol < 0 {
		return nil, errors.New("no device_id or inventory_status column")
	}
	var frame []string
	for _, rec := range pop[1:] {
		if rec[idCol] != "" && inSampleFrame(rec[stCol]) {
			frame = append(frame, rec[idCol])
		}
	}
	return frame, nil
}

// readCSV reads a bundle CSV (UTF-8 with BOM); it has at least a header.
func readCSV(path string) ([][]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	recs, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(b, []byte(bom)))).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("%s: no header", filepath.Base(path))
	}
	return recs, nil
}
