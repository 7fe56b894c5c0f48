package scaleout_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/fleetproof/fleetproof/collector/internal/chserver"
	"github.com/fleetproof/fleetproof/collector/internal/chtest"
	"github.com/fleetproof/fleetproof/collector/internal/ingest"
	"github.com/fleetproof/fleetproof/collector/internal/serve"
)

func TestMain(m *testing.M) { chtest.Main(m) }

// TestCollectorsSurviveFailuresAndScaleOut builds the collector once and
// runs each scenario against real processes. (Subtests rather than separate
// tests so the binary lives in a temp dir the test framework removes:
// chtest.Main exits the process, leaving no place for package cleanup.)
func TestCollectorsSurviveFailuresAndScaleOut(t *testing.T) {
	if testing.Short() {
		t.Skip("runs collector processes, NATS and ClickHouse")
	}
	chtest.Server(t) // skips or fails consistently when ClickHouse is missing
	began := time.Now()
	bin := buildCollector(t, t.TempDir())
	t.Logf("built %s in %s", filepath.Base(bin), time.Since(began).Round(time.Millisecond))

	t.Run("TwoCollectorsShareOneConsumer", func(t *testing.T) { testTwoCollectorsShareOneConsumer(t, bin) })
	t.Run("KillNineMidBatch", func(t *testing.T) { testKillNineMidBatch(t, bin) })
	t.Run("ClickHouseOutage", func(t *testing.T) { testClickHouseOutage(t, bin) })
	t.Run("NATSRestart", func(t *testing.T) { testNATSRestart(t, bin) })
}

// Two collector processes joined to one external NATS share the durable
// pull consumer: both hold pull requests, both receive part of the stream,
// and ClickHouse holds every result exactly once.
func testTwoCollectorsShareOneConsumer(t *testing.T, bin string) {
	const envelopes, devices = 2000, 50
	r := newRig(t, bin, chtest.Database(t), devices)
	w := watchDeliveries(t, r.nc)

	// Small fetches, so the work is spread over many pull requests.
	a := r.startCollector("collector-a", t.TempDir(), "-ingest-batch", "50")
	pa := w.newPuller(t, "collector-a")
	b := r.startCollector("collector-b", t.TempDir(), "-ingest-batch", "50")
	pb := w.newPuller(t, "collector-b", pa)
	eventually(t, "both collectors to wait on the consumer", func() (bool, string) {
		ci := r.consumer()
		return ci.NumWaiting == 2, "waiting pull requests: " + itoa(ci.NumWaiting)
	})

	start := time.Now()
	want := uint64(r.publish(envelopes))
	r.waitDrained(want)
	took := time.Since(start)

	for _, c := range []*collector{a, b} {
		if c.exited() {
			t.Errorf("%s exited: %v", c.name, c.err)
		}
	}
	// Stopped, the collectors send no new pull requests and the open ones
	// expire within a second, after which the per-process split is final.
	a.shutdown()
	b.shutdown()
	var byProcess map[string]int
	var deliveries, redelivered int
	eventually(t, "every pull request to have ended", func() (bool, string) {
		byProcess, deliveries, redelivered = w.split()
		sum := 0
		for _, n := range byProcess {
			sum += n
		}
		return sum == deliveries, fmt.Sprintf("per process %v (sum %d), deliveries %d", byProcess, sum, deliveries)
	})
	if len(byProcess) != 2 || byProcess[pa] == 0 || byProcess[pb] == 0 {
		t.Errorf("messages received per process %v: want both collectors (%s, %s) to have taken part", byProcess, pa, pb)
	}
	if deliveries != envelopes+redelivered {
		t.Errorf("%d deliveries (%d of them redeliveries) for %d envelopes", deliveries, redelivered, envelopes)
	}
	logical := r.mustCount("SELECT count() FROM results FINAL")
	physical := r.mustCount("SELECT count() FROM results")
	if logical != want || want != envelopes*checksPerEnvelope {
		t.Errorf("results FINAL = %d, want %d", logical, want)
	}
	if n := r.mustCount("SELECT uniqExact(device_id, check_id, observed_at, observed_ns) FROM results"); n != want {
		t.Errorf("distinct natural keys = %d, want %d", n, want)
	}
	if n := r.mustCount("SELECT uniqExact(device_id) FROM results"); n != devices {
		t.Errorf("devices with results = %d, want %d", n, devices)
	}
	if n := r.mustCount("SELECT count() FROM heartbeats FINAL"); n != envelopes {
		t.Errorf("heartbeats FINAL = %d, want %d", n, envelopes)
	}
	if redelivered == 0 && physical != logical {
		t.Errorf("nothing was redelivered, yet results holds %d physical rows for %d logical", physical, logical)
	}
	t.Logf("%d envelopes / %d results from %d devices stored in %s by 2 processes: %s (pid %d) took %d, %s (pid %d) took %d; %d redelivered; physical rows %d, logical %d",
		envelopes, want, devices, took.Round(time.Millisecond), a.name, a.pid(), byProcess[pa], b.name, b.pid(), byProcess[pb],
		redelivered, physical, logical)
}

