package agenttest

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	bolt "go.etcd.io/bbolt"

	"github.com/fleetproof/fleetproof/collector/internal/auth"
	"github.com/fleetproof/fleetproof/collector/internal/chtest"
	"github.com/fleetproof/fleetproof/collector/internal/config"
	"github.com/fleetproof/fleetproof/collector/internal/ingest"
	"github.com/fleetproof/fleetproof/collector/internal/serve"
	"github.com/fleetproof/fleetproof/evidence"
)

func TestMain(m *testing.M) { chtest.Main(m) }

const secret = "agenttest-enroll-secret"

// buildAgent compiles the agent the way it ships (static, stripped,
// trimmed paths) into a temp dir of t. The build cache makes every build
// after the first a link only.
func buildAgent(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "fleetproof-agent")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "github.com/fleetproof/fleetproof/agent")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the agent: %v\n%s", err, out)
	}
	return bin
}

// freeAddr returns a loopback address nobody listens on right now, for a
// port that must stay the same across collector restarts.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// syncBuffer collects output from a process or logger safely.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string { b.mu.Lock(); defer b.mu.Unlock(); return b.b.String() }

// collectorConfig is a collector on fixed free loopback ports with its own
// data dir, so a test can stop it and start it again on the same state:
// the agent's saved enrollment names the NATS URL, and its -server-url
// must stay the same for it not to re-enroll.
func collectorConfig(t testing.TB, dsn string) config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.HTTPListen = freeAddr(t)
	cfg.NATSListen = freeAddr(t)
	cfg.EnrollSecrets = []string{secret}
	cfg.ClickHouseDSN = dsn
	cfg.RevocationPoll = time.Second
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// collector is serve.Run in this process.
type collector struct {
	t      testing.TB
	cfg    config.Config
	Info   serve.Info
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

func startCollector(t testing.TB, cfg config.Config) *collector {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c := &collector{t: t, cfg: cfg, cancel: cancel, done: make(chan error, 1)}
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ready := make(chan serve.Info, 1)
	go func() { c.done <- serve.Run(ctx, cfg, log, func(i serve.Info) { ready <- i }) }()
	t.Cleanup(func() {
		c.Stop()
		if t.Failed() {
			t.Logf("collector log (%s):\n%s", cfg.DataDir, tail(logs.String(), 40))
		}
	})
	select {
	case c.Info = <-ready:
		return c
	case err := <-c.done:
		c.done <- err
		t.Fatalf("collector did not start: %v\n%s", err, logs.String())
	case <-time.After(60 * time.Second):
		t.Fatal("collector did not become ready")
	}
	return nil
}

// Stop stops the collector and waits for it; later calls do nothing.
func (c *collector) Stop() {
	c.once.Do(func() {
		c.cancel()
		if err := <-c.done; err != nil {
			c.t.Errorf("collector stopped with %v", err)
		}
	})
}

func tail(s string, lines int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}

// agentEnv is the environment minus FLEETPROOF_* variables, so nothing of
// the machine running the tests leaks into the agent's configuration.
func agentEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FLEETPROOF_") {
			out = append(out, kv)
		}
	}
	return out
}

// agent is one device: a binary, a state dir and the collector it talks to.
type agent struct {
	bin, state, serverURL string
}

func (a agent) onceArgs() []string {
	return []string{"run", "--once", "-server-url", a.serverURL, "-enroll-secret", secret, "-state-dir", a.state, "-log-level", "debug"}
}

func (a agent) spoolPath() string { return filepath.Join(a.state, "spool.db") }

// proc is a running agent process.
type proc struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	done   chan struct{}
	err    error
}

func startProc(t testing.TB, bin string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, args...), stderr: &syncBuffer{}, done: make(chan struct{})}
	p.cmd.Env = env
	if p.cmd.Env == nil {
		p.cmd.Env = agentEnv()
	}
	p.cmd.Stdout = p.stderr
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.exited() {
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) signal(sig syscall.Signal) { _ = p.cmd.Process.Signal(sig) }

// wait waits for the process to exit, killing it after timeout.
func (p *proc) wait(t testing.TB, timeout time.Duration) error {
	t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("agent %v did not exit within %s\n%s", p.cmd.Args[1:], timeout, p.stderr.String())
		return nil
	}
}

// runOnce runs `run --once` to the end and requires it to succeed.
func runOnce(t testing.TB, a agent) string {
	t.Helper()
	p := startProc(t, a.bin, nil, a.onceArgs()...)
	if err := p.wait(t, 90*time.Second); err != nil {
		t.Fatalf("agent run --once: %v\n%s", err, p.stderr.String())
	}
	return p.stderr.String()
}

// resultID is what makes a result one observation: the results table's
// key within one device.
type resultID struct {
	check string
	sec   int64
	ns    int
}

func idOf(r evidence.Result) resultID {
	return resultID{r.CheckID, r.ObservedAt.Unix(), r.ObservedAt.Nanosecond()}
}

