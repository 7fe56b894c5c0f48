//go:build linux

package builtin

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"github.com/fleetproof/fleetproof/agent/internal/checks"
	"github.com/fleetproof/fleetproof/evidence"
	"github.com/fleetproof/fleetproof/queries"
)

// The catalog's Linux firewall check runs through the built-in engine on
// this machine (Root "/", real getsockopt) and yields pass or fail, never
// an error, whether or not the host has iptables tables or the privilege
// to read them.
func TestFirewallCheckOnThisHost(t *testing.T) {
	cat, err := queries.Load()
	if err != nil {
		t.Fatal(err)
	}
	c, ok := cat.Check("firewall")
	if !ok {
		t.Fatal("no firewall check in the catalog")
	}
	r := &checks.Runner{Engine: New(Options{Root: "/"}), Pack: cat.Pack, Platform: "linux"}
	res := r.Run(context.Background(), c)
	if res.Status != evidence.StatusPass && res.Status != evidence.StatusFail {
		t.Fatalf("firewall check: status %q, error %q, reason %q", res.Status, res.Error, res.Reason)
	}
	t.Logf("firewall check on this host: %s (%s) rows %v", res.Status, res.Reason, res.Rows)
}

const iptNetnsChildEnv = "FLEETPROOF_IPTABLES_NETNS_CHILD"

// TestIptablesLiveInNetns reads real kernel tables end to end: as root,
// with unshare(1) and iptables-legacy-restore available, it re-runs
// itself in a private network namespace (the host's rules are never
// touched) loaded with testdata/iptables/firewall/rules.v4, and the
// engine's live rows (Root "/") must equal those from the captured
// fixtures.
func TestIptablesLiveInNetns(t *testing.T) {
	if os.Getenv(iptNetnsChildEnv) == "1" {
		iptablesLiveChild(t)
		return
	}
	if testing.Short() {
		t.Skip("-short")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root for a network namespace")
	}
	for _, tool := range []string{"unshare", "iptables-legacy-restore"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	if err := exec.Command("unshare", "--net", "true").Run(); err != nil {
		t.Skipf("cannot create a network namespace: %v", err)
	}
	cmd := exec.Command("unshare", "--net", "sh", "-c",
		`iptables-legacy-restore -c < testdata/iptables/firewall/rules.v4 || exit 42
		exec "$0" -test.run '^TestIptablesLiveInNetns$' -test.v`,
		os.Args[0])
	cmd.Env = append(os.Environ(), iptNetnsChildEnv+"=1")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 42 {
		t.Skipf("this kernel cannot load rules.v4 (legacy iptables modules missing?):\n%s", out)
	}
	if err != nil || !strings.Contains(string(out), "--- PASS: TestIptablesLiveInNetns") {
		t.Fatalf("in a private network namespace: %v\n%s", err, out)
	}
}

func iptablesLiveChild(t *testing.T) {
	skipUnlessLittleEndian(t)
	names, err := os.ReadFile("/proc/net/ip_tables_names")
	if err != nil {
		t.Fatal(err)
	}
	tables := iptTableNames(names)
	if len(tables) != 4 {
		t.Fatalf("ip_tables_names = %q, want the 4 tables of rules.v4", tables)
	}
	const q = "SELECT * FROM iptables"
	live := mustQuery(t, New(Options{Root: "/"}), q)
	fixture := mustQuery(t, iptFixtureEngine(t, "firewall", tables...), q)
	if !reflect.DeepEqual(live, fixture) {
		t.Errorf("live rows differ from the captured fixtures:\nlive    %v\nfixture %v", live, fixture)
	}
	if len(live) != 35 {
		t.Errorf("%d live rows, want 35", len(live))
	}
}
