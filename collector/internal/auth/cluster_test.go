package auth_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"

	"github.com/fleetproof/fleetproof/collector/internal/auth"
)

func TestLoadCreatesNoKeys(t *testing.T) {
	dir := t.TempDir()
	if _, err := auth.Load(dir); !errors.Is(err, auth.ErrNoKeys) {
		t.Fatalf("Load of an empty dir: %v, want ErrNoKeys", err)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*")); len(m) != 0 {
		t.Fatalf("Load created %v", m)
	}
	a, _ := auth.LoadOrCreate(dir)
	b, err := auth.Load(dir)
	if err != nil || b.OperatorPublicKey() != a.OperatorPublicKey() || b.AccountPublicKey() != a.AccountPublicKey() {
		t.Fatalf("Load after LoadOrCreate: %v", err)
	}
}

func TestMergeAccountKeepsTheClustersRevocations(t *testing.T) {
	dir := t.TempDir()
	a, _ := auth.LoadOrCreate(dir)
	other, _ := auth.Load(dir) // another collector with the same keys
	ku, _ := nkeys.CreateUser()
	theirs, _ := ku.PublicKey()
	ku, _ = nkeys.CreateUser()
	ours, _ := ku.PublicKey()
	t0 := time.Unix(1_800_000_000, 0)
	other.Remember(theirs, t0)
	current, _ := other.AccountJWT()

	if _, changed, err := a.MergeAccount(current); err != nil || changed {
		t.Fatalf("nothing of ours is missing: changed %v, %v", changed, err)
	}
	a.Remember(ours, t0.Add(time.Minute))
	merged, changed, err := a.MergeAccount(current)
	if err != nil || !changed {
		t.Fatalf("our revocation is missing: changed %v, %v", changed, err)
	}
	ac, _ := jwt.DecodeAccountClaims(merged)
	if ac.Revocations[theirs] != t0.Unix() || ac.Revocations[ours] != t0.Add(time.Minute).Unix() {
		t.Errorf("merged revocations %v", ac.Revocations)
	}
	if ac.Limits.JetStreamLimits.DiskStorage != jwt.NoLimit {
		t.Error("the merged account JWT lost JetStream")
	}
	// An empty answer (the cluster has no JWT yet) yields ours.
	if _, changed, err := a.MergeAccount(""); err != nil || !changed {
		t.Errorf("empty: changed %v, %v", changed, err)
	}
	// A JWT from another trust root is an error, not something to merge.
	stranger, _ := auth.LoadOrCreate(t.TempDir())
	foreign, _ := stranger.AccountJWT()
	if _, _, err := a.MergeAccount(foreign); err == nil {
		t.Error("merged another operator's account")
	}
}

// The fragment is a valid nats-server configuration with what the issue
// asks for: operator, system account, full resolver, both accounts preloaded.
func TestServerConfigParses(t *testing.T) {
	a, _ := auth.LoadOrCreate(t.TempDir())
	dir := t.TempDir()
	frag, err := a.ServerConfig(filepath.Join(dir, "jwt"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "fleetproof.conf")
	os.WriteFile(path, frag, 0o600)
	opts, err := server.ProcessConfigFile(path)
	if err != nil {
		t.Fatalf("%v\n%s", err, frag)
	}
	if len(opts.TrustedOperators) != 1 || opts.TrustedOperators[0].Subject != a.OperatorPublicKey() {
		t.Errorf("trusted operators %v", opts.TrustedOperators)
	}
	if opts.SystemAccount != a.SystemAccountPublicKey() {
		t.Errorf("system account %q", opts.SystemAccount)
	}
	if _, ok := opts.AccountResolver.(*server.DirAccResolver); !ok {
		t.Errorf("resolver %T, want the full nats-based resolver", opts.AccountResolver)
	}
	for _, k := range []string{a.SystemAccountPublicKey(), a.AccountPublicKey()} {
		if !strings.Contains(string(frag), k+": ey") {
			t.Errorf("account %s is not preloaded", k)
		}
	}
	if !strings.Contains(string(frag), "allow_delete: false") {
		t.Error("allow_delete is not false")
	}
}
