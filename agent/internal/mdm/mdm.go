package mdm

import (
	"fmt"
	"sort"
	"strings"
)

// Keys are the configuration keys an MDM source may set. They mirror the
// agent's config.Fields (a test in the config package keeps them in step);
// they live here because config imports this package, not the reverse.
var Keys = []string{"server_url", "enroll_secret", "enroll_secret_file", "state_dir", "tags", "log_level", "ca_file",
	"engine", "osquery_socket", "osqueryd_path", "osquery_memory_mb"}

// fold reduces a name to letters and digits in lower case, which is how
// MDM consoles' CamelCase names and the agent's snake_case keys meet.
func fold(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		switch r {
		case '_', '-', ' ', '.':
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// KeyFor maps an MDM value name to the agent key it sets. Unknown names come
// back unchanged so the error that follows quotes what the admin wrote.
func KeyFor(name string) string {
	f := fold(name)
	for _, k := range Keys {
		if fold(k) == f {
			return k
		}
	}
	return name
}

// entry is one raw name/value pair before keys are resolved.
type entry struct{ name, value string }

// resolve maps names to keys and refuses two names for one key: with
// "ServerURL" and "server_url" both present, picking either silently would
// hide a conflicting policy from the admin.
func resolve(entries []entry) (map[string]string, error) {
	out := make(map[string]string, len(entries))
	from := make(map[string]string, len(entries))
	sort.Slice(entries, func(i, j int) bool { return entries[i].name < entries[j].name })
	for _, e := range entries {
		k := KeyFor(e.name)
		if prev, dup := from[k]; dup {
			return nil, fmt.Errorf("%q and %q both set %s; keep one", prev, e.name, k)
		}
		from[k] = e.name
		out[k] = e.value
	}
	return out, nil
}

// Read returns the MDM-managed settings of this machine and where they came
// from (a path or registry key, named even when nothing is there). A source
// that does not exist is not an error: most machines have no profile.
func Read() (values map[string]string, source string, err error) {
	return readPlatform()
}
