package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/fleetproof/fleetproof/collector/internal/chtest"
	"github.com/fleetproof/fleetproof/collector/internal/cli"
	"github.com/fleetproof/fleetproof/collector/internal/config"
	"github.com/fleetproof/fleetproof/evidence"
)

// startExternalNATS runs a standalone nats-server in this process, apart
// from any collector. Its trust settings come only from the fragment
// `nats-config` writes for keysDir; the main file adds what every
// operator's own configuration has: where to listen and JetStream.
func startExternalNATS(t *testing.T, keysDir string) *server.Server {
	t.Helper()
	dir := t.TempDir()
	frag := filepath.Join(dir, "fleetproof.conf")
	var out, errOut bytes.Buffer
	if code := cli.Run(context.Background(), []string{"nats-config", "-data-dir", t.TempDir(), "-nats-keys-dir", keysDir,
		"-out", frag, "-resolver-dir", filepath.Join(dir, "jwt")}, &out, &errOut); code != 0 {
		t.Fatalf("nats-config exited %d: %s", code, errOut.String())
	}
	main := fmt.Sprintf("server_name: external-1\nhost: 127.0.0.1\nport: -1\njetstream { store_dir: %q }\ninclude ./fleetproof.conf\n",
		filepath.Join(dir, "js"))
	return startNATSFromFile(t, filepath.Join(dir, "nats-server.conf"), main)
}

func startNATSFromFile(t *testing.T, path, conf string) *server.Server {
	t.Helper()
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(path)
	if err != nil {
		t.Fatalf("nats-server rejects the configuration: %v", err)
	}
	opts.NoSigs = true // the test process owns signal handling
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("external nats-server not ready")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s
}

// copyDir copies the key directory, as an operator gives each collector
// its own copy of the same keys.
func copyDir(t *testing.T, from string) string {
	t.Helper()
	to := t.TempDir()
	ents, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return to
}

type testDevice struct {
	id  string
	kp  nkeys.KeyPair
	jwt string
	url string
}

// enrollDevice enrolls a new key at the collector as the agent would.
func enrollDevice(t *testing.T, httpURL, id string) testDevice {
	t.Helper()
	kp, _ := nkeys.CreateUser()
	pub, _ := kp.PublicKey()
	body, _ := json.Marshal(evidence.EnrollRequest{Schema: evidence.SchemaVersion, Secret: secret, DeviceID: id, PublicKey: pub,
		AgentVersion: "test", Host: evidence.HostFacts{Hostname: id, OS: "linux"}})
	resp, err := http.Post(httpURL+evidence.EnrollPath, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var er evidence.EnrollResponse
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("enrolling %s: %s", id, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&er); err != nil || er.UserJWT == "" || len(er.NATSURLs) == 0 {
		t.Fatalf("enrollment response %+v: %v", er, err)
	}
	return testDevice{id: id, kp: kp, jwt: er.UserJWT, url: strings.Join(er.NATSURLs, ",")}
}

func (d testDevice) connect(extra ...nats.Option) (*nats.Conn, error) {
	opts := append([]nats.Option{
		nats.UserJWT(func() (string, error) { return d.jwt, nil }, func(n []byte) ([]byte, error) { return d.kp.Sign(n) }),
		nats.CustomInboxPrefix(evidence.InboxPrefix(d.id)), nats.NoReconnect(),
	}, extra...)
	return nats.Connect(d.url, opts...)
}

// publish sends one signed envelope with three results through JetStream.
func (d testDevice) publish(t *testing.T, nc *nats.Conn, seq uint64) *jetstream.PubAck {
	t.Helper()
	at := time.Now().UTC().Truncate(time.Second)
	e := evidence.Envelope{Schema: evidence.SchemaVersion, DeviceID: d.id, AgentVersion: "test", Seq: seq, SentAt: at}
	for i := 0; i < 3; i++ {
		e.Results = append(e.Results, evidence.Result{CheckID: fmt.Sprintf("check_%d", i), CheckVersion: 1, Pack: "fleetproof-core",
			PackVersion: "1.0.0", ObservedAt: at, Status: evidence.StatusPass, Rows: []map[string]string{{"ok": "1"}}, Engine: "builtin"})
	}
	body, _ := json.Marshal(e)
	sig, _ := d.kp.Sign(body)
	msg := nats.NewMsg(evidence.Subject(d.id, "results"))
	msg.Data = body
	msg.Header.Set(evidence.SignatureHeader, evidence.EncodeSignature(sig))
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ack, err := js.PublishMsg(ctx, msg, jetstream.WithMsgID(e.MsgID()))
	if err != nil {
		t.Fatalf("%s publishing to its own subject: %v", d.id, err)
	}
	return ack
}

func countRows(t *testing.T, dsn, query string) uint64 {
	t.Helper()
	var n uint64
	if err := chtest.Open(t, dsn).QueryRow(context.Background(), query).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// waitFor polls external state (ClickHouse, a server) until cond holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond) // external state: nothing to await
	}
}

