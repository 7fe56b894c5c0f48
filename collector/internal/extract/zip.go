package extract

import (
	"archive/zip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
)

// ZipName is the conventional name of a bundle's directory and archive:
// fleetproof-extract_<controls>_<from>_<to>.
func ZipName(m *Manifest) string {
	name := "fleetproof-extract"
	for _, c := range m.Controls {
		name += "_" + c
	}
	return name + "_" + m.Period.From + "_" + m.Period.To
}

// WriteZip archives the bundle in dir under the folder prefix. The archive
// is as deterministic as the bundle: entries sorted by name, each dated
// generated_at. Unzipped, it verifies like the directory.
func WriteZip(w io.Writer, dir, prefix string) error {
	raw, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		return fmt.Errorf("extract: zip: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return fmt.Errorf("extract: zip: %s: %w", ManifestFile, err)
	}
	names := []string{ManifestFile, SignatureFile}
	for _, f := range m.Files {
		names = append(names, f.Name)
	}
	slices.Sort(names)
	zw := zip.NewWriter(w)
	for _, n := range names {
		f, err := os.Open(filepath.Join(dir, n))
		if err != nil {
			return fmt.Errorf("extract: zip: %w", err)
		}
		hw, err := zw.CreateHeader(&zip.FileHeader{Name: path.Join(prefix, n), Method: zip.Deflate, Modified: m.GeneratedAt})
		if err == nil {
			_, err = io.Copy(hw, f)
		}
		f.Close()
		if err != nil {
			return fmt.Errorf("extract: zip: %s: %w", n, err)
		}
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("extract: zip: %w", err)
	}
	return nil
}