// spoolView is what an agent's spool file holds.
type spoolView struct {
	Appended  uint64 // results ever appended (the pending bucket's sequence)
	Sealed    uint64 // envelopes ever sealed (the outbox's sequence)
	Pending   int    // results not sealed
	Envelopes int    // sealed envelopes not acknowledged
	Results   int    // results held: pending plus those in envelopes
	Dropped   uint64 // results the spool dropped over its lifetime
	IDs       map[resultID]bool
}

// Bucket and key names of agent/internal/spool's file.
var (
	bucketPending = []byte("pending")
	bucketOutbox  = []byte("outbox")
	bucketMeta    = []byte("meta")
	keyDropped    = []byte("dropped")
)

// readSpool opens the agent's spool file read-only, after bbolt's
// consistency check of the whole file. The agent must not be running (it
// holds the file lock) unless path is a copy.
func readSpool(path string) (v spoolView, err error) {
	defer func() {
		// A torn copy of a live file can make bbolt panic; the caller retries.
		if r := recover(); r != nil {
			err = fmt.Errorf("read spool %s: %v", path, r)
		}
	}()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 2 * time.Second})
	if err != nil {
		return v, fmt.Errorf("read spool: %w", err)
	}
	defer db.Close()
	v.IDs = map[resultID]bool{}
	err = db.View(func(tx *bolt.Tx) error {
		var first error
		for err := range tx.Check() { // drain: the checker blocks on send
			if first == nil {
				first = err
			}
		}
		if first != nil {
			return fmt.Errorf("bbolt consistency check: %w", first)
		}
		p, ob, meta := tx.Bucket(bucketPending), tx.Bucket(bucketOutbox), tx.Bucket(bucketMeta)
		if p == nil || ob == nil || meta == nil {
			return errors.New("spool buckets missing")
		}
		v.Appended, v.Sealed = p.Sequence(), ob.Sequence()
		if d := meta.Get(keyDropped); len(d) == 8 {
			v.Dropped = binary.BigEndian.Uint64(d)
		}
		err := p.ForEach(func(k, val []byte) error {
			var r evidence.Result
			if err := json.Unmarshal(val, &r); err != nil {
				return fmt.Errorf("pending %x: %w", k, err)
			}
			v.IDs[idOf(r)] = true
			v.Pending++
			return nil
		})
		if err != nil {
			return err
		}
		return ob.ForEach(func(k, val []byte) error {
			n, body, err := decodeOutbox(val)
			if err != nil {
				return fmt.Errorf("outbox %x: %w", k, err)
			}
			var env evidence.Envelope
			if err := json.Unmarshal(body, &env); err != nil {
				return fmt.Errorf("outbox %x: %w", k, err)
			}
			if len(env.Results) != n {
				return fmt.Errorf("outbox %x: header says %d results, envelope has %d", k, n, len(env.Results))
			}
			for _, r := range env.Results {
				v.IDs[idOf(r)] = true
			}
			v.Envelopes++
			v.Results += n
			return nil
		})
	})
	v.Results += v.Pending
	if err != nil {
		return v, fmt.Errorf("read spool %s: %w", path, err)
	}
	return v, nil
}

// decodeOutbox splits a stored envelope: version 1, results uint32,
// subject and msg id as uint16 length + bytes, then the envelope JSON.
func decodeOutbox(v []byte) (results int, body []byte, err error) {
	bad := errors.New("unreadable outbox record")
	if len(v) < 5 || v[0] != 1 {
		return 0, nil, bad
	}
	results = int(binary.BigEndian.Uint32(v[1:5]))
	rest := v[5:]
	for range 2 {
		if len(rest) < 2 || len(rest) < 2+int(binary.BigEndian.Uint16(rest)) {
			return 0, nil, bad
		}
		rest = rest[2+int(binary.BigEndian.Uint16(rest)):]
	}
	return results, rest, nil
}

// mustReadSpool reads the spool of an agent that is not running.
func mustReadSpool(t testing.TB, a agent) spoolView {
	t.Helper()
	v, err := readSpool(a.spoolPath())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// peekSpool reads a copy of a spool a running agent holds locked. A copy
// torn mid-commit can do worse than fail to read: its pages can refer to
// each other in a cycle, and bbolt's check then never returns (a CI run
// hung 14 minutes on one). So the file is read twice and used only when
// both reads are the same bytes, a copy no commit overlapped; otherwise,
// or when it still fails to read, the caller tries again.
func peekSpool(path string) (spoolView, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return spoolView{}, err
	}
	again, err := os.ReadFile(path)
	if err != nil {
		return spoolView{}, err
	}
	if !bytes.Equal(again, b) {
		return spoolView{}, errors.New("peek spool: the file changed while it was read")
	}
	f, err := os.CreateTemp("", "spool-peek-*.db")
	if err != nil {
		return spoolView{}, err
	}
	defer os.Remove(f.Name())
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return spoolView{}, err
	}
	return readSpool(f.Name())
}

