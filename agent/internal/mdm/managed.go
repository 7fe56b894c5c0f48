package mdm

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/fleetproof/fleetproof/internal/settings"
)

// ManagedDir is where Linux configuration management drops managed.yaml or
// managed.json. It is the same directory as the admin's own agent.yaml, but
// a separate file, so a tool can own it outright without merging.
const ManagedDir = "/etc/fleetproof"

// ManagedNames are the file names looked for in ManagedDir.
var ManagedNames = []string{"managed.yaml", "managed.json"}

// ParseManaged parses a managed.yaml or managed.json body (JSON is YAML).
func ParseManaged(b []byte) (map[string]string, error) {
	raw, err := settings.ParseYAML(b)
	if err != nil {
		return nil, err
	}
	entries := make([]entry, 0, len(raw))
	for k, v := range raw {
		entries = append(entries, entry{k, v})
	}
	return resolve(entries)
}

// ReadManagedFile reads managed.yaml or managed.json from dir and returns
// the settings and the file they came from. Neither file is no settings;
// both files is an error, because which one a tool meant to win is unknowable.
// Errors do not repeat the returned path: the caller names the source once.
func ReadManagedFile(dir string) (map[string]string, string, error) {
	var found []string
	for _, n := range ManagedNames {
		p := filepath.Join(dir, n)
		if _, err := os.Stat(p); err == nil {
			found = append(found, p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, p, err
		}
	}
	switch len(found) {
	case 0:
		return map[string]string{}, filepath.Join(dir, ManagedNames[0]), nil
	case 1:
	default:
		return nil, found[0], fmt.Errorf("both %s and %s exist; keep one", found[0], found[1])
	}
	b, err := os.ReadFile(found[0])
	if err != nil {
		return nil, found[0], err
	}
	m, err := ParseManaged(b)
	return m, found[0], err
}
