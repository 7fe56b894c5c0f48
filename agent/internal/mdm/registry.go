package mdm

import (
	"fmt"
	"strconv"
	"strings"
)

// PolicyKey is the registry key, under HKEY_LOCAL_MACHINE, that Group Policy
// and MDM policy CSPs write the agent's settings to.
const PolicyKey = `SOFTWARE\Policies\Fleetproof\Agent`

// Registry value types, as numbered by Windows (winnt.h). They are repeated
// here so the parser builds and is tested on every OS.
const (
	RegSZ       uint32 = 1  // string
	RegExpandSZ uint32 = 2  // string with %VARIABLES%, expanded by the reader
	RegBinary   uint32 = 3  // not supported
	RegDWORD    uint32 = 4  // 32-bit number
	RegMultiSZ  uint32 = 7  // list of strings
	RegQWORD    uint32 = 11 // 64-bit number
)

// RegValue is one value of the policy key as the reader found it. Only the
// field matching Type is meaningful.
type RegValue struct {
	Name    string
	Type    uint32
	String  string   // RegSZ, RegExpandSZ (already expanded)
	Strings []string // RegMultiSZ
	Int     uint64   // RegDWORD, RegQWORD
}

// FromRegistryValues turns the policy key's values into agent settings.
//
// Mapping (names ignore case, underscores, dashes and spaces):
//
//	ServerURL         REG_SZ                      server_url
//	EnrollSecret      REG_SZ                      enroll_secret
//	EnrollSecretFile  REG_SZ / REG_EXPAND_SZ      enroll_secret_file
//	StateDir          REG_SZ / REG_EXPAND_SZ      state_dir
//	Tags              REG_MULTI_SZ of key=value,  tags
//	                  or REG_SZ "k=v,k2=v2"
//	LogLevel          REG_SZ                      log_level
//	CAFile            REG_SZ / REG_EXPAND_SZ      ca_file
//	Engine            REG_SZ                      engine
//	OsquerySocket     REG_SZ                      osquery_socket
//	OsquerydPath      REG_SZ / REG_EXPAND_SZ      osqueryd_path
//	OsqueryMemoryMB   REG_DWORD                   osquery_memory_mb
//
// REG_DWORD and REG_QWORD values become decimal text; REG_MULTI_SZ items are
// joined with commas (empty items, which some editors append, are dropped).
// The unnamed "(Default)" value carries nothing and is skipped. Other types
// are errors naming the value.
func FromRegistryValues(vals []RegValue) (map[string]string, error) {
	entries := make([]entry, 0, len(vals))
	for _, v := range vals {
		if v.Name == "" {
			continue
		}
		var s string
		switch v.Type {
		case RegSZ, RegExpandSZ:
			s = v.String
		case RegDWORD, RegQWORD:
			s = strconv.FormatUint(v.Int, 10)
		case RegMultiSZ:
			var items []string
			for i, it := range v.Strings {
				if it == "" {
					continue
				}
				if strings.Contains(it, ",") {
					return nil, fmt.Errorf("value %q: item %d (%q) contains a comma, which separates items", v.Name, i, it)
				}
				items = append(items, it)
			}
			s = strings.Join(items, ",")
		default:
			return nil, fmt.Errorf("value %q: registry type %s is not supported; use REG_SZ, REG_DWORD or REG_MULTI_SZ", v.Name, regTypeName(v.Type))
		}
		entries = append(entries, entry{v.Name, s})
	}
	return resolve(entries)
}

func regTypeName(t uint32) string {
	switch t {
	case 0:
		return "REG_NONE"
	case RegBinary:
		return "REG_BINARY"
	case 5:
		return "REG_DWORD_BIG_ENDIAN"
	case 6:
		return "REG_LINK"
	}
	return fmt.Sprintf("%d", t)
}
