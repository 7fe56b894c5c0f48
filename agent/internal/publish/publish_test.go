package publish_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/fleetproof/fleetproof/agent/internal/publish"
	"github.com/fleetproof/fleetproof/agent/internal/spool"
	"github.com/fleetproof/fleetproof/evidence"
)

const (
	deviceID   = "d-publishtest"
	streamName = "EVIDENCE"
)

// natsServer starts an in-process NATS server with JetStream on loopback,
// storing in storeDir, and stops it at cleanup.
func natsServer(t *testing.T, storeDir string) *server.Server {
	t.Helper()
	s, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: storeDir,
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

func connect(t *testing.T, s *server.Server) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(s.ClientURL(), nats.MaxReconnects(0))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	return js
}

// evidenceStream creates the stream the collector would own: every device's
// evidence, with a de-duplication window.
func evidenceStream(t *testing.T, js jetstream.JetStream) jetstream.Stream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: streamName, Subjects: []string{evidence.SubjectWildcard},
		Storage: jetstream.FileStorage, Duplicates: 10 * time.Minute,
	})
	if err != nil {
		t.Fatalf("create stream: %v", err)
	}
	return st
}

func openSpool(t *testing.T) *spool.Spool {
	t.Helper()
	sp, err := spool.Open(spool.Options{Path: filepath.Join(t.TempDir(), "spool.db"), Logger: quietLogger()})
	if err != nil {
		t.Fatalf("open spool: %v", err)
	}
	t.Cleanup(func() { _ = sp.Close() })
	return sp
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// deviceKey returns a device key pair and the raw ed25519 public key a
// collector would verify against.
func deviceKey(t *testing.T) (nkeys.KeyPair, ed25519.PublicKey) {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := kp.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := nkeys.Decode(nkeys.PrefixByteUser, []byte(pub))
	if err != nil {
		t.Fatalf("decode public key: %v", err)
	}
	return kp, ed25519.PublicKey(raw)
}

func results(from, n int) []evidence.Result {
	t0 := time.Now().UTC().Add(-time.Hour)
	out := make([]evidence.Result, n)
	for i := range out {
		out[i] = evidence.Result{
			CheckID: fmt.Sprintf("check_%03d", from+i), CheckVersion: 1, Pack: "fleetproof-core", PackVersion: "1.0.0",
			ObservedAt: t0.Add(time.Duration(from+i) * time.Second), Status: evidence.StatusPass,
			Rows: []map[string]string{{"compliant": "1"}}, Engine: "builtin",
		}
	}
	return out
}

type fixture struct {
	js     jetstream.JetStream
	stream jetstream.Stream
	sp     *spool.Spool
	pub    *publish.Publisher
	key    ed25519.PublicKey
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	s := natsServer(t, t.TempDir())
	js := connect(t, s)
	kp, key := deviceKey(t)
	sp := openSpool(t)
	return &fixture{
		js: js, stream: evidenceStream(t, js), sp: sp, key: key,
		pub: &publish.Publisher{
			Spool: sp, JS: js, Signer: kp, Logger: quietLogger(),
			Template:       evidence.Envelope{Schema: evidence.SchemaVersion, DeviceID: deviceID, AgentVersion: "test"},
			PublishTimeout: 2 * time.Second,
		},
	}
}

func streamMsgs(t *testing.T, st jetstream.Stream) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatalf("stream info: %v", err)
	}
	return info.State.Msgs
}

// stored is one message read back from the stream, verified.
type stored struct {
	msgID string
	env   *evidence.Envelope
	body  []byte
}

// readStream returns every message in the stream in stream order, failing
// the test on any message a collector would reject.
func readStream(t *testing.T, st jetstream.Stream, key ed25519.PublicKey) []stored {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatalf("stream info: %v", err)
	}
	var out []stored
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("get message %d: %v", seq, err)
		}
		if !evidence.Verify(key, m.Data, m.Header.Get(evidence.SignatureHeader)) {
			t.Errorf("message %d: signature %q does not verify against the device key", seq, m.Header.Get(evidence.SignatureHeader))
		}
		env, err := evidence.Decode(m.Data, time.Now())
		if err != nil {
			t.Fatalf("message %d: %v", seq, err)
		}
		if want := evidence.Subject(env.DeviceID, "results"); len(env.Results) > 0 && m.Subject != want {
			t.Errorf("message %d: subject %q, want %q", seq, m.Subject, want)
		}
		out = append(out, stored{msgID: m.Header.Get(evidence.MsgIDHeader), env: env, body: m.Data})
	}
	return out
}

