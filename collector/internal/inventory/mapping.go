package inventory

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// Fields an inventory row is read into, as named in a mapping file.
const (
	FieldSerial       = "serial"
	FieldHostname     = "hostname"
	FieldOwner        = "owner"
	FieldPlatform     = "platform"
	FieldInScope      = "in_scope"
	FieldHardwareUUID = "hardware_uuid"
)

// fields in the order they are resolved and reported.
var fields = []string{FieldSerial, FieldHostname, FieldOwner, FieldPlatform, FieldInScope, FieldHardwareUUID}

// Columns names the file's header for each field. An empty name means the
// usual headers of common exports are tried (see DefaultHeaders).
type Columns struct {
	Serial       string `yaml:"serial" json:"serial,omitempty"`
	Hostname     string `yaml:"hostname" json:"hostname,omitempty"`
	Owner        string `yaml:"owner" json:"owner,omitempty"`
	Platform     string `yaml:"platform" json:"platform,omitempty"`
	InScope      string `yaml:"in_scope" json:"in_scope,omitempty"`
	HardwareUUID string `yaml:"hardware_uuid" json:"hardware_uuid,omitempty"`
}

func (c Columns) get(field string) string {
	switch field {
	case FieldSerial:
		return c.Serial
	case FieldHostname:
		return c.Hostname
	case FieldOwner:
		return c.Owner
	case FieldPlatform:
		return c.Platform
	case FieldInScope:
		return c.InScope
	case FieldHardwareUUID:
		return c.HardwareUUID
	}
	return ""
}

// Mapping says how an export's columns become inventory items. The zero
// Mapping uses the defaults, which read Jamf, Intune and Kandji exports
// and most spreadsheets as they are.
//
//	columns: {serial: "Serial Number", hostname: "Computer Name", owner: "Email",
//	          platform: "OS", in_scope: "Managed"}
//	in_scope_values: [yes, true, 1, managed]
type Mapping struct {
	Columns Columns `yaml:"columns" json:"columns"`
	// InScopeValues are the in-scope column's values (ignoring case and
	// surrounding space) that put a row in scope; any other value puts it
	// out of scope. Empty means DefaultInScopeValues.
	InScopeValues []string `yaml:"in_scope_values" json:"in_scope_values,omitempty"`
}

// DefaultHeaders are the headers tried, in order, for a field the mapping
// leaves empty. They are compared after normalising case, spaces,
// underscores and dashes, so "Serial_Number" finds "serial number".
var DefaultHeaders = map[string][]string{
	FieldSerial:   {"serial", "serial number", "serialnumber", "serial no", "device serial number", "hardware serial"},
	FieldHostname: {"hostname", "host name", "computer name", "device name", "computer", "asset name", "name"},
	FieldOwner: {"owner", "email", "email address", "user email", "primary user upn", "primary user email address",
		"user principal name", "assigned user", "username", "user"},
	FieldPlatform: {"platform", "os", "operating system", "os type", "os name"},
	FieldInScope:  {"in scope", "inscope", "scope", "managed"},
	// Jamf's UDID is the Mac's hardware UUID. Intune's "Device ID" is its
	// own record id, not hardware, so it is not tried.
	FieldHardwareUUID: {"hardware uuid", "uuid", "udid", "smbios uuid"},
}

// DefaultInScopeValues put a row in scope when the mapping lists none.
var DefaultInScopeValues = []string{"yes", "y", "true", "1", "managed", "in scope"}

// ParseMapping reads a YAML mapping. Unknown keys are errors: a misspelt
// column key must not silently fall back to the defaults.
func ParseMapping(b []byte) (Mapping, error) {
	var m Mapping
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&m); err != nil && !errors.Is(err, io.EOF) {
		return Mapping{}, fmt.Errorf("inventory mapping: %w", err)
	}
	for i, v := range m.InScopeValues {
		if strings.TrimSpace(v) == "" {
			return Mapping{}, fmt.Errorf("inventory mapping: in_scope_values[%d] is empty", i)
		}
	}
	return m, nil
}

// LoadMapping reads a YAML mapping file.
func LoadMapping(path string) (Mapping, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Mapping{}, fmt.Errorf("inventory mapping: %w", err)
	}
	m, err := ParseMapping(b)
	if err != nil {
		return Mapping{}, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// normHeader folds the spelling differences between exports of the same
// column: case, surrounding and repeated spaces, underscores and dashes.
func normHeader(h string) string {
	h = strings.NewReplacer("_", " ", "-", " ").Replace(strings.ToLower(h))
	return strings.Join(strings.Fields(h), " ")
}

// resolve finds each field's column in header. A column named in the
// mapping must exist; a default that is absent leaves the field unread.
// It returns field → column index and field → header as written.
func (m Mapping) resolve(header []string) (map[string]int, map[string]string, error) {
	index := map[string][]int{}
	for i, h := range header {
		n := normHeader(h)
		index[n] = append(index[n], i)
	}
	cols, names := map[string]int{}, map[string]string{}
	var problems []string
	used := map[int]string{}
	for _, f := range fields {
		want := m.Columns.get(f)
		candidates := DefaultHeaders[f]
		if want != "" {
			candidates = []string{want}
		}
		found, reported := false, false
		for _, c := range candidates {
			at, ok := index[normHeader(c)]
			if !ok {
				continue
			}
			if len(at) > 1 {
				problems = append(problems, fmt.Sprintf("%s: the header %q appears %d times", f, header[at[0]], len(at)))
				reported = true
				break
			}
			if other, taken := used[at[0]]; taken && want == "" {
				continue // a default must not take a column already mapped (e.g. "name")
			} else if taken {
				problems = append(problems, fmt.Sprintf("%s: column %q is already mapped to %s", f, header[at[0]], other))
				reported = true
				break
			}
			cols[f], names[f], used[at[0]] = at[0], header[at[0]], f
			found = true
			break
		}
		if !found && !reported && want != "" {
			problems = append(problems, fmt.Sprintf("%s: no column %q", f, want))
		}
	}
	if _, ok := cols[FieldSerial]; !ok && m.Columns.Serial == "" {
		problems = append(problems, fmt.Sprintf("serial: none of the usual headers (%s); name it in the mapping's columns.serial",
			strings.Join(DefaultHeaders[FieldSerial], ", ")))
	}
	if _, ok := cols[FieldInScope]; !ok && len(m.InScopeValues) > 0 {
		problems = append(problems, "in_scope_values are given but no in-scope column was found; name it in columns.in_scope")
	}
	if len(problems) > 0 {
		return nil, nil, fmt.Errorf("%s (the file's headers: %s)", strings.Join(problems, "; "), quoteList(header))
	}
	return cols, names, nil
}

func quoteList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}
