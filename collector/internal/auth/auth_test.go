package auth_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/fleetproof/fleetproof/collector/internal/auth"
	"github.com/fleetproof/fleetproof/collector/internal/natsd"
	"github.com/fleetproof/fleetproof/evidence"
)

type rig struct {
	a   *auth.Authority
	ns  *natsd.Server
	svc *nats.Conn
}

func start(t *testing.T, dir string) *rig {
	t.Helper()
	a, err := auth.LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	op, err := a.OperatorClaims()
	if err != nil {
		t.Fatal(err)
	}
	accts, err := a.AccountJWTs()
	if err != nil {
		t.Fatal(err)
	}
	ns, err := natsd.Start(natsd.Options{StoreDir: t.TempDir(), Listen: "127.0.0.1:0", Operator: op, Accounts: accts,
		SystemAccount: a.SystemAccountPublicKey()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	tok, seed, err := a.ServiceUser("test-collector")
	if err != nil {
		t.Fatal(err)
	}
	svc, err := nats.Connect(ns.ClientURL(), nats.UserJWTAndSeed(tok, string(seed)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	js, _ := jetstream.New(svc)
	if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: "EVIDENCE", Subjects: []string{evidence.SubjectWildcard}}); err != nil {
		t.Fatal(err)
	}
	return &rig{a: a, ns: ns, svc: svc}
}

type device struct {
	id string
	kp nkeys.KeyPair
}

func newDevice(id string) device { kp, _ := nkeys.CreateUser(); return device{id, kp} }
func (d device) pub() string     { p, _ := d.kp.PublicKey(); return p }

// connect connects as an enrolled device would, collecting async errors
// (permission violations arrive that way).
func (r *rig) connect(t *testing.T, d device, tok string) (*nats.Conn, chan error) {
	t.Helper()
	errs := make(chan error, 16)
	nc, err := nats.Connect(r.ns.ClientURL(),
		nats.UserJWT(func() (string, error) { return tok, nil }, func(n []byte) ([]byte, error) { return d.kp.Sign(n) }),
		nats.CustomInboxPrefix(evidence.InboxPrefix(d.id)),
		nats.NoReconnect(),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc, errs
}

func TestDeviceMayPublishOnlyToItsOwnSubjects(t *testing.T) {
	r := start(t, t.TempDir())
	alice, bob := newDevice("d-alice"), newDevice("d-bob")
	tok, err := r.a.DeviceUser(alice.id, alice.pub())
	if err != nil {
		t.Fatal(err)
	}
	nc, errs := r.connect(t, alice, tok)
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := js.Publish(ctx, evidence.Subject(alice.id, "results"), []byte("{}")); err != nil {
		t.Fatalf("publishing to its own subject: %v", err)
	}
	cases := []string{evidence.Subject(bob.id, "results"), "evidence.v1.>", "$JS.API.STREAM.DELETE.EVIDENCE", "anything.else"}
	for _, subj := range cases {
		if err := nc.Publish(subj, []byte("{}")); err != nil {
			t.Fatal(err)
		}
		nc.Flush()
		select {
		case err := <-errs:
			if !strings.Contains(err.Error(), "Permissions Violation") {
				t.Errorf("%s: %v", subj, err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("publishing to %s was not refused", subj)
		}
	}
	if _, err := nc.SubscribeSync(evidence.InboxPrefix(bob.id) + ".x"); err != nil {
		t.Fatal(err)
	}
	nc.Flush()
	select {
	case err := <-errs:
		if !strings.Contains(err.Error(), "Permissions Violation") {
			t.Errorf("subscribing to another device's inbox: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("subscribing to another device's inbox was not refused")
	}
	info, _ := jetstream.New(r.svc)
	s, _ := info.Stream(ctx, "EVIDENCE")
	si, _ := s.Info(ctx)
	if si.State.Msgs != 1 {
		t.Errorf("stream holds %d messages, want only alice's one", si.State.Msgs)
	}
}

func TestCredentialsForAnotherKeyDoNotWork(t *testing.T) {
	r := start(t, t.TempDir())
	alice, mallory := newDevice("d-alice"), newDevice("d-alice")
	tok, _ := r.a.DeviceUser(alice.id, alice.pub())
	// Mallory holds alice's JWT but not her seed: the nonce signature fails.
	_, err := nats.Connect(r.ns.ClientURL(),
		nats.UserJWT(func() (string, error) { return tok, nil }, func(n []byte) ([]byte, error) { return mallory.kp.Sign(n) }),
		nats.NoReconnect())
	if err == nil {
		t.Fatal("connected with a stolen JWT")
	}
}

func TestRevocationClosesTheConnectionWithoutARestart(t *testing.T) {
	dir := t.TempDir()
	r := start(t, dir)
	alice := newDevice("d-alice")
	tok, _ := r.a.DeviceUser(alice.id, alice.pub())
	closed := make(chan struct{})
	nc, err := nats.Connect(r.ns.ClientURL(),
		nats.UserJWT(func() (string, error) { return tok, nil }, func(n []byte) ([]byte, error) { return alice.kp.Sign(n) }),
		nats.NoReconnect(), nats.ClosedHandler(func(*nats.Conn) { close(closed) }))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	acct, err := r.a.Revoke(alice.pub(), time.Now().Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.ns.UpdateAccount(acct); err != nil {
		t.Fatal(err)
	}
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("revoked device is still connected")
	}
	if _, err := nats.Connect(r.ns.ClientURL(),
		nats.UserJWT(func() (string, error) { return tok, nil }, func(n []byte) ([]byte, error) { return alice.kp.Sign(n) }),
		nats.NoReconnect()); err == nil {
		t.Fatal("revoked device reconnected")
	}

	// The revocation survives a collector restart with the same data dir.
	r.ns.Shutdown()
	r2 := start(t, dir)
	if _, err := nats.Connect(r2.ns.ClientURL(),
		nats.UserJWT(func() (string, error) { return tok, nil }, func(n []byte) ([]byte, error) { return alice.kp.Sign(n) }),
		nats.NoReconnect()); err == nil {
		t.Fatal("revoked device connected after a restart")
	}
}

func TestKeysPersistOwnerOnly(t *testing.T) {
	dir := t.TempDir()
	a, err := auth.LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := auth.LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if a.AccountPublicKey() != b.AccountPublicKey() {
		t.Error("account key changed across restarts")
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		info, _ := e.Info()
		if info.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s mode %v", e.Name(), info.Mode().Perm())
		}
	}
	os.WriteFile(filepath.Join(dir, "account.nk"), []byte("not a seed"), 0o600)
	if _, err := auth.LoadOrCreate(dir); err == nil {
		t.Error("a corrupt seed was accepted")
	}
}

func TestDeviceUserRefusesBadInput(t *testing.T) {
	a, _ := auth.LoadOrCreate(t.TempDir())
	d := newDevice("d-ok")
	for _, c := range []struct{ id, key string }{{"a.b", d.pub()}, {"d-ok", "nope"}, {"", d.pub()}} {
		if _, err := a.DeviceUser(c.id, c.key); err == nil {
			t.Errorf("DeviceUser(%q, %q) succeeded", c.id, c.key)
		}
	}
	if _, err := a.Revoke("nope", time.Now()); err == nil || errors.Is(err, nil) {
		t.Error("revoking a non-key succeeded")
	}
}
