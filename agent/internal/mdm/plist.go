package mdm

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"howett.net/plist"
)

// PlistDomain is the preference domain admins target in a configuration
// profile ("Custom Settings" in Jamf, Kandji, Intune ...).
const PlistDomain = "com.fleetproof.agent"

// ManagedPlistPath is where macOS materialises machine-scope managed
// preferences for PlistDomain.
const ManagedPlistPath = "/Library/Managed Preferences/" + PlistDomain + ".plist"

// ParsePlist turns a managed-preferences plist (XML or binary) into agent
// settings. Scalars become their text (booleans "true"/"false", numbers in
// decimal, dates RFC 3339), arrays are joined with commas, and a dictionary
// becomes "k=v,k2=v2" in key order, which is what the tags key takes.
// Shapes that cannot be written that way (nested containers, binary data,
// commas inside list items) are errors rather than silently mangled.
func ParsePlist(b []byte) (map[string]string, error) {
	var root any
	if _, err := plist.Unmarshal(b, &root); err != nil {
		return nil, fmt.Errorf("not a valid plist: %w", err)
	}
	dict, ok := root.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("top level is %s, want a dictionary of settings", kind(root))
	}
	entries := make([]entry, 0, len(dict))
	for k, v := range dict {
		s, err := plistValue(v)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", k, err)
		}
		entries = append(entries, entry{k, s})
	}
	return resolve(entries)
}

// ReadPlistFile reads and parses a managed-preferences file. A missing file
// yields no settings and no error. Errors do not repeat the path: the
// caller names the source once (config says "mdm <path>").
func ReadPlistFile(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, err
	}
	return ParsePlist(b)
}

func plistValue(v any) (string, error) {
	switch x := v.(type) {
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			s, err := plistScalar(e)
			if err != nil {
				return "", fmt.Errorf("item %d: %w", i, err)
			}
			if strings.Contains(s, ",") {
				return "", fmt.Errorf("item %d (%q) contains a comma, which separates items", i, s)
			}
			parts[i] = s
		}
		return strings.Join(parts, ","), nil
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			s, err := plistScalar(x[k])
			if err != nil {
				return "", fmt.Errorf("entry %q: %w", k, err)
			}
			if strings.ContainsAny(k, ",=") || strings.TrimSpace(k) == "" {
				return "", fmt.Errorf("entry name %q must be non-empty without ',' or '='", k)
			}
			if strings.Contains(s, ",") {
				return "", fmt.Errorf("entry %q value %q contains a comma, which separates entries", k, s)
			}
			parts[i] = k + "=" + s
		}
		return strings.Join(parts, ","), nil
	}
	return plistScalar(v)
}

func plistScalar(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case bool:
		return strconv.FormatBool(x), nil
	case uint64:
		return strconv.FormatUint(x, 10), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case time.Time:
		return x.UTC().Format(time.RFC3339), nil
	}
	return "", fmt.Errorf("%s is not supported here", kind(v))
}

// kind names a decoded plist value the way an admin sees it in a profile
// editor.
func kind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "a dictionary"
	case []any:
		return "an array"
	case []byte:
		return "binary data"
	case string:
		return "a string"
	case nil:
		return "empty"
	}
	return fmt.Sprintf("a %T", v)
}
