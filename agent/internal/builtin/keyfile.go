package builtin

import "strings"

// keyfile is an INI-style file: GLib keyfiles (dconf, gschema overrides),
// KConfig files (KDE) and the Python-configparser files of dnf/yum.
type keyfile struct {
	groups map[string]map[string]string
	// immutable records KConfig's [$i] markers: "" for the whole file,
	// "group" for a group, "group\x00key" for a single key.
	immutable map[string]bool
}

// parseKeyfile reads groups and key=value pairs; later duplicates win.
// Lines starting with '#' or ';' are comments. KConfig "[$i]" suffixes on
// groups and keys are stripped and recorded as immutability.
func parseKeyfile(b []byte) keyfile {
	kf := keyfile{groups: map[string]map[string]string{}, immutable: map[string]bool{}}
	group := ""
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if line[0] == '[' {
			if line == "[$i]" && group == "" {
				kf.immutable[""] = true
				continue
			}
			name, ok := strings.CutSuffix(line, "[$i]")
			if ok {
				line = name
			}
			group = strings.TrimSuffix(strings.TrimPrefix(line, "["), "]")
			if ok {
				kf.immutable[group] = true
			}
			continue
		}
		k, v, found := strings.Cut(line, "=")
		if !found {
			// configparser also accepts "key: value".
			if k, v, found = strings.Cut(line, ":"); !found {
				continue
			}
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if base, ok := strings.CutSuffix(k, "[$i]"); ok {
			k = strings.TrimSpace(base) // "key [$i]=v" is key "key"
			kf.immutable[group+"\x00"+k] = true
		}
		if kf.groups[group] == nil {
			kf.groups[group] = map[string]string{}
		}
		kf.groups[group][k] = v
	}
	return kf
}

func (kf keyfile) get(group, key string) (string, bool) {
	v, ok := kf.groups[group][key]
	return v, ok
}

// getFold matches group and key case-insensitively, as configparser does
// for option names.
func (kf keyfile) getFold(group, key string) (string, bool) {
	for g, kv := range kf.groups {
		if !strings.EqualFold(g, group) {
			continue
		}
		for k, v := range kv {
			if strings.EqualFold(k, key) {
				return v, true
			}
		}
	}
	return "", false
}

func (kf keyfile) isImmutable(group, key string) bool {
	return kf.immutable[""] || kf.immutable[group] || kf.immutable[group+"\x00"+key]
}

// parseBoolish accepts the spellings of true/false used by configparser,
// KConfig and GVariant text.
func parseBoolish(v string) (val, ok bool) {
	switch strings.ToLower(strings.Trim(strings.TrimSpace(v), `'"`)) {
	case "1", "yes", "true", "on":
		return true, true
	case "0", "no", "false", "off":
		return false, true
	}
	return false, false
}
