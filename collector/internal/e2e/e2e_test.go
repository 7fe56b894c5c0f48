package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/fleetproof/fleetproof/collector/internal/chtest"
	"github.com/fleetproof/fleetproof/collector/internal/cli"
	"github.com/fleetproof/fleetproof/collector/internal/config"
	"github.com/fleetproof/fleetproof/collector/internal/posture"
	"github.com/fleetproof/fleetproof/collector/internal/serve"
	"github.com/fleetproof/fleetproof/evidence"
)

func TestMain(m *testing.M) { chtest.Main(m) }

const secret = "e2e-enroll-secret"

// buildAgent compiles the real agent binary once for this test.
func buildAgent(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "fleetproof-agent")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/fleetproof/fleetproof/agent")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the agent: %v\n%s", err, out)
	}
	return bin
}

type collectorConfig = config.Config

func startCollector(t *testing.T, dsn string) serve.Info {
	t.Helper()
	return startCollectorWith(t, func(c *config.Config) { c.ClickHouseDSN = dsn })
}

// startCollectorWith runs serve in-process on loopback ports with a fresh
// database unless edit sets one, and stops it at cleanup.
func startCollectorWith(t *testing.T, edit func(*config.Config)) serve.Info {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.HTTPListen = "127.0.0.1:0"
	cfg.NATSListen = "127.0.0.1:0"
	cfg.EnrollSecrets = []string{secret}
	cfg.RevocationPoll = 100 * time.Millisecond
	edit(&cfg)
	if cfg.ClickHouseDSN == "" {
		cfg.ClickHouseDSN = chtest.Database(t)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan serve.Info, 1)
	done := make(chan error, 1)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	go func() { done <- serve.Run(ctx, cfg, log, func(i serve.Info) { ready <- i }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("collector stopped with %v", err)
		}
	})
	select {
	case info := <-ready:
		return info
	case err := <-done:
		t.Fatalf("collector did not start: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("collector did not become ready")
	}
	return serve.Info{}
}

func runAgent(t *testing.T, bin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "FLEETPROOF_CONFIG=/nonexistent-on-purpose.yaml")
	// An empty config path means "the default file if it exists"; point the
	// agent at no file so the machine's /etc does not leak into the test.
	cmd.Env = filterEnv(cmd.Env, "FLEETPROOF_CONFIG")
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

func filterEnv(env []string, drop string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, drop+"=") {
			out = append(out, kv)
		}
	}
	return out
}

type storedResult struct {
	Device, Check, Status, Rows, Engine, Pack string
}