// Two collectors share an external nats-server that trusts Fleetproof only
// through the nats-config fragment; each holds a copy of one key directory.
func TestExternalClusterTrustsFleetproofDevices(t *testing.T) {
	keys := t.TempDir()
	ns := startExternalNATS(t, keys)
	dsn := chtest.Database(t)
	external := func(keysDir string) func(*config.Config) {
		return func(c *config.Config) {
			c.ClickHouseDSN = dsn
			c.NATSURL = ns.ClientURL()
			c.NATSKeysDir = keysDir
		}
	}
	a := startCollectorWith(t, external(keys))
	b := startCollectorWith(t, external(copyDir(t, keys)))
	if a.NATSURL != ns.ClientURL() {
		t.Errorf("collector reports NATS at %s, want the external %s", a.NATSURL, ns.ClientURL())
	}

	alice := enrollDevice(t, a.HTTPURL, "d-ext-alice")
	bob := enrollDevice(t, b.HTTPURL, "d-ext-bob")
	if alice.url != ns.ClientURL() {
		t.Errorf("agents are told to publish to %s, want %s", alice.url, ns.ClientURL())
	}
	closed := make(chan struct{})
	errs := make(chan error, 16)
	nc, err := alice.connect(nats.ClosedHandler(func(*nats.Conn) { close(closed) }),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))
	if err != nil {
		t.Fatalf("alice's enrollment credentials do not work on the external server: %v", err)
	}
	defer nc.Close()
	ack := alice.publish(t, nc, 1)
	if ack.Stream != "EVIDENCE" || ack.Duplicate {
		t.Errorf("publish ack %+v", ack)
	}
	q := "SELECT count() FROM results WHERE device_id = 'd-ext-alice'"
	waitFor(t, "alice's results in ClickHouse", func() bool { return countRows(t, dsn, q) >= 3 })

	// The same envelope again (an agent retrying after a lost ack) is
	// dropped by JetStream's de-duplication; ClickHouse holds it once.
	if again := alice.publish(t, nc, 1); !again.Duplicate {
		t.Errorf("re-publishing the same envelope was not recognised as a duplicate: %+v", again)
	}
	bobConn, err := bob.connect()
	if err != nil {
		t.Fatal(err)
	}
	defer bobConn.Close()
	bob.publish(t, bobConn, 1)
	waitFor(t, "bob's results in ClickHouse", func() bool {
		return countRows(t, dsn, "SELECT count() FROM results WHERE device_id = 'd-ext-bob'") >= 3
	})
	if n := countRows(t, dsn, q); n != 3 {
		t.Errorf("alice's envelope is stored as %d result rows, want exactly 3", n)
	}

	// Alice may not publish as bob, nor anywhere else.
	for _, subj := range []string{evidence.Subject(bob.id, "results"), "$JS.API.STREAM.DELETE.EVIDENCE"} {
		if err := nc.Publish(subj, []byte("{}")); err != nil {
			t.Fatal(err)
		}
		nc.Flush()
		select {
		case err := <-errs:
			if !strings.Contains(err.Error(), "Permissions Violation") {
				t.Errorf("publishing to %s: %v", subj, err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("publishing to %s was not refused", subj)
		}
	}

	// Revoking alice (recorded in ClickHouse, pushed to the cluster by the
	// collectors' watchers) closes her live connection; no restart.
	var out, errOut bytes.Buffer
	if code := cli.Run(context.Background(), []string{"revoke", "-clickhouse-dsn", dsn, "-device", alice.id, "-reason", "stolen", "-by", "test"}, &out, &errOut); code != 0 {
		t.Fatalf("revoke exited %d: %s", code, errOut.String())
	}
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		t.Fatal("the revoked device's connection to the external server is still open")
	}
	if _, err := alice.connect(); err == nil {
		t.Fatal("the revoked device reconnected to the external server")
	} else if !strings.Contains(strings.ToLower(err.Error()), "authorization violation") {
		t.Errorf("reconnect refused with %v, want an authorization violation", err)
	}
	// The account JWT the collectors pushed kept JetStream and everyone
	// else: bob still publishes and is still ingested.
	if !bobConn.IsConnected() {
		t.Fatal("bob was disconnected by alice's revocation")
	}
	bob.publish(t, bobConn, 2)
	waitFor(t, "bob's second envelope in ClickHouse", func() bool {
		return countRows(t, dsn, "SELECT count() FROM results WHERE device_id = 'd-ext-bob'") >= 6
	})
	if n := countRows(t, dsn, q); n != 3 {
		t.Errorf("alice's results = %d rows after everything, want 3", n)
	}
}