// A collector killed with SIGKILL while working through a backlog loses
// nothing: its replacement on the same data dir gets what was left and what
// the dead one had fetched but not acknowledged; rows it had already stored
// are written again and collapse.
func testKillNineMidBatch(t *testing.T, bin string) {
	const envelopes, devices = 5000, 50
	ctx := context.Background()
	r := newRig(t, bin, chtest.Database(t), devices)
	r.stopMerges("results", "heartbeats") // keep every duplicate countable
	want := uint64(r.publish(envelopes))
	dataDir := t.TempDir()

	a := r.startCollector("collector-a", dataDir, "-ingest-batch", "50")
	deadline := time.Now().Add(waitTimeout)
	for {
		// No sleep: the batches land every few milliseconds.
		n, err := r.count("SELECT count() FROM results")
		if err == nil && n >= want {
			t.Fatalf("collector-a stored all %d results before it could be killed", n)
		}
		if err == nil && n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("collector-a stored nothing within %s (last err %v)", waitTimeout, err)
		}
	}
	a.kill()
	atKill := r.mustCount("SELECT count() FROM results")
	ci := r.consumer()
	t.Logf("SIGKILL %s (pid %d) with %d of %d results in ClickHouse; consumer: %d pending, %d delivered but unacknowledged",
		a.name, a.pid(), atKill, want, ci.NumPending, ci.NumAckPending)
	if atKill == 0 || atKill >= want {
		t.Fatalf("killed with %d of %d results stored: not mid-way", atKill, want)
	}
	if ci.NumPending+uint64(ci.NumAckPending) == 0 {
		t.Fatal("nothing left in JetStream after the kill")
	}
	// SIGKILL runs no cleanup: the dead process's collector.json is still
	// there, which is why startCollector waits for one naming the new PID.
	if st, err := serve.ReadState(dataDir); err == nil {
		t.Logf("%s left a stale %s naming pid %d", a.name, serve.StateFile, st.PID)
	}

	b := r.startCollector("collector-b", dataDir, "-ingest-batch", "50")
	// The collector acks with a 30-second AckWait, so the messages the dead
	// process held would come back only after 30 seconds. Shorten it (after
	// collector-b's start, which re-applies the configuration) so the test
	// sees the same redelivery in seconds.
	cons, err := r.js.Consumer(ctx, ingest.StreamName, ingest.ConsumerName)
	if err != nil {
		t.Fatal(err)
	}
	cfg := cons.CachedInfo().Config
	cfg.AckWait = 3 * time.Second
	if _, err := r.js.UpdateConsumer(ctx, ingest.StreamName, cfg); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r.waitDrained(want)
	took := time.Since(start)

	logical := r.mustCount("SELECT count() FROM results FINAL")
	physical := r.mustCount("SELECT count() FROM results")
	if logical != want {
		t.Errorf("results FINAL = %d, want %d", logical, want)
	}
	if n := r.mustCount("SELECT uniqExact(device_id, check_id, observed_at, observed_ns) FROM results"); n != want {
		t.Errorf("distinct natural keys = %d, want %d", n, want)
	}
	if physical < logical {
		t.Errorf("physical rows %d < logical %d", physical, logical)
	}
	hbLogical := r.mustCount("SELECT count() FROM heartbeats FINAL")
	hbPhysical := r.mustCount("SELECT count() FROM heartbeats")
	if hbLogical != envelopes {
		t.Errorf("heartbeats FINAL = %d, want %d", hbLogical, envelopes)
	}
	if (physical-logical)%checksPerEnvelope != 0 {
		t.Errorf("%d duplicate results is not a whole number of envelopes", physical-logical)
	}
	if b.exited() {
		t.Errorf("%s exited: %v", b.name, b.err)
	}
	t.Logf("%s (pid %d) finished the remaining work in %s; results: %d physical rows, %d logical, so %d duplicates (%d envelopes) written by redelivery and collapsed; heartbeats: %d physical, %d logical",
		b.name, b.pid(), took.Round(time.Millisecond), physical, logical, physical-logical, (physical-logical)/checksPerEnvelope, hbPhysical, hbLogical)
}

