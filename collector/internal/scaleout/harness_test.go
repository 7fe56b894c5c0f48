package scaleout_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/fleetproof/fleetproof/collector/internal/auth"
	"github.com/fleetproof/fleetproof/collector/internal/ingest"
	"github.com/fleetproof/fleetproof/collector/internal/serve"
	"github.com/fleetproof/fleetproof/collector/internal/store"
	"github.com/fleetproof/fleetproof/evidence"
)

// waitTimeout bounds every wait on another process; the whole package
// normally runs in well under a minute.
const waitTimeout = 60 * time.Second

// pollEvery is how often a wait polls ClickHouse, JetStream or a file. The
// collectors are other processes: there is no event to block on.
const pollEvery = 20 * time.Millisecond

// buildCollector compiles the real collector binary into dir.
func buildCollector(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "fleetproof-collector")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/fleetproof/fleetproof/collector")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the collector: %v\n%s", err, out)
	}
	return bin
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// eventually polls cond until it reports done, failing the test with the
// last status after waitTimeout.
func eventually(t *testing.T, what string, cond func() (done bool, status string)) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		done, status := cond()
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s; last: %s", waitTimeout, what, status)
		}
		<-tick.C
	}
}

// ---- devices and envelopes --------------------------------------------

type device struct {
	id  string
	kp  nkeys.KeyPair
	seq uint64
}

// checksPerEnvelope results go in every envelope, one per check.
const checksPerEnvelope = 10

var t0 = time.Now().UTC().Truncate(time.Hour).Add(-3 * time.Hour)

// nextEnvelope is the device's next envelope: checksPerEnvelope results and
// a heartbeat, all observed at a time unique to this envelope, so every
// result has its own natural key (device, check, observed_at).
func (d *device) nextEnvelope() evidence.Envelope {
	d.seq++
	at := t0.Add(time.Duration(d.seq) * time.Second)
	e := evidence.Envelope{Schema: evidence.SchemaVersion, DeviceID: d.id, AgentVersion: "0.1.0", Seq: d.seq, SentAt: at,
		Heartbeat: &evidence.Heartbeat{ObservedAt: at, Hostname: d.id, UptimeS: int64(d.seq), SpoolDepth: 0}}
	for c := 0; c < checksPerEnvelope; c++ {
		status := evidence.StatusPass
		if (int(d.seq)+c)%4 == 0 {
			status = evidence.StatusFail
		}
		e.Results = append(e.Results, evidence.Result{
			CheckID: fmt.Sprintf("check_%02d", c), CheckVersion: 1, Pack: "fleetproof-core", PackVersion: "1.0.0",
			ObservedAt: at, Status: status, Rows: []map[string]string{{"compliant": "1", "path": "/"}},
			Reason: "scale-out test", DurationMS: 3, Engine: "builtin",
		})
	}
	return e
}

// ---- the rig: external NATS, ClickHouse, an enrolled fleet --------------

type rig struct {
	t        *testing.T
	bin      string
	natsDir  string
	natsAddr string // host:port, fixed after the first start so a restart reuses it
	ns       *server.Server
	// keysDir holds the operator and account keys the NATS server trusts;
	// every collector gets a copy of it, as in production.
	keysDir string
	nc      *nats.Conn
	js      jetstream.JetStream
	dsn     string
	st      *store.Store
	devs    []*device
	next    int // round-robin position over devs
}