func TestFlushDeliversEverySpooledResultOldestFirst(t *testing.T) {
	tests := []struct {
		name          string
		appends       []int // results per Append call
		maxResults    int
		wantEnvelopes int
	}{
		{"one batch fits one envelope", []int{3}, 10, 1},
		{"results beyond MaxResults go in later envelopes", []int{2, 3, 2}, 3, 3},
		{"a single result", []int{1}, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.pub.MaxResults = tt.maxResults
			total := 0
			for _, n := range tt.appends {
				if err := f.sp.Append(results(total, n)...); err != nil {
					t.Fatal(err)
				}
				total += n
			}

			sent, err := f.pub.Flush(context.Background())
			if err != nil {
				t.Fatalf("Flush: %v", err)
			}
			if sent != tt.wantEnvelopes {
				t.Errorf("Flush sent %d envelopes, want %d", sent, tt.wantEnvelopes)
			}

			msgs := readStream(t, f.stream, f.key)
			if len(msgs) != tt.wantEnvelopes {
				t.Fatalf("stream holds %d envelopes, want %d", len(msgs), tt.wantEnvelopes)
			}
			var got []string
			var lastSeq uint64
			for _, m := range msgs {
				if m.msgID != m.env.MsgID() {
					t.Errorf("Nats-Msg-Id %q, want the envelope's MsgID %q", m.msgID, m.env.MsgID())
				}
				if m.env.Seq <= lastSeq {
					t.Errorf("envelope seq %d after %d: not oldest first", m.env.Seq, lastSeq)
				}
				lastSeq = m.env.Seq
				if m.env.DeviceID != deviceID || m.env.AgentVersion != "test" {
					t.Errorf("envelope from %q version %q, want the template's", m.env.DeviceID, m.env.AgentVersion)
				}
				for _, r := range m.env.Results {
					got = append(got, r.CheckID)
				}
			}
			var want []string
			for _, r := range results(0, total) {
				want = append(want, r.CheckID)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("delivered results %v, want %v in order", got, want)
			}
			if st := f.sp.Stats(); st.Pending != 0 || st.Sealed != 0 {
				t.Errorf("spool after Flush: %+v, want empty", st)
			}
		})
	}
}

func TestFlushWithEmptySpoolSendsNothing(t *testing.T) {
	f := newFixture(t)
	sent, err := f.pub.Flush(context.Background())
	if err != nil || sent != 0 {
		t.Fatalf("Flush = %d, %v; want 0, nil", sent, err)
	}
	if n := streamMsgs(t, f.stream); n != 0 {
		t.Errorf("stream holds %d messages, want 0", n)
	}
}

func TestFlushWhileServerDownKeepsEverythingSpooled(t *testing.T) {
	storeDir := t.TempDir()
	s := natsServer(t, storeDir)
	js := connect(t, s)
	evidenceStream(t, js)
	kp, key := deviceKey(t)
	sp := openSpool(t)
	pub := &publish.Publisher{
		Spool: sp, JS: js, Signer: kp, Logger: quietLogger(),
		Template:       evidence.Envelope{Schema: evidence.SchemaVersion, DeviceID: deviceID, AgentVersion: "test"},
		PublishTimeout: 300 * time.Millisecond,
	}
	if err := sp.Append(results(0, 4)...); err != nil {
		t.Fatal(err)
	}

	s.Shutdown()
	s.WaitForShutdown()

	sent, err := pub.Flush(context.Background())
	if err == nil {
		t.Fatal("Flush with the server down returned no error")
	}
	if sent != 0 {
		t.Errorf("Flush reported %d envelopes sent with the server down", sent)
	}
	st := sp.Stats()
	b, ok, nerr := sp.Next()
	if nerr != nil || !ok {
		t.Fatalf("spool Next after failed Flush = %v, %v; want the sealed envelope", ok, nerr)
	}
	if st.Pending+b.Results != 4 || st.Sealed != 1 {
		t.Errorf("spool after failed Flush: %+v with %d results sealed, want all 4 results kept", st, b.Results)
	}

	// The collector comes back (same store, new port): the same envelope
	// goes out under the same id and leaves the spool.
	s2 := natsServer(t, storeDir)
	js2 := connect(t, s2)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := js2.Stream(ctx, streamName)
	if err != nil {
		t.Fatalf("stream after restart: %v", err)
	}
	pub.JS = js2
	if sent, err := pub.Flush(ctx); err != nil || sent != 1 {
		t.Fatalf("Flush after restart = %d, %v; want 1, nil", sent, err)
	}
	msgs := readStream(t, stream, key)
	if len(msgs) != 1 || msgs[0].msgID != b.MsgID || len(msgs[0].env.Results) != 4 {
		t.Fatalf("stream after restart holds %d envelopes (first id %q), want one with id %q and 4 results", len(msgs), msgIDOf(msgs), b.MsgID)
	}
	if st := sp.Stats(); st.Pending != 0 || st.Sealed != 0 {
		t.Errorf("spool after delivery: %+v, want empty", st)
	}
}