// waitSpool polls a running agent's spool until ok holds for it.
func waitSpool(t testing.TB, a agent, p *proc, what string, ok func(spoolView) bool) spoolView {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if v, err := peekSpool(a.spoolPath()); err == nil && ok(v) {
			return v
		}
		if p.exited() {
			t.Fatalf("agent exited (%v) before %s\n%s", p.err, what, p.stderr.String())
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s\n%s", what, p.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// injectBacklog appends results to a stopped agent's spool exactly as
// spool.Append stores them, to stand in for a long outage.
func injectBacklog(t testing.TB, a agent, rs []evidence.Result) {
	t.Helper()
	db, err := bolt.Open(a.spoolPath(), 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		p := tx.Bucket(bucketPending)
		for _, r := range rs {
			v, err := json.Marshal(r)
			if err != nil {
				return err
			}
			id, err := p.NextSequence()
			if err != nil {
				return err
			}
			if err := p.Put(binary.BigEndian.AppendUint64(nil, id), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// chCounts returns the logical (FINAL) and physical row counts of results.
func chCounts(t testing.TB, conn driver.Conn) (logical, physical uint64) {
	t.Helper()
	if err := conn.QueryRow(context.Background(), "SELECT count() FROM results FINAL").Scan(&logical); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(context.Background(), "SELECT count() FROM results").Scan(&physical); err != nil {
		t.Fatal(err)
	}
	return logical, physical
}

// waitLogical waits until ClickHouse holds want results (FINAL), and fails
// if it holds more.
func waitLogical(t testing.TB, conn driver.Conn, want uint64, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		logical, _ := chCounts(t, conn)
		if logical == want {
			return
		}
		if logical > want {
			t.Fatalf("ClickHouse holds %d results, more than the %d the agent ever had", logical, want)
		}
		if time.Now().After(deadline) {
			t.Fatalf("ClickHouse holds %d results after %s, want %d", logical, timeout, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ingested sums the results the collectors' ingesters inserted, once it
// reaches want or after a few seconds: an ingester counts a batch only
// after acknowledging it, a moment after ClickHouse shows its rows.
func ingested(want uint64, cs ...*collector) uint64 {
	deadline := time.Now().Add(5 * time.Second)
	for {
		var n uint64
		for _, c := range cs {
			n += c.Info.Ingester.Stats().Results
		}
		if n >= want || time.Now().After(deadline) {
			return n
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stopIdle stops a collector once its ingester has counted all the results
// it must ingest: ClickHouse shows a batch's rows before the ingester has
// stored the rest of the envelope and acknowledged it, and a stop in that
// window cancels the batch, which JetStream then redelivers to the next
// collector (as duplicates of the rows already stored, after AckWait).
func stopIdle(t testing.TB, c *collector, results uint64) {
	t.Helper()
	if got := ingested(results, c); got != results {
		t.Fatalf("collector ingested %d results, want %d", got, results)
	}
	c.Stop()
}

// chIDs returns how often each result is stored, after FINAL.
func chIDs(t testing.TB, conn driver.Conn) map[resultID]int {
	t.Helper()
	rows, err := conn.Query(context.Background(), "SELECT check_id, toUInt32(observed_at), observed_ns FROM results FINAL")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[resultID]int{}
	for rows.Next() {
		var check string
		var sec, ns uint32
		if err := rows.Scan(&check, &sec, &ns); err != nil {
			t.Fatal(err)
		}
		out[resultID{check, int64(sec), int(ns)}]++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// streamWatcher reads the evidence stream's state through the embedded
// server, with a service user of the collector's own NATS authority.
type streamWatcher struct {
	stream jetstream.Stream
}

func watchStream(t testing.TB, c *collector) *streamWatcher {
	t.Helper()
	a, err := auth.LoadOrCreate(filepath.Join(c.cfg.DataDir, "auth"))
	if err != nil {
		t.Fatal(err)
	}
	tok, seed, err := a.ServiceUser("agenttest")
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(c.Info.NATSURL, nats.UserJWTAndSeed(tok, string(seed)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(context.Background(), ingest.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	return &streamWatcher{stream: s}
}

// msgs is how many envelopes the evidence stream has stored.
func (w *streamWatcher) msgs(t testing.TB) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	info, err := w.stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// localResults runs the agent's checks once locally, without delivering.
func localResults(t testing.TB, bin string) []evidence.Result {
	t.Helper()
	cmd := exec.Command(bin, "run-checks", "--json")
	cmd.Env = agentEnv()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, io.Discard
	if err := cmd.Run(); err != nil {
		t.Fatalf("run-checks: %v", err)
	}
	var rs []evidence.Result
	if err := json.Unmarshal(out.Bytes(), &rs); err != nil {
		t.Fatalf("run-checks --json: %v\n%s", err, out.String())
	}
	if len(rs) == 0 {
		t.Fatal("no checks run on this machine")
	}
	return rs
}