// newRig starts the external NATS, opens (and migrates) the ClickHouse
// database named by dsn, enrolls n devices and creates the evidence stream
// and shared consumer exactly as a collector does.
func newRig(t *testing.T, bin, dsn string, devices int) *rig {
	t.Helper()
	r := &rig{t: t, bin: bin, natsDir: t.TempDir(), natsAddr: "127.0.0.1:0", dsn: dsn, keysDir: t.TempDir()}
	a, err := auth.LoadOrCreate(r.keysDir)
	if err != nil {
		t.Fatal(err)
	}
	conf, err := a.ServerConfig(filepath.Join(r.natsDir, "jwt"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.natsDir, "fleetproof.conf"), conf, 0o600); err != nil {
		t.Fatal(err)
	}
	r.startNATS()
	t.Cleanup(r.stopNATS)
	u, err := url.Parse(r.ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	r.natsAddr = u.Host
	// The test publishes for every device and watches the consumer: an
	// unrestricted user of the evidence account.
	tok, seed, err := a.ServiceUser("scaleout-test")
	if err != nil {
		t.Fatal(err)
	}
	r.nc, err = nats.Connect(r.natsURL(), nats.Name("scaleout-test"), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond),
		nats.UserJWTAndSeed(tok, string(seed)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.nc.Close)
	if r.js, err = jetstream.New(r.nc); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if r.st, err = store.Open(ctx, dsn, quietLogger()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.st.Close() })
	now := time.Now().UTC().Truncate(time.Second)
	for i := 0; i < devices; i++ {
		kp, err := nkeys.CreateUser()
		if err != nil {
			t.Fatal(err)
		}
		d := &device{id: fmt.Sprintf("d-scale-%03d", i), kp: kp}
		pub, _ := kp.PublicKey()
		if err := r.st.UpsertDevice(ctx, store.Device{DeviceID: d.id, PublicKey: pub, OS: "linux", Hostname: d.id,
			EnrolledAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
		r.devs = append(r.devs, d)
	}
	if _, err := ingest.EnsureStream(ctx, r.js, ingest.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *rig) natsURL() string { return "nats://" + r.natsAddr }

// startNATS runs the "external" server from a configuration file that
// includes the fragment `nats-config` writes, as an operator's would.
func (r *rig) startNATS() {
	r.t.Helper()
	host, port, err := net.SplitHostPort(r.natsAddr)
	if err != nil {
		r.t.Fatal(err)
	}
	if port == "0" {
		port = "-1" // nats-server's "any free port"
	}
	path := filepath.Join(r.natsDir, "nats-server.conf")
	conf := fmt.Sprintf("server_name: scaleout-nats\nhost: %s\nport: %s\nmax_payload: 8388608\njetstream { store_dir: %q }\ninclude ./fleetproof.conf\n",
		host, port, filepath.Join(r.natsDir, "js"))
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		r.t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(path)
	if err != nil {
		r.t.Fatal(err)
	}
	opts.NoSigs = true
	ns, err := server.NewServer(opts)
	if err != nil {
		r.t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		r.t.Fatal("nats-server not ready")
	}
	r.ns = ns
}

func (r *rig) stopNATS() {
	r.ns.Shutdown()
	r.ns.WaitForShutdown()
}

// publish sends n envelopes, round-robin over the fleet, signed and with
// their message ids, as agents do; it returns the number of results sent.
func (r *rig) publish(n int) int {
	r.t.Helper()
	ctx := context.Background()
	results := 0
	for i := 0; i < n; i++ {
		d := r.devs[r.next%len(r.devs)]
		r.next++
		e := d.nextEnvelope()
		body, err := json.Marshal(e)
		if err != nil {
			r.t.Fatal(err)
		}
		sig, err := d.kp.Sign(body)
		if err != nil {
			r.t.Fatal(err)
		}
		msg := nats.NewMsg(evidence.Subject(d.id, "results"))
		msg.Data = body
		msg.Header.Set(evidence.SignatureHeader, evidence.EncodeSignature(sig))
		if _, err := r.js.PublishMsg(ctx, msg, jetstream.WithMsgID(e.MsgID())); err != nil {
			r.t.Fatalf("publishing envelope %d of %d: %v", i+1, n, err)
		}
		results += len(e.Results)
	}
	return results
}

// consumer returns the shared consumer's current state.
func (r *rig) consumer() *jetstream.ConsumerInfo {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := r.js.Consumer(ctx, ingest.StreamName, ingest.ConsumerName)
	if err != nil {
		r.t.Fatal(err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		r.t.Fatal(err)
	}
	return info
}

// count runs a SELECT count() query.
func (r *rig) count(q string) (uint64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var n uint64
	err := r.st.Conn().QueryRow(ctx, q).Scan(&n)
	return n, err
}

func (r *rig) mustCount(q string) uint64 {
	r.t.Helper()
	n, err := r.count(q)
	if err != nil {
		r.t.Fatalf("%s: %v", q, err)
	}
	return n
}

// waitDrained waits until ClickHouse holds want logical results and the
// shared consumer has nothing pending or unacknowledged.
func (r *rig) waitDrained(want uint64) {
	r.t.Helper()
	eventually(r.t, fmt.Sprintf("%d results stored and the consumer drained", want), func() (bool, string) {
		n, err := r.count("SELECT count() FROM results FINAL")
		ci := r.consumer()
		status := fmt.Sprintf("results FINAL %d (err %v), pending %d, ack pending %d", n, err, ci.NumPending, ci.NumAckPending)
		return err == nil && n == want && ci.NumPending == 0 && ci.NumAckPending == 0, status
	})
}

// stopMerges keeps duplicate rows visible in the physical count: background
// merges of a ReplacingMergeTree would otherwise collapse some of them at
// an unpredictable moment.
func (r *rig) stopMerges(tables ...string) {
	r.t.Helper()
	for _, tb := range tables {
		if err := r.st.Conn().Exec(context.Background(), "SYSTEM STOP MERGES "+tb); err != nil {
			r.t.Fatalf("SYSTEM STOP MERGES %s: %v", tb, err)
		}
	}
}

// ---- collector processes ----------------------------------------------

type collector struct {
	t       *testing.T
	name    string
	dataDir string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{}
	err     error // Wait's result; read after done is closed
	info    serve.Info
}

// startCollector runs `fleetproof-collector serve` against the rig's NATS
// and ClickHouse and returns once it has recorded its endpoints in
// dataDir/collector.json. extra flags are appended.
func (r *rig) startCollector(name, dataDir string, extra ...string) *collector {
	r.t.Helper()
	c := &collector{t: r.t, name: name, dataDir: dataDir, done: make(chan struct{})}
	logs := r.t.TempDir()
	c.logPath = filepath.Join(logs, name+".log")
	out, err := os.OpenFile(c.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		r.t.Fatal(err)
	}
	defer out.Close()
	args := append([]string{"serve",
		"-nats-url", r.natsURL(),
		"-clickhouse-dsn", r.dsn,
		"-data-dir", dataDir,
		"-nats-keys-dir", r.keysDir,
		"-http-listen", "127.0.0.1:0",
		"-enroll-secrets", "x",
		"-log-level", "warn",
	}, extra...)
	c.cmd = exec.Command(r.bin, args...)
	c.cmd.Env = cleanEnv()
	c.cmd.Stdout, c.cmd.Stderr = out, out
	c.cmd.SysProcAttr = sysProcAttr()
	if err := c.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	go func() { c.err = c.cmd.Wait(); close(c.done) }()
	r.t.Cleanup(c.stop)
	// A collector killed with SIGKILL leaves its collector.json behind: only
	// a file naming this process counts.
	eventually(r.t, name+" to record "+serve.StateFile, func() (bool, string) {
		if c.exited() {
			r.t.Fatalf("%s exited before it was ready: %v\n%s", name, c.err, c.logs())
		}
		info, err := serve.ReadState(dataDir)
		if err == nil && info.PID == c.cmd.Process.Pid {
			c.info = info
			return true, ""
		}
		return false, fmt.Sprintf("state %+v, err %v", info, err)
	})
	return c
}

// cleanEnv keeps the machine's collector settings out of the child.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FLEETPROOF_COLLECTOR_") {
			env = append(env, kv)
		}
	}
	return env
}

func (c *collector) pid() int { return c.cmd.Process.Pid }

func (c *collector) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

func (c *collector) logs() string {
	b, _ := os.ReadFile(c.logPath)
	return string(b)
}

// kill ends the process with SIGKILL, like a crash or an OOM kill.
func (c *collector) kill() {
	c.t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil && !c.exited() {
		c.t.Fatal(err)
	}
	<-c.done
}

// shutdown stops the collector with SIGTERM, as a service manager does, and
// fails the test unless it exits cleanly (status 0) within 15s.
func (c *collector) shutdown() {
	c.t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		c.t.Fatalf("%s: %v", c.name, err)
	}
	select {
	case <-c.done:
		if c.err != nil {
			c.t.Errorf("%s exited with %v after SIGTERM", c.name, c.err)
		}
	case <-time.After(15 * time.Second):
		c.t.Errorf("%s did not stop within 15s of SIGTERM", c.name)
	}
}

