package agenttest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fleetproof/fleetproof/collector/internal/chtest"
)

// memStatus reads the memory lines of /proc/<pid>/status (VmRSS, VmHWM =
// peak RSS, RssAnon, RssFile, ...) in KiB.
func memStatus(pid int) (map[string]int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		v = strings.TrimSpace(v)
		if !ok || !strings.HasSuffix(v, " kB") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(v, " kB"), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: %q: %w", k, v, err)
		}
		out[k] = kb
	}
	return out, sc.Err()
}

func mib(kb int64) string { return fmt.Sprintf("%.1f MiB", float64(kb)/1024) }

// footprint is what one agent process cost.
type footprint struct {
	firstCycle      time.Duration // start until every check was in ClickHouse
	cpu             time.Duration // process CPU time, first cycle plus idle
	idle            []int64       // VmRSS samples while idle, KiB
	hwm, anon, file int64         // VmHWM, RssAnon and RssFile at the end, KiB
	threads         int
}

func (f footprint) String() string {
	s := slices.Clone(f.idle)
	slices.Sort(s)
	return fmt.Sprintf("idle RSS median %s (min %s, max %s), peak (VmHWM) %s; idle split: anonymous %s, file-backed %s; %d threads",
		mib(s[len(s)/2]), mib(s[0]), mib(s[len(s)-1]), mib(f.hwm), mib(f.anon), mib(f.file), f.threads)
}

// measureFootprint runs `fleetproof-agent run` (the service's long-running
// mode) against its own collector until it delivered every check once,
// then samples its memory for 5 s of idleness (the next check is an
// interval away) and stops it.
func measureFootprint(t *testing.T, bin string, env ...string) footprint {
	t.Helper()
	dsn := chtest.Database(t)
	conn := chtest.Open(t, dsn)
	c := startCollector(t, collectorConfig(t, dsn))
	n := len(localResults(t, bin))
	state := t.TempDir()
	p := startProc(t, bin, append(agentEnv(), env...), "run", "-server-url", c.Info.HTTPURL, "-enroll-secret", secret, "-state-dir", state,
		"-service-name", fmt.Sprintf("fleetproof-agent-footprint-%d", os.Getpid()))
	pid := p.cmd.Process.Pid
	start := time.Now()
	waitLogical(t, conn, uint64(n), 120*time.Second)
	f := footprint{firstCycle: time.Since(start)}
	if p.exited() {
		t.Fatalf("agent exited: %v\n%s", p.err, p.stderr.String())
	}
	var last map[string]int64
	for range 20 {
		time.Sleep(250 * time.Millisecond)
		m, err := memStatus(pid)
		if err != nil {
			t.Fatal(err)
		}
		f.idle = append(f.idle, m["VmRSS"])
		last = m
	}
	f.hwm, f.anon, f.file = last["VmHWM"], last["RssAnon"], last["RssFile"]
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		// utime and stime, fields 14 and 15, in clock ticks (100 Hz on Linux).
		if fs := strings.Fields(string(b)[strings.LastIndexByte(string(b), ')')+2:]); len(fs) > 13 {
			ut, _ := strconv.ParseInt(fs[11], 10, 64)
			st, _ := strconv.ParseInt(fs[12], 10, 64)
			f.cpu = time.Duration(ut+st) * 10 * time.Millisecond
		}
	}
	f.threads = threads(pid)
	p.signal(syscall.SIGTERM)
	if err := p.wait(t, 30*time.Second); err != nil {
		t.Errorf("agent did not stop cleanly: %v\n%s", err, p.stderr.String())
	}
	return f
}

// TestAgentFootprint measures what the agent costs a device: the size of
// the shipped binary, and the memory of `fleetproof-agent run` while idle
// after it delivered every check once. It logs the figures and asserts
// nothing about them. File-backed pages are the binary's code and
// read-only data (clean, shared, evictable); anonymous ones are the Go
// heap, stacks and runtime.
func TestAgentFootprint(t *testing.T) {
	if testing.Short() {
		t.Skip("waits up to a minute for the scheduler's first cycle")
	}
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	t.Parallel()
	bin := buildAgent(t)
	fi, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	f := measureFootprint(t, bin)
	t.Logf("binary (CGO_ENABLED=0, -trimpath -ldflags \"-s -w\"): %d bytes (%.1f MiB)", fi.Size(), float64(fi.Size())/(1<<20))
	t.Logf("first cycle: every check in ClickHouse %s after start; process CPU time so far (incl. 5 s idle) %s",
		f.firstCycle.Round(100*time.Millisecond), f.cpu)
	t.Logf("%s", f)
}

// TestAgentFootprintVariants compares the idle memory of the agent under
// runtime settings that need no code change (GOGC, GOMEMLIMIT) and with
// debug.FreeOSMemory called periodically, built into a copy of the agent
// through a build overlay (testdata/lowmem.go). Opt-in, it takes a
// minute: AGENTTEST_FOOTPRINT_VARIANTS=1.
func TestAgentFootprintVariants(t *testing.T) {
	if os.Getenv("AGENTTEST_FOOTPRINT_VARIANTS") == "" {
		t.Skip("set AGENTTEST_FOOTPRINT_VARIANTS=1 to compare memory settings")
	}
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	bin := buildAgent(t)
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	lowmem, err := filepath.Abs("testdata/lowmem.go")
	if err != nil {
		t.Fatal(err)
	}
	overlay := filepath.Join(t.TempDir(), "overlay.json")
	ov, _ := json.Marshal(map[string]map[string]string{"Replace": {filepath.Join(root, "agent", "zz_agenttest_lowmem.go"): lowmem}})
	if err := os.WriteFile(overlay, ov, 0o600); err != nil {
		t.Fatal(err)
	}
	freeBin := filepath.Join(t.TempDir(), "fleetproof-agent-freeosmemory")
	cmd := exec.Command("go", "build", "-overlay", overlay, "-trimpath", "-ldflags", "-s -w", "-o", freeBin, "github.com/fleetproof/fleetproof/agent")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the agent with %s: %v\n%s", lowmem, err, out)
	}
	variants := []struct {
		name string
		bin  string
		env  []string
	}{
		{"baseline", bin, nil},
		{"GOGC=20", bin, []string{"GOGC=20"}},
		{"GOMEMLIMIT=8MiB", bin, []string{"GOMEMLIMIT=8MiB"}},
		{"FreeOSMemory every 2s", freeBin, []string{"AGENTTEST_FREE_OS_MEMORY=1"}},
		{"FreeOSMemory + GOMEMLIMIT=8MiB", freeBin, []string{"AGENTTEST_FREE_OS_MEMORY=1", "GOMEMLIMIT=8MiB"}},
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			t.Logf("%s: %s", v.name, measureFootprint(t, v.bin, v.env...))
		})
	}
}

func threads(pid int) int {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Threads:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return 0
}
