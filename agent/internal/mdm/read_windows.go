//go:build windows

package mdm

import (
	"errors"
	"fmt"

	"golang.org/x/sys/windows/registry"
)

const policySource = `HKLM\` + PolicyKey

func readPlatform() (map[string]string, string, error) {
	// Errors do not repeat the key: the caller names the source once.
	vals, err := readPolicyKey()
	if err != nil {
		return nil, policySource, err
	}
	m, err := FromRegistryValues(vals)
	return m, policySource, err
}

// readPolicyKey lists the policy key's values. WOW64_64KEY makes a 32-bit
// build read the same key a 64-bit policy engine wrote.
func readPolicyKey() ([]RegValue, error) {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, PolicyKey, registry.QUERY_VALUE|registry.WOW64_64KEY)
	if errors.Is(err, registry.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer k.Close()
	names, err := k.ReadValueNames(0)
	if err != nil {
		return nil, err
	}
	vals := make([]RegValue, 0, len(names))
	for _, name := range names {
		_, typ, err := k.GetValue(name, nil)
		if err != nil {
			return nil, fmt.Errorf("value %q: %w", name, err)
		}
		v := RegValue{Name: name, Type: typ}
		switch typ {
		case registry.SZ:
			v.String, _, err = k.GetStringValue(name)
		case registry.EXPAND_SZ:
			if v.String, _, err = k.GetStringValue(name); err == nil {
				v.String, err = registry.ExpandString(v.String)
			}
		case registry.MULTI_SZ:
			v.Strings, _, err = k.GetStringsValue(name)
		case registry.DWORD, registry.QWORD:
			v.Int, _, err = k.GetIntegerValue(name)
		}
		// Other types are left for FromRegistryValues to report by name.
		if err != nil {
			return nil, fmt.Errorf("value %q: %w", name, err)
		}
		vals = append(vals, v)
	}
	return vals, nil
}
