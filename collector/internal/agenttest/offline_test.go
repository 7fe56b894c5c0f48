package agenttest

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fleetproof/fleetproof/collector/internal/chtest"
	"github.com/fleetproof/fleetproof/collector/internal/serve"
)

// TestOfflineManyCyclesThenReconnect: an enrolled agent runs its checks
// cycle after cycle while the collector is down, each `run --once` giving
// up with its results still spooled; when a collector comes back on the
// same data dir and ports, one more run delivers every result of every
// cycle, each exactly once.
func TestOfflineManyCyclesThenReconnect(t *testing.T) {
	t.Parallel()
	const cycles = 10
	dsn := chtest.Database(t)
	conn := chtest.Open(t, dsn)
	bin := buildAgent(t)
	cfg := collectorConfig(t, dsn)
	c1 := startCollector(t, cfg)
	a := agent{bin: bin, state: t.TempDir(), serverURL: c1.Info.HTTPURL}

	// Enroll (and deliver a first cycle) while the collector is up.
	runOnce(t, a)
	v := mustReadSpool(t, a)
	n := int(v.Appended)
	if n == 0 || v.Results != 0 || v.Dropped != 0 {
		t.Fatalf("after the first run the spool is %+v; want results appended, all delivered, none dropped", v)
	}
	waitLogical(t, conn, uint64(n), 30*time.Second)
	stopIdle(t, c1, uint64(n))
	t.Logf("%d checks per cycle", n)

	// Offline: every cycle adds exactly one result per check to the spool.
	// run --once would retry delivery for its built-in 2 minutes, so each
	// is stopped (SIGTERM, as a service manager or a shutdown would) once
	// its results are durably spooled.
	cycleIDs := make([]map[resultID]bool, cycles)
	for i := range cycles {
		before := v
		p := startProc(t, bin, nil, a.onceArgs()...)
		waitSpool(t, a, p, "the cycle's results in the spool", func(s spoolView) bool {
			return s.Appended >= before.Appended+uint64(n)
		})
		p.signal(syscall.SIGTERM)
		err := p.wait(t, 30*time.Second)
		if err == nil {
			t.Fatalf("offline cycle %d exited 0\n%s", i+1, p.stderr.String())
		}
		if !strings.Contains(p.stderr.String(), "stay spooled") {
			t.Errorf("offline cycle %d does not say its results stay spooled:\n%s", i+1, p.stderr.String())
		}
		v = mustReadSpool(t, a)
		if v.Appended != before.Appended+uint64(n) || v.Results != (i+1)*n || v.Dropped != 0 {
			t.Fatalf("after offline cycle %d the spool holds %d results (%d appended, %d dropped); want %d (%d appended, none dropped)",
				i+1, v.Results, v.Appended, v.Dropped, (i+1)*n, before.Appended+uint64(n))
		}
		cycleIDs[i] = map[resultID]bool{}
		for id := range v.IDs {
			if !before.IDs[id] {
				cycleIDs[i][id] = true
			}
		}
		if len(cycleIDs[i]) != n {
			t.Fatalf("offline cycle %d added %d distinct results, want %d", i+1, len(cycleIDs[i]), n)
		}
	}
	t.Logf("offline: %d cycles, spool holds %d results in %d pending + %d sealed envelope(s)", cycles, v.Results, v.Pending, v.Envelopes)

	// Back: same data dir (keys, JetStream state), same ports.
	c2 := startCollector(t, cfg)
	if c2.Info.NATSURL != c1.Info.NATSURL || c2.Info.HTTPURL != c1.Info.HTTPURL {
		t.Fatalf("restarted collector is at %s / %s, was at %s / %s", c2.Info.HTTPURL, c2.Info.NATSURL, c1.Info.HTTPURL, c1.Info.NATSURL)
	}
	if st, err := serve.ReadState(cfg.DataDir); err != nil || st.NATSURL != c1.Info.NATSURL || st.PID == 0 {
		t.Errorf("collector.json after the restart: %+v, %v", st, err)
	}
	// The agent refreshes its enrollment at start (the collector may have
	// moved); while the collector was down it fell back to the saved one.
	out := runOnce(t, a)
	if !strings.Contains(out, "msg=enrolled") {
		t.Errorf("the agent did not refresh its enrollment on reconnecting:\n%s", out)
	}
	final := mustReadSpool(t, a)
	if final.Results != 0 || final.Dropped != 0 {
		t.Fatalf("after reconnecting the spool still holds %d results (%d dropped)", final.Results, final.Dropped)
	}
	total := final.Appended
	if want := uint64((cycles + 2) * n); total != want {
		t.Fatalf("the spool saw %d results, want %d (%d cycles + 2 online runs of %d)", total, want, cycles, n)
	}
	waitLogical(t, conn, total, 60*time.Second)

	stored := chIDs(t, conn)
	for i, ids := range cycleIDs {
		for id := range ids {
			if stored[id] != 1 {
				t.Errorf("offline cycle %d: %s observed at %d.%09d stored %d times (FINAL)", i+1, id.check, id.sec, id.ns, stored[id])
			}
		}
	}
	logical, physical := chCounts(t, conn)
	inserted := ingested(total, c1, c2)
	t.Logf("ClickHouse: %d results (FINAL), %d rows physically; collectors inserted %d", logical, physical, inserted)
	if logical != total || physical != total || inserted != total {
		t.Errorf("want exactly %d everywhere: logical %d, physical %d, inserted %d", total, logical, physical, inserted)
	}
	if d := c1.Info.Ingester.Stats().DeadLetters + c2.Info.Ingester.Stats().DeadLetters; d != 0 {
		t.Errorf("%d envelopes dead-lettered", d)
	}
}
