//go:build !linux

package builtin

import "errors"

// readIPTable: x_tables is a Linux interface.
func readIPTable(string) (iptInfo, []byte, error) {
	return iptInfo{}, nil, errors.New("iptables: not supported on this platform")
}
