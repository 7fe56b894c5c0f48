package daemon_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/fleetproof/fleetproof/agent/internal/builtin"
	"github.com/fleetproof/fleetproof/agent/internal/config"
	"github.com/fleetproof/fleetproof/agent/internal/daemon"
	"github.com/fleetproof/fleetproof/agent/internal/enroll"
	"github.com/fleetproof/fleetproof/agent/internal/identity"
	"github.com/fleetproof/fleetproof/agent/internal/spool"
	"github.com/fleetproof/fleetproof/evidence"
	"github.com/fleetproof/fleetproof/queries"
)

const enrollSecret = "correct-horse"

// natsServer starts an in-process NATS server with JetStream on loopback.
func natsServer(t *testing.T) *server.Server {
	t.Helper()
	s, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(),
		NoLog: true, NoSigs: true,
	})
	if err != nil {
		t.Fatalf("nats server: %v", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		t.Fatal("nats server not ready")
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

// evidenceStream creates the stream the collector owns; the agent creates none.
func evidenceStream(t *testing.T, s *server.Server) jetstream.Stream {
	t.Helper()
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: "EVIDENCE", Subjects: []string{evidence.SubjectWildcard}, Duplicates: 10 * time.Minute,
	})
	if err != nil {
		t.Fatalf("create stream: %v", err)
	}
	return st
}

// collector is a fake enrollment endpoint that answers with the NATS URL
// and counts the enrollments it accepted.
type collector struct {
	mu       sync.Mutex
	accepted int
	rejected int
	lastReq  evidence.EnrollRequest
}

