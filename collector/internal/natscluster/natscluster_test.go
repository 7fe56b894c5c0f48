package natscluster_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/fleetproof/fleetproof/collector/internal/auth"
	"github.com/fleetproof/fleetproof/collector/internal/natscluster"
)

// startServer runs a nats-server that trusts the keys in keysDir through
// the fragment auth.ServerConfig renders.
func startServer(t *testing.T, keysDir string) *server.Server {
	t.Helper()
	a, err := auth.LoadOrCreate(keysDir)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	frag, err := a.ServerConfig(filepath.Join(dir, "jwt"))
	if err != nil {
		t.Fatal(err)
	}
	main := fmt.Sprintf("host: 127.0.0.1\nport: -1\njetstream { store_dir: %q }\ninclude ./fleetproof.conf\n", filepath.Join(dir, "js"))
	for name, b := range map[string][]byte{"fleetproof.conf": frag, "server.conf": []byte(main)} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	opts, err := server.ProcessConfigFile(filepath.Join(dir, "server.conf"))
	if err != nil {
		t.Fatal(err)
	}
	opts.NoSigs = true
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s
}

func connect(t *testing.T, url string, a *auth.Authority, creds string) *natscluster.Cluster {
	t.Helper()
	c, err := natscluster.Connect(context.Background(), natscluster.Options{URL: url, Authority: a, Name: "test", Creds: creds})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Conn().Close(); c.Close() })
	return c
}

func userKey(t *testing.T) string {
	kp, _ := nkeys.CreateUser()
	pub, _ := kp.PublicKey()
	return pub
}

// lookup returns the revocations in the account JWT the server holds.
func lookup(t *testing.T, url string, a *auth.Authority) jwt.RevocationList {
	t.Helper()
	tok, seed, _ := a.SystemUser("lookup")
	nc, err := nats.Connect(url, nats.UserJWTAndSeed(tok, string(seed)))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	msg, err := nc.Request(auth.ClaimsLookupSubject(a.AccountPublicKey()), nil, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ac, err := jwt.DecodeAccountClaims(string(msg.Data))
	if err != nil {
		t.Fatal(err)
	}
	return ac.Revocations
}

// Two collectors with copies of one key directory each push their own
// revocation; the cluster ends with both, whatever the order.
func TestCollectorsDoNotUndoEachOthersRevocations(t *testing.T) {
	keys := t.TempDir()
	s := startServer(t, keys)
	a1, err := auth.Load(keys)
	if err != nil {
		t.Fatal(err)
	}
	a2, _ := auth.Load(keys)
	c1, c2 := connect(t, s.ClientURL(), a1, ""), connect(t, s.ClientURL(), a2, "")
	ctx := context.Background()
	if pushed, err := c1.Sync(ctx); err != nil || pushed {
		t.Fatalf("nothing revoked yet, the preloaded JWT is complete: pushed %v, %v", pushed, err)
	}
	u1, u2 := userKey(t), userKey(t)
	now := time.Now()
	a1.Remember(u1, now)
	if pushed, err := c1.Sync(ctx); err != nil || !pushed {
		t.Fatalf("first revocation: pushed %v, %v", pushed, err)
	}
	a2.Remember(u2, now)
	if pushed, err := c2.Sync(ctx); err != nil || !pushed {
		t.Fatalf("second revocation: pushed %v, %v", pushed, err)
	}
	if revs := lookup(t, s.ClientURL(), a1); revs[u1] == 0 || revs[u2] == 0 {
		t.Fatalf("the cluster holds revocations %v, want %s and %s", revs, u1, u2)
	}
	if pushed, err := c1.Sync(ctx); err != nil || pushed {
		t.Errorf("c1 pushed again although the cluster was complete: %v, %v", pushed, err)
	}

	// Someone pushes an account JWT without the revocations (an older
	// collector version, a re-loaded preload): the next Sync repairs it.
	fresh, _ := auth.Load(keys)
	stale, _ := fresh.AccountJWT()
	tok, seed, _ := fresh.SystemUser("stale")
	nc, err := nats.Connect(s.ClientURL(), nats.UserJWTAndSeed(tok, string(seed)))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := nc.Request(auth.ClaimsUpdateSubject(), []byte(stale), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if revs := lookup(t, s.ClientURL(), a1); len(revs) != 0 {
		t.Fatalf("the stale push left %v", revs)
	}
	if pushed, err := c2.Sync(ctx); err != nil || !pushed {
		t.Fatalf("repair: pushed %v, %v", pushed, err)
	}
	if revs := lookup(t, s.ClientURL(), a1); revs[u1] == 0 || revs[u2] == 0 {
		t.Fatalf("after the repair the cluster holds %v", revs)
	}
}

// A credentials file is used when given, and must be a user of the
// evidence account.
func TestCredsFromAnotherAccountAreRefused(t *testing.T) {
	keys := t.TempDir()
	s := startServer(t, keys)
	a, _ := auth.Load(keys)
	write := func(tok string, seed []byte) string {
		creds, err := jwt.FormatUserConfig(tok, seed)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), "user.creds")
		os.WriteFile(p, creds, 0o600)
		return p
	}
	tok, seed, _ := a.ServiceUser("from-file")
	connect(t, s.ClientURL(), a, write(tok, seed))

	tok, seed, _ = a.SystemUser("wrong-account")
	_, err := natscluster.Connect(context.Background(), natscluster.Options{URL: s.ClientURL(), Authority: a, Name: "test", Creds: write(tok, seed)})
	if err == nil || !strings.Contains(err.Error(), "not the evidence account") {
		t.Fatalf("credentials of the system account: %v", err)
	}
}