func stored(t *testing.T, dsn string) []storedResult {
	t.Helper()
	conn := chtest.Open(t, dsn)
	rows, err := conn.Query(context.Background(), `SELECT device_id, check_id, toString(status), rows, engine, pack
		FROM results FINAL ORDER BY observed_at, check_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []storedResult
	for rows.Next() {
		var r storedResult
		if err := rows.Scan(&r.Device, &r.Check, &r.Status, &r.Rows, &r.Engine, &r.Pack); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func waitResults(t *testing.T, info serve.Info, n uint64) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for info.Ingester.Stats().Results < n {
		select {
		case <-info.Ingester.Progress():
		case <-deadline:
			t.Fatalf("collector stored %d results, want %d", info.Ingester.Stats().Results, n)
		}
	}
}

func TestAgentToPostureEndToEnd(t *testing.T) {
	dsn := chtest.Database(t)
	bin := buildAgent(t)
	info := startCollector(t, dsn)
	state := t.TempDir()

	// What the agent sees on this machine, run locally.
	out, errOut, err := runAgent(t, bin, "run-checks", "--json")
	if err != nil {
		t.Fatalf("run-checks: %v\n%s", err, errOut)
	}
	var local []evidence.Result
	if err := json.Unmarshal([]byte(out), &local); err != nil {
		t.Fatalf("run-checks --json output: %v\n%s", err, out)
	}
	if len(local) < 3 {
		t.Fatalf("only %d checks ran locally", len(local))
	}

	// The same checks delivered through NATS into ClickHouse.
	_, errOut, err = runAgent(t, bin, "run", "--once", "-server-url", info.HTTPURL, "-enroll-secret", secret, "-state-dir", state)
	if err != nil {
		t.Fatalf("agent run --once: %v\n%s", err, errOut)
	}
	waitResults(t, info, uint64(len(local)))
	idBytes, err := os.ReadFile(filepath.Join(state, "device_id"))
	if err != nil {
		t.Fatal(err)
	}
	device := strings.TrimSpace(string(idBytes))

	got := stored(t, dsn)
	if len(got) != len(local) {
		t.Fatalf("stored %d results, the agent ran %d", len(got), len(local))
	}
	sort.Slice(local, func(i, j int) bool { return local[i].CheckID < local[j].CheckID })
	for i, want := range local {
		rows, _ := json.Marshal(want.Rows)
		if want.Rows == nil {
			rows = []byte("[]")
		}
		w := storedResult{Device: device, Check: want.CheckID, Status: string(want.Status), Rows: string(rows), Engine: "builtin", Pack: "fleetproof-core"}
		if got[i] != w {
			t.Errorf("stored row %d:\n got %+v\nwant %+v", i, got[i], w)
		}
	}

	// Posture reads back the same statuses, one entry per check.
	var stdout, stderr bytes.Buffer
	if code := cli.Run(context.Background(), []string{"posture", "-clickhouse-dsn", dsn, "-format", "json"}, &stdout, &stderr); code != 0 {
		t.Fatalf("posture exited %d: %s", code, stderr.String())
	}
	var rep posture.Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("posture json: %v\n%s", err, stdout.String())
	}
	if len(rep.Entries) != len(local) {
		t.Fatalf("posture has %d entries, want %d: %+v", len(rep.Entries), len(local), rep.Entries)
	}
	for i, e := range rep.Entries {
		if e.DeviceID != device || e.CheckID != local[i].CheckID || e.Status != string(local[i].Status) {
			t.Errorf("posture entry %d = %s/%s/%s, want %s/%s/%s", i, e.DeviceID, e.CheckID, e.Status, device, local[i].CheckID, local[i].Status)
		}
	}
	for _, s := range rep.Summary {
		if s.Devices != 1 || s.Pass+s.Fail+s.Error+s.NotApplicable != 1 || s.Unknown != 0 {
			t.Errorf("summary %+v: want the one device counted once, not unknown", s)
		}
	}

	// A second run re-uses the enrollment and adds a second observation of
	// every check; nothing is double counted.
	if _, errOut, err := runAgent(t, bin, "run", "--once", "-server-url", info.HTTPURL, "-enroll-secret", secret, "-state-dir", state); err != nil {
		t.Fatalf("second run: %v\n%s", err, errOut)
	}
	waitResults(t, info, uint64(2*len(local)))
	if n := len(stored(t, dsn)); n != 2*len(local) {
		t.Errorf("after two runs %d results are stored, want %d", n, 2*len(local))
	}
	if s := info.Ingester.Stats(); s.DeadLetters != 0 {
		t.Errorf("%d envelopes were dead-lettered", s.DeadLetters)
	}

	// Operators see the same through /metrics and /readyz.
	metrics := httpGet(t, info.HTTPURL+"/metrics")
	for _, want := range []string{
		fmt.Sprintf("fleetproof_collector_results_ingested_total %d", 2*len(local)),
		"fleetproof_collector_envelopes_ingested_total 2",
		`fleetproof_collector_enrollments_total{outcome="enrolled"} 1`,
		"fleetproof_collector_insert_seconds_count 2",
		"process_resident_memory_bytes",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if got := httpGet(t, info.HTTPURL+"/readyz"); strings.TrimSpace(got) != "ready" {
		t.Errorf("/readyz = %q", got)
	}
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", url, resp.Status, b)
	}
	return string(b)
}

func TestAgentWithWrongSecretIsRefusedAndKeepsItsResults(t *testing.T) {
	dsn := chtest.Database(t)
	bin := buildAgent(t)
	info := startCollector(t, dsn)
	state := t.TempDir()
	_, errOut, err := runAgent(t, bin, "run", "--once", "-server-url", info.HTTPURL, "-enroll-secret", "wrong", "-state-dir", state)
	if err == nil {
		t.Fatal("agent with a wrong secret exited 0")
	}
	if !strings.Contains(errOut, "enroll secret not accepted") {
		t.Errorf("stderr does not say why: %s", errOut)
	}
	// The results were spooled before enrolling, so the next run with the
	// right secret delivers them rather than losing them.
	_, errOut, err = runAgent(t, bin, "run", "--once", "-server-url", info.HTTPURL, "-enroll-secret", secret, "-state-dir", state)
	if err != nil {
		t.Fatalf("retry with the right secret: %v\n%s", err, errOut)
	}
	out, _, _ := runAgent(t, bin, "run-checks", "--json")
	var local []evidence.Result
	json.Unmarshal([]byte(out), &local)
	waitResults(t, info, uint64(2*len(local)))
	if n := len(stored(t, dsn)); n != 2*len(local) {
		t.Errorf("stored %d results, want both runs' %d", n, 2*len(local))
	}
}

func TestRevokedDeviceIsCutOffAndCannotReEnroll(t *testing.T) {
	dsn := chtest.Database(t)
	bin := buildAgent(t)
	info := startCollector(t, dsn)
	state := t.TempDir()
	if _, errOut, err := runAgent(t, bin, "run", "--once", "-server-url", info.HTTPURL, "-enroll-secret", secret, "-state-dir", state); err != nil {
		t.Fatalf("agent run: %v\n%s", err, errOut)
	}
	idBytes, _ := os.ReadFile(filepath.Join(state, "device_id"))
	device := strings.TrimSpace(string(idBytes))
	var st struct {
		Response evidence.EnrollResponse `json:"response"`
	}
	b, _ := os.ReadFile(filepath.Join(state, "enrollment.json"))
	if err := json.Unmarshal(b, &st); err != nil || st.Response.UserJWT == "" {
		t.Fatalf("enrollment state has no NATS credentials: %v %s", err, b)
	}
	seed, _ := os.ReadFile(filepath.Join(state, "device.nk"))
	connect := func() error {
		nc, err := nats.Connect(info.NATSURL, nats.UserJWTAndSeed(st.Response.UserJWT, strings.TrimSpace(string(seed))), nats.NoReconnect())
		if err == nil {
			nc.Close()
		}
		return err
	}
	if err := connect(); err != nil {
		t.Fatalf("the device's own credentials do not work: %v", err)
	}

	var out, errOut bytes.Buffer
	if code := cli.Run(context.Background(), []string{"revoke", "-clickhouse-dsn", dsn, "-device", device, "-reason", "laptop stolen", "-by", "it@example.com"}, &out, &errOut); code != 0 {
		t.Fatalf("revoke exited %d: %s", code, errOut.String())
	}
	deadline := time.Now().Add(30 * time.Second)
	for connect() == nil {
		if time.Now().After(deadline) {
			t.Fatal("the revoked device can still connect")
		}
		time.Sleep(50 * time.Millisecond) // polling the server: there is no event to await from outside
	}
	os.Remove(filepath.Join(state, "enrollment.json"))
	_, stderr, err := runAgent(t, bin, "run", "--once", "-server-url", info.HTTPURL, "-enroll-secret", secret, "-state-dir", state)
	if err == nil || !strings.Contains(stderr, "revoked") {
		t.Fatalf("re-enrollment of a revoked device: err %v, stderr %s", err, stderr)
	}
}