func (c *collector) serve(t *testing.T, natsURL string) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+evidence.EnrollPath, func(w http.ResponseWriter, r *http.Request) {
		var req evidence.EnrollRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, `{"error":"bad request"}`, http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if req.Secret != enrollSecret {
			c.rejected++
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"invalid enroll secret"}`))
			return
		}
		c.accepted++
		c.lastReq = req
		_ = json.NewEncoder(w).Encode(evidence.EnrollResponse{
			Schema: evidence.SchemaVersion, DeviceID: req.DeviceID, NATSURLs: []string{natsURL},
			EnrolledAt: time.Now().UTC(),
		})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func (c *collector) counts() (accepted, rejected int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.accepted, c.rejected
}

func options(t *testing.T, serverURL, secret, stateDir string) daemon.Options {
	t.Helper()
	cat, err := queries.Load()
	if err != nil {
		t.Fatalf("load catalog: %v", err)
	}
	return daemon.Options{
		Config: config.Config{
			ServerURL: serverURL, EnrollSecret: secret, StateDir: stateDir, LogLevel: "info",
			Tags: map[string]string{"department": "eng"},
		},
		Engine:      builtin.New(builtin.Options{}),
		Catalog:     cat,
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		Version:     "0.0.0-test",
		Once:        true,
		OnceTimeout: 30 * time.Second,
	}
}

func applicableIDs(t *testing.T) []string {
	t.Helper()
	cat, err := queries.Load()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range cat.ForPlatform(runtime.GOOS) {
		ids = append(ids, c.ID)
	}
	return ids
}

// devicePublicKey reads the device key the agent keeps in its state dir.
func devicePublicKey(t *testing.T, stateDir string) (string, ed25519.PublicKey) {
	t.Helper()
	id, err := identity.LoadOrCreate(stateDir, "")
	if err != nil {
		t.Fatalf("identity in state dir: %v", err)
	}
	raw, err := nkeys.Decode(nkeys.PrefixByteUser, []byte(id.PublicKey()))
	if err != nil {
		t.Fatalf("decode device key: %v", err)
	}
	return id.DeviceID, ed25519.PublicKey(raw)
}

// envelopes reads every message in the stream, checking what the collector
// checks: signature, subject and envelope validity.
func envelopes(t *testing.T, st jetstream.Stream, deviceID string, key ed25519.PublicKey) []*evidence.Envelope {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []*evidence.Envelope
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("get message %d: %v", seq, err)
		}
		if !evidence.Verify(key, m.Data, m.Header.Get(evidence.SignatureHeader)) {
			t.Errorf("message %d is not signed by the device key in the state dir", seq)
		}
		env, err := evidence.Decode(m.Data, time.Now())
		if err != nil {
			t.Fatalf("message %d: %v", seq, err)
		}
		if env.DeviceID != deviceID {
			t.Errorf("message %d from device %q, want %q", seq, env.DeviceID, deviceID)
		}
		kind := "results"
		if len(env.Results) == 0 {
			kind = "heartbeat"
		}
		if want := evidence.Subject(deviceID, kind); m.Subject != want {
			t.Errorf("message %d on %q, want %q", seq, m.Subject, want)
		}
		if got := m.Header.Get(evidence.MsgIDHeader); got != env.MsgID() {
			t.Errorf("message %d: Nats-Msg-Id %q, want %q", seq, got, env.MsgID())
		}
		out = append(out, env)
	}
	return out
}

func TestRunOnceDeliversSignedResultsForEveryApplicableCheck(t *testing.T) {
	ns := natsServer(t)
	stream := evidenceStream(t, ns)
	var coll collector
	srv := coll.serve(t, ns.ClientURL())
	stateDir := t.TempDir()
	want := applicableIDs(t)
	if len(want) == 0 {
		t.Skipf("the catalog has no checks for %s", runtime.GOOS)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := daemon.Run(ctx, options(t, srv.URL, enrollSecret, stateDir)); err != nil {
		t.Fatalf("first Run: %v", err)
	}

	deviceID, key := devicePublicKey(t, stateDir)
	if accepted, _ := coll.counts(); accepted != 1 {
		t.Fatalf("collector saw %d enrollments, want 1", accepted)
	}
	if coll.lastReq.DeviceID != deviceID || coll.lastReq.Host.OS != runtime.GOOS || coll.lastReq.Tags["department"] != "eng" {
		t.Errorf("enroll request %+v does not describe this device", coll.lastReq)
	}
	if pk, _ := identity.LoadOrCreate(stateDir, ""); coll.lastReq.PublicKey != pk.PublicKey() {
		t.Errorf("enrolled key %q, want the state dir's key %q", coll.lastReq.PublicKey, pk.PublicKey())
	}

	first := envelopes(t, stream, deviceID, key)
	got, heartbeats := covered(t, first)
	if !slices.Equal(got, want) {
		t.Errorf("delivered results for %v, want every %s check %v", got, runtime.GOOS, want)
	}
	if heartbeats != 1 {
		t.Errorf("first run delivered %d heartbeats, want 1", heartbeats)
	}
	for _, env := range first {
		for _, r := range env.Results {
			if r.Engine != "builtin" || r.Pack == "" || r.PackVersion == "" {
				t.Errorf("result %s: engine %q pack %q %q", r.CheckID, r.Engine, r.Pack, r.PackVersion)
			}
		}
	}
	assertSpoolEmpty(t, stateDir)

	// A restart refreshes its enrollment (the collector may have moved its
	// NATS address) and carries on the sequence.
	if err := daemon.Run(ctx, options(t, srv.URL, enrollSecret, stateDir)); err != nil {
		t.Fatalf("second Run: %v", err)
	}
	if accepted, _ := coll.counts(); accepted != 2 {
		t.Errorf("second Run: %d enrollments, want a refresh at start", accepted)
	}
	all := envelopes(t, stream, deviceID, key)
	if len(all) <= len(first) {
		t.Fatalf("second Run delivered nothing: stream holds %d envelopes, %d after the first run", len(all), len(first))
	}
	second, _ := covered(t, all[len(first):])
	if !slices.Equal(second, want) {
		t.Errorf("second run delivered results for %v, want %v", second, want)
	}
	seen := map[string]bool{}
	for _, env := range all {
		if seen[env.MsgID()] {
			t.Errorf("message id %s used twice: the second run would be de-duplicated away", env.MsgID())
		}
		seen[env.MsgID()] = true
	}
	assertSpoolEmpty(t, stateDir)

	// After an enroll-secret rotation the collector refuses the old secret;
	// an enrolled device keeps delivering with its saved enrollment.
	before := len(all)
	if err := daemon.Run(ctx, options(t, srv.URL, "rotated-away", stateDir)); err != nil {
		t.Fatalf("run with a refused secret but a saved enrollment: %v", err)
	}
	if n := len(envelopes(t, stream, deviceID, key)); n <= before {
		t.Error("nothing delivered with the saved enrollment")
	}
}

// covered returns the sorted distinct check ids in envs and how many
// heartbeats they carry.
func covered(t *testing.T, envs []*evidence.Envelope) ([]string, int) {
	t.Helper()
	var ids []string
	hb := 0
	for _, env := range envs {
		if env.Heartbeat != nil {
			hb++
		}
		for _, r := range env.Results {
			if !slices.Contains(ids, r.CheckID) {
				ids = append(ids, r.CheckID)
			}
		}
	}
	slices.Sort(ids)
	return ids, hb
}

func assertSpoolEmpty(t *testing.T, stateDir string) {
	t.Helper()
	sp, err := spool.Open(spool.Options{Path: filepath.Join(stateDir, daemon.SpoolFile)})
	if err != nil {
		t.Fatalf("open spool after Run: %v", err)
	}
	defer sp.Close()
	if st := sp.Stats(); st.Pending != 0 || st.Sealed != 0 {
		t.Errorf("spool after delivery: %+v, want empty", st)
	}
}

func TestRunOnceWithWrongSecretKeepsResultsSpooled(t *testing.T) {
	ns := natsServer(t)
	stream := evidenceStream(t, ns)
	var coll collector
	srv := coll.serve(t, ns.ClientURL())
	stateDir := t.TempDir()
	if len(applicableIDs(t)) == 0 {
		t.Skipf("the catalog has no checks for %s", runtime.GOOS)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := daemon.Run(ctx, options(t, srv.URL, "wrong-secret", stateDir))
	if !errors.Is(err, enroll.ErrRejected) {
		t.Fatalf("Run = %v, want an error wrapping enroll.ErrRejected", err)
	}
	if accepted, rejected := coll.counts(); accepted != 0 || rejected != 1 {
		t.Errorf("collector accepted %d and rejected %d enrollments, want 0 and 1 (a rejection is not retried)", accepted, rejected)
	}
	if _, ok, err := enroll.Load(stateDir); ok || err != nil {
		t.Errorf("enrollment state saved after a rejection (ok=%v, err=%v)", ok, err)
	}

	sp, err := spool.Open(spool.Options{Path: filepath.Join(stateDir, daemon.SpoolFile)})
	if err != nil {
		t.Fatalf("open spool after Run: %v", err)
	}
	defer sp.Close()
	if st := sp.Stats(); st.Pending == 0 {
		t.Errorf("spool after a rejected enrollment: %+v, want the run's results pending", st)
	}

	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 0 {
		t.Errorf("stream holds %d messages after a rejected enrollment, want 0", info.State.Msgs)
	}
}

func TestRunRequiresServerAndSecret(t *testing.T) {
	o := options(t, "", "", t.TempDir())
	err := daemon.Run(context.Background(), o)
	if err == nil {
		t.Fatal("Run without server_url and enroll_secret succeeded")
	}
	for _, want := range []string{"server_url is required", "enroll_secret is required"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Run error %q does not contain %q", err, want)
		}
	}
}