func msgIDOf(m []stored) string {
	if len(m) == 0 {
		return ""
	}
	return m[0].msgID
}

func TestResendAfterLostAckIsStoredOnce(t *testing.T) {
	f := newFixture(t)
	kp, _ := deviceKey(t) // any key: the body decides the id, not the signature
	if err := f.sp.Append(results(0, 3)...); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := f.sp.Seal(f.pub.Template, 0, 0); err != nil || !ok {
		t.Fatalf("Seal = %v, %v", ok, err)
	}
	b, ok, err := f.sp.Next()
	if err != nil || !ok {
		t.Fatalf("Next = %v, %v", ok, err)
	}

	// First attempt: the server stores the envelope, but the agent never
	// sees the ack, so the batch stays in the spool.
	sig, err := kp.Sign(b.Body)
	if err != nil {
		t.Fatal(err)
	}
	msg := nats.NewMsg(b.Subject)
	msg.Data = b.Body
	msg.Header.Set(evidence.SignatureHeader, evidence.EncodeSignature(sig))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := f.js.PublishMsg(ctx, msg, jetstream.WithMsgID(b.MsgID)); err != nil {
		t.Fatalf("first attempt: %v", err)
	}

	// The retry re-sends the identical sealed batch.
	sent, err := f.pub.Flush(ctx)
	if err != nil || sent != 1 {
		t.Fatalf("Flush = %d, %v; want 1, nil", sent, err)
	}
	if n := streamMsgs(t, f.stream); n != 1 {
		t.Fatalf("stream holds %d copies of envelope %s, want 1", n, b.MsgID)
	}
	m, err := f.stream.GetLastMsgForSubject(ctx, b.Subject)
	if err != nil {
		t.Fatal(err)
	}
	if string(m.Data) != string(b.Body) || m.Header.Get(evidence.MsgIDHeader) != b.MsgID {
		t.Errorf("stored message differs from the sealed batch")
	}
	if st := f.sp.Stats(); st.Pending != 0 || st.Sealed != 0 {
		t.Errorf("spool after retry: %+v, want empty", st)
	}
}

func TestRunDeliversOnWakeWithoutWaitingForInterval(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	wake := make(chan struct{}, 1)
	done := make(chan struct{})

	// Spooled before Run starts: delivered by Run's first flush.
	if err := f.sp.Append(results(0, 1)...); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(done)
		f.pub.Run(ctx, wake, time.Hour)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	awaitStreamMsgs(t, f.stream, 1)

	// Run now sleeps for an hour; only the wake can deliver this one.
	if err := f.sp.Append(results(1, 2)...); err != nil {
		t.Fatal(err)
	}
	wake <- struct{}{}
	awaitStreamMsgs(t, f.stream, 2)

	msgs := readStream(t, f.stream, f.key)
	var got []string
	for _, m := range msgs {
		for _, r := range m.env.Results {
			got = append(got, r.CheckID)
		}
	}
	if want := "[check_000 check_001 check_002]"; fmt.Sprint(got) != want {
		t.Errorf("delivered %v, want %s", got, want)
	}

	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

// awaitStreamMsgs polls the stream until it holds want messages.
func awaitStreamMsgs(t *testing.T, st jetstream.Stream, want uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		n := streamMsgs(t, st)
		if n == want {
			return
		}
		if n > want || time.Now().After(deadline) {
			t.Fatalf("stream holds %d messages, want %d", n, want)
		}
		<-tick.C
	}
}

// The body on the wire is the spool's sealed bytes exactly, so a collector
// verifying the signature never depends on re-encoding.
func TestPublishedBodyIsTheSealedBytes(t *testing.T) {
	f := newFixture(t)
	if err := f.sp.Append(results(0, 2)...); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := f.sp.Seal(f.pub.Template, 0, 0); err != nil || !ok {
		t.Fatalf("Seal = %v, %v", ok, err)
	}
	b, _, err := f.sp.Next()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.pub.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	msgs := readStream(t, f.stream, f.key)
	if len(msgs) != 1 || string(msgs[0].body) != string(b.Body) {
		t.Fatalf("stream body differs from the sealed batch")
	}
	var env evidence.Envelope
	if err := json.Unmarshal(msgs[0].body, &env); err != nil || env.Seq != b.Seq {
		t.Errorf("envelope seq %d (err %v), want batch seq %d", env.Seq, err, b.Seq)
	}
}
