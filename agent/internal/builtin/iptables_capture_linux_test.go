//go:build linux

package builtin

import (
	"os"
	"path/filepath"
	"testing"
)

// TestCaptureIPTablesFixtures is not a test: with
// FLEETPROOF_CAPTURE_IPTABLES=<scenario> it writes the running kernel's
// ipt_getinfo (<table>.info) and entry blob (<table>.entries) for every
// table in /proc/net/ip_tables_names to testdata/iptables/<scenario>/.
// Run it as root inside a private network namespace loaded from the
// scenario's rules.v4, so the host's own rules are never touched:
//
//	go test -c -o /tmp/builtin.test ./agent/internal/builtin
//	cd agent/internal/builtin && unshare --net sh -c \
//	  'iptables-legacy-restore -c < testdata/iptables/firewall/rules.v4 &&
//	   FLEETPROOF_CAPTURE_IPTABLES=firewall /tmp/builtin.test -test.run TestCaptureIPTablesFixtures -test.v'
func TestCaptureIPTablesFixtures(t *testing.T) {
	scenario := os.Getenv("FLEETPROOF_CAPTURE_IPTABLES")
	if scenario == "" {
		t.Skip("set FLEETPROOF_CAPTURE_IPTABLES=<scenario> to capture fixtures")
	}
	names, err := os.ReadFile("/proc/net/ip_tables_names")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("testdata", "iptables", scenario)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range iptTableNames(names) {
		raw, blob, err := readIPTableRaw(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		info, err := parseIPTInfo(raw)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := parseIPTEntries(blob, info); err != nil {
			t.Errorf("%s: captured blob does not parse: %v", name, err)
		}
		for ext, b := range map[string][]byte{".info": raw, ".entries": blob} {
			if err := os.WriteFile(filepath.Join(dir, name+ext), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		t.Logf("%s: %d entries, %d bytes", name, info.numEntries, len(blob))
	}
}