// stop asks for a clean shutdown (SIGTERM), killing after a grace period.
// On a failed test it prints the collector's log.
func (c *collector) stop() {
	if !c.exited() {
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(15 * time.Second):
			c.t.Errorf("%s did not stop within 15s of SIGTERM; killing it", c.name)
			_ = c.cmd.Process.Kill()
			<-c.done
		}
	}
	if c.t.Failed() {
		c.t.Logf("--- %s log (%s) ---\n%s", c.name, c.logPath, c.logs())
	}
}

// readyz returns the HTTP status of the collector's /readyz.
func (c *collector) readyz() int {
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	resp, err := hc.Get(c.info.HTTPURL + "/readyz")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

func (c *collector) waitReadyz(code int) {
	c.t.Helper()
	eventually(c.t, fmt.Sprintf("%s /readyz to answer %d", c.name, code), func() (bool, string) {
		got := c.readyz()
		return got == code, fmt.Sprintf("answered %d", got)
	})
}

// ---- who fetched what ---------------------------------------------------

// deliveryWatch works out, from outside, how many messages each collector
// process received. Core NATS lets a plain subscriber see both sides of a
// pull consumer's protocol:
//
//   - every pull request (on $JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>)
//     carries its batch size and a reply inbox, _INBOX.<nuid>; the first 12
//     characters of a nuid are a random prefix fixed per process, so the
//     inbox names the collector that asked;
//   - a request that expires before it is filled is answered on that inbox
//     with "408 Request Timeout" and Nats-Pending-Messages, the number the
//     server still owed; a filled request gets no answer beyond its messages;
//   - the messages themselves arrive on the inbox too, but on the wire they
//     carry their stream subject, not the inbox, so a subscriber on _INBOX.>
//     can count them and their redeliveries, not attribute them.
//
// So a request delivered batch − owed messages, and per-process sums are
// exact once every request has ended; they must add up to the deliveries
// counted directly, which checks the reasoning.
type deliveryWatch struct {
	mu          sync.Mutex
	requests    map[string]pullRequest // inbox → request
	owed        map[string]int         // inbox → messages not delivered when it expired
	deliveries  int
	redelivered int // deliveries with a delivery count above 1
	subs        []*nats.Subscription
}

type pullRequest struct {
	process string
	batch   int
}

const nuidPrefixLen = 12

func watchDeliveries(t *testing.T, nc *nats.Conn) *deliveryWatch {
	t.Helper()
	w := &deliveryWatch{requests: map[string]pullRequest{}, owed: map[string]int{}}
	pullSubject := fmt.Sprintf("$JS.API.CONSUMER.MSG.NEXT.%s.%s", ingest.StreamName, ingest.ConsumerName)
	sub, err := nc.Subscribe(pullSubject, func(m *nats.Msg) {
		var req struct {
			Batch int `json:"batch"`
		}
		p := inboxProcess(m.Reply)
		if json.Unmarshal(m.Data, &req) != nil || p == "" {
			return
		}
		w.mu.Lock()
		w.requests[m.Reply] = pullRequest{process: p, batch: req.Batch}
		w.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	w.subs = append(w.subs, sub)
	sub, err = nc.Subscribe("_INBOX.>", func(m *nats.Msg) {
		switch {
		case strings.HasPrefix(m.Reply, "$JS.ACK."+ingest.StreamName+"."):
			// $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>
			tok := strings.Split(m.Reply, ".")
			w.mu.Lock()
			w.deliveries++
			if len(tok) > 4 && tok[4] != "1" {
				w.redelivered++
			}
			w.mu.Unlock()
		case m.Header.Get("Status") == "408":
			n, err := strconv.Atoi(m.Header.Get("Nats-Pending-Messages"))
			if err == nil {
				w.mu.Lock()
				w.owed[m.Subject] = n
				w.mu.Unlock()
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	w.subs = append(w.subs, sub)
	for _, s := range w.subs {
		_ = s.SetPendingLimits(-1, -1)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, s := range w.subs {
			_ = s.Unsubscribe()
		}
	})
	return w
}

func inboxProcess(inbox string) string {
	rest, ok := strings.CutPrefix(inbox, "_INBOX.")
	if !ok || len(rest) < nuidPrefixLen {
		return ""
	}
	return rest[:nuidPrefixLen]
}

// pullers returns the processes seen sending pull requests.
func (w *deliveryWatch) pullers() map[string]bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[string]bool{}
	for _, r := range w.requests {
		out[r.process] = true
	}
	return out
}

// newPuller waits for a process not in known to send a pull request and
// returns its prefix: the collector that was just started.
func (w *deliveryWatch) newPuller(t *testing.T, name string, known ...string) string {
	t.Helper()
	var found string
	eventually(t, name+" to send pull requests", func() (bool, string) {
		seen := w.pullers()
		for _, k := range known {
			delete(seen, k)
		}
		for p := range seen {
			found = p
			return true, ""
		}
		return false, fmt.Sprintf("pullers seen: %v", w.pullers())
	})
	return found
}

// split returns the messages each process received, counting a request
// that has not (yet) expired as filled, and the deliveries counted directly.
func (w *deliveryWatch) split() (byProcess map[string]int, deliveries, redelivered int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	byProcess = map[string]int{}
	for inbox, r := range w.requests {
		byProcess[r.process] += r.batch - w.owed[inbox]
	}
	return byProcess, w.deliveries, w.redelivered
}