// With ClickHouse stopped, the collector stays up, says it is not ready,
// and leaves the evidence in JetStream; when ClickHouse returns it becomes
// ready and stores exactly the backlog.
func testClickHouseOutage(t *testing.T, bin string) {
	ctx := context.Background()
	ch, err := chserver.Start(ctx, chserver.Options{Dir: t.TempDir(), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ch.Stop(context.Background()) })
	r := newRig(t, bin, "clickhouse://"+ch.Addr()+"/scaleout", 20)
	c := r.startCollector("collector", t.TempDir())

	before := uint64(r.publish(200))
	r.waitDrained(before)
	c.waitReadyz(200)

	down := time.Now()
	if err := ch.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	c.waitReadyz(503)
	const during = 300
	duringResults := uint64(r.publish(during))
	// The collector fetches, fails to insert, and gives the batch back; two
	// failed attempts show it keeps retrying rather than giving up.
	eventually(t, "two failed insert attempts", func() (bool, string) {
		n := strings.Count(c.logs(), "batch not stored; will retry")
		return n >= 2, itoa(n) + " so far"
	})
	ci := r.consumer()
	held := ci.NumPending + uint64(ci.NumAckPending)
	if held != during {
		t.Errorf("during the outage JetStream holds %d pending + %d unacknowledged = %d, want all %d", ci.NumPending, ci.NumAckPending, held, during)
	}
	if code := c.readyz(); code != 503 {
		t.Errorf("/readyz during the outage: %d, want 503", code)
	}
	if c.exited() {
		t.Fatalf("the collector exited during the outage: %v", c.err)
	}
	if err := ch.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	outage := time.Since(down)
	up := time.Now()
	c.waitReadyz(200)
	ready := time.Since(up)
	r.waitDrained(before + duringResults)
	drained := time.Since(up)

	if n := r.mustCount("SELECT count() FROM results FINAL"); n != before+duringResults {
		t.Errorf("results FINAL = %d, want %d", n, before+duringResults)
	}
	if n := r.mustCount("SELECT count() FROM heartbeats FINAL"); n != 200+during {
		t.Errorf("heartbeats FINAL = %d, want %d", n, 200+during)
	}
	physical := r.mustCount("SELECT count() FROM results")
	if c.exited() {
		t.Errorf("the collector exited: %v", c.err)
	}
	t.Logf("ClickHouse down %s; JetStream held %d messages (%d pending + %d unacknowledged); the same collector process (pid %d) was ready %s and had stored the backlog %s after the restart; results %d logical, %d physical",
		outage.Round(time.Millisecond), held, ci.NumPending, ci.NumAckPending, c.pid(), ready.Round(time.Millisecond),
		drained.Round(time.Millisecond), before+duringResults, physical)
}

// The NATS server goes away and comes back on the same port and store; the
// collector reconnects by itself and stores what was published before and
// after.
func testNATSRestart(t *testing.T, bin string) {
	ctx := context.Background()
	r := newRig(t, bin, chtest.Database(t), 20)
	c := r.startCollector("collector", t.TempDir())

	const beforeEnv, afterEnv = 500, 500
	before := uint64(r.publish(beforeEnv))
	r.waitDrained(before)
	c.waitReadyz(200)

	down := time.Now()
	r.stopNATS()
	c.waitReadyz(503)
	time.Sleep(time.Second) // stay down for a while: the outage is the point
	r.startNATS()
	outage := time.Since(down)
	up := time.Now()

	eventually(t, "the test's own connection to reconnect", func() (bool, string) {
		return r.nc.IsConnected(), r.nc.Status().String()
	})
	var st *jetstream.StreamInfo
	eventually(t, "the evidence stream to be back", func() (bool, string) {
		s, err := r.js.Stream(ctx, ingest.StreamName)
		if err != nil {
			return false, err.Error()
		}
		st = s.CachedInfo()
		return true, ""
	})
	if st.State.Msgs != beforeEnv {
		t.Errorf("after the restart the stream holds %d messages, want the %d from before", st.State.Msgs, beforeEnv)
	}
	after := uint64(r.publish(afterEnv))
	c.waitReadyz(200)
	ready := time.Since(up)
	r.waitDrained(before + after)
	drained := time.Since(up)

	if n := r.mustCount("SELECT count() FROM results FINAL"); n != before+after {
		t.Errorf("results FINAL = %d, want %d", n, before+after)
	}
	if n := r.mustCount("SELECT count() FROM heartbeats FINAL"); n != beforeEnv+afterEnv {
		t.Errorf("heartbeats FINAL = %d, want %d", n, beforeEnv+afterEnv)
	}
	physical := r.mustCount("SELECT count() FROM results")
	if c.exited() {
		t.Errorf("the collector exited: %v", c.err)
	}
	t.Logf("NATS down %s; the same collector process (pid %d) was ready %s and had stored the %d envelopes published after the restart %s after it; results %d logical, %d physical",
		outage.Round(time.Millisecond), c.pid(), ready.Round(time.Millisecond), afterEnv, drained.Round(time.Millisecond),
		before+after, physical)
}

func itoa(n int) string { return strconv.Itoa(n) }
