package bench

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/fleetproof/fleetproof/collector/internal/chtest"
	"github.com/fleetproof/fleetproof/collector/internal/ingest"
	"github.com/fleetproof/fleetproof/collector/internal/natsd"
	"github.com/fleetproof/fleetproof/collector/internal/store"
)

// setting is one ingest configuration under test. Ingesters > 1 runs
// that many Ingesters on their own NATS connections against the shared
// durable consumer, as that many collector instances would.
type setting struct {
	batch     int
	maxWait   time.Duration
	ingesters int
}

func (s setting) String() string {
	return fmt.Sprintf("batch=%d/wait=%s/ingesters=%d", s.batch, s.maxWait, s.ingesters)
}

// chunkEnvelopes is one benchmark op: 20,000 envelopes (400,000
// results). Each op starts the Ingesters and ends when the last batch is
// stored, so the first fetch and the last insert never overlap with
// anything: with 5,000 envelopes a batch of 2,500 was two batches an op,
// mostly that start and end rather than the steady state a collector
// under load runs in. A multiple of every batch size below, so with one
// Ingester the last fetch of an op is full and never waits out MaxWait
// inside the timed region. With two, the server may share the last messages between both
// pending pulls, and each then waits MaxWait: a real cost at the end of a
// backlog, at most 100 ms per op here.
const chunkEnvelopes = 20000

// Settings measured. MaxWait only matters when a fetch cannot fill its
// batch (the end of a backlog, or a publisher slower than ingest).
var (
	ingestSettings = []setting{
		{batch: 250, maxWait: 100 * time.Millisecond, ingesters: 1},
		{batch: 500, maxWait: 100 * time.Millisecond, ingesters: 1},
		{batch: 1000, maxWait: 100 * time.Millisecond, ingesters: 1},
		{batch: 2500, maxWait: 100 * time.Millisecond, ingesters: 1}, // the collector's default batch
		{batch: 500, maxWait: 100 * time.Millisecond, ingesters: 2},
		{batch: 1000, maxWait: 100 * time.Millisecond, ingesters: 2},
	}
	concurrentSetting = setting{batch: 1000, maxWait: 100 * time.Millisecond, ingesters: 2}
)

// BenchmarkEndToEnd measures the real ingest path: envelopes signed by
// 1,000 enrolled devices, published to JetStream, consumed by
// ingest.Ingester (decode, verify the signature against the enrolled key,
// batch insert into ClickHouse, ack). The "ingest" sub-benchmarks publish
// each op's envelopes before the timer starts, so they time ingest alone;
// "concurrent" times publish and ingest running together. One op is
// chunkEnvelopes envelopes; results/s is the figure to read.
func BenchmarkEndToEnd(b *testing.B) {
	r := newRig(b)
	for _, s := range ingestSettings {
		b.Run("ingest/"+s.String(), func(b *testing.B) { r.benchIngest(b, s) })
	}
	b.Run("concurrent/"+concurrentSetting.String(), func(b *testing.B) { r.benchConcurrent(b, concurrentSetting) })
}

// rig is one collector's infrastructure, shared by the sub-benchmarks:
// the embedded NATS server with the ingest stream, the ClickHouse store
// with the fleet enrolled, and the agents' publishing connection.
type rig struct {
	chPid   int
	ns      *natsd.Server
	pub     jetstream.JetStream
	pubErrs atomic.Int64
	st      *store.Store
	fleet   *fleet
}

func newRig(b *testing.B) *rig {
	ctx := b.Context()
	r := &rig{ns: startNATS(b), chPid: chtest.Server(b).Pid()}
	r.pub = connectJS(b, r.ns.ClientURL(), &r.pubErrs)
	if _, err := ingest.EnsureStream(ctx, r.pub, ingest.StreamOptions{}); err != nil {
		b.Fatal(err)
	}
	st, err := store.Open(ctx, chtest.Database(b), quietLogger())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	dropFirst(b, st, "results", "heartbeats")
	r.st = st
	r.fleet = newFleet(b, fleetSize)
	start := time.Now()
	if err := r.fleet.enroll(ctx, st); err != nil {
		b.Fatal(err)
	}
	b.Logf("enrolled %d devices in %s", fleetSize, time.Since(start).Round(time.Millisecond))
	return r
}

// sign makes n signed envelopes ahead of publishing, so neither benchmark times
// the agents' JSON encoding and signing.
func (r *rig) sign(b *testing.B, n int) []signed {
	out := make([]signed, n)
	for i := range out {
		s, err := r.fleet.signed()
		if err != nil {
			b.Fatal(err)
		}
		out[i] = s
	}
	return out
}

func (r *rig) publish(b *testing.B, envs []signed) {
	if err := publishAll(r.pub, envs); err != nil {
		b.Fatal(err)
	}
	if n := r.pubErrs.Load(); n > 0 {
		b.Fatalf("%d publishes failed", n)
	}
}

// warm has each Ingester, alone, ingest one envelope from every device
// before timing. An Ingester looks a device's key up in ClickHouse the
// first time it sees the device (two queries, one device at a time) and
// caches it in its own memory; a collector that has run for a while has
// them all cached. The mean cold pass per Ingester (1,000 new devices,
// publishing included) is reported as warmup-ms, after the loop: b.Loop's
// timer reset drops metrics reported before it.
func (r *rig) warm(b *testing.B, g *group) time.Duration {
	start := time.Now()
	for _, in := range g.ins {
		r.publish(b, r.sign(b, fleetSize))
		g.start(in)
		if err := g.wait(g.stats().Results + fleetSize*resultsPerEnvelope); err != nil {
			b.Fatal(err)
		}
		g.stop()
	}
	g.store.insertNS.Store(0)
	g.fetchNS.Store(0)
	return time.Since(start) / time.Duration(len(g.ins))
}

// reset empties the tables ingest writes, so every setting starts from
// the same state: otherwise ClickHouse would still be merging the parts
// of the settings measured before, and later settings would pay for it.
// (A setting's own background merges are part of its cost.)
func (r *rig) reset(b *testing.B) {
	for _, t := range []string{"results", "heartbeats"} {
		if err := r.st.Conn().Exec(b.Context(), "TRUNCATE TABLE "+t); err != nil {
			b.Fatal(err)
		}
	}
}

func (r *rig) benchIngest(b *testing.B, s setting) {
	r.reset(b)
	g := newGroup(b, r, s)
	warm := r.warm(b, g)
	before := g.stats()
	m := newMeter(r.chPid)
	var rss float64
	for b.Loop() {
		b.StopTimer()
		r.publish(b, r.sign(b, chunkEnvelopes))
		// The publisher's garbage is not the collector's footprint.
		debug.FreeOSMemory()
		want := g.stats().Results + chunkEnvelopes*resultsPerEnvelope
		b.StartTimer()
		m.start()
		g.start()
		if err := g.wait(want); err != nil {
			b.Fatal(err)
		}
		m.stop()
		b.StopTimer()
		rss = rssMB()
		g.stop()
		b.StartTimer()
	}
	r.report(b, g, m, before, rss, warm, true)
}

func (r *rig) benchConcurrent(b *testing.B, s setting) {
	r.reset(b)
	g := newGroup(b, r, s)
	warm := r.warm(b, g)
	before := g.stats()
	g.start()
	defer g.stop()
	m := newMeter(r.chPid)
	var rss float64
	for b.Loop() {
		b.StopTimer()
		envs := r.sign(b, chunkEnvelopes)
		runtime.GC()
		want := g.stats().Results + chunkEnvelopes*resultsPerEnvelope
		b.StartTimer()
		m.start()
		published := make(chan error, 1)
		go func() { published <- publishAll(r.pub, envs) }()
		if err := g.wait(want); err != nil {
			b.Fatal(err)
		}
		if err := <-published; err != nil {
			b.Fatal(err)
		}
		m.stop()
		b.StopTimer()
		rss = rssMB()
		b.StartTimer()
	}
	if n := r.pubErrs.Load(); n > 0 {
		b.Fatalf("%d publishes failed", n)
	}
	// Fetch waits span the untimed phases here (the Ingesters keep
	// running), so fetch-% would mean nothing.
	r.report(b, g, m, before, rss, warm, false)
}

func (r *rig) report(b *testing.B, g *group, m *meter, before ingest.Stats, rss float64, warm time.Duration, fetchShare bool) {
	st := g.stats()
	results, batches := st.Results-before.Results, st.Batches-before.Batches
	sec := b.Elapsed().Seconds()
	m.report(b)
	// Share of the timed wall clock the Ingesters spent inside
	// InsertEncoded (appending rows and waiting for ClickHouse); with
	// several Ingesters the shares add up. An Ingester fetches and
	// verifies its next batch meanwhile, so insert-% and fetch-% overlap.
	b.ReportMetric(100*g.store.insertTime().Seconds()/m.Wall.Seconds(), "insert-%")
	if fetchShare {
		b.ReportMetric(100*time.Duration(g.fetchNS.Load()).Seconds()/m.Wall.Seconds(), "fetch-%")
	}
	b.ReportMetric(float64(results)/sec, "results/s")
	b.ReportMetric(float64(results)/resultsPerEnvelope/sec, "envelopes/s")
	b.ReportMetric(float64(results)/float64(batches), "rows/insert")
	b.ReportMetric(rss, "RSS-MB")
	b.ReportMetric(float64(warm.Milliseconds()), "warmup-ms")
	b.ReportMetric(0, "ns/op") // an op is a 100,000-result chunk; ns/op would only confuse
}

// group runs a setting's Ingesters and waits on their progress signals.
type group struct {
	store    *timedStore
	fetchNS  atomic.Int64
	ins      []*ingest.Ingester
	progress chan struct{}
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

func newGroup(b *testing.B, r *rig, s setting) *group {
	g := &group{store: &timedStore{Store: r.st}, progress: make(chan struct{}, 1)}
	for range s.ingesters {
		var errs atomic.Int64
		js := connectJS(b, r.ns.ClientURL(), &errs)
		cons, err := js.Consumer(b.Context(), ingest.StreamName, ingest.ConsumerName)
		if err != nil {
			b.Fatal(err)
		}
		cons = &timedConsumer{Consumer: cons, ns: &g.fetchNS}
		g.ins = append(g.ins, ingest.New(ingest.Options{Consumer: cons, Store: g.store, Logger: quietLogger(),
			BatchSize: s.batch, MaxWait: s.maxWait, MaxBackoff: time.Second}))
	}
	b.Cleanup(g.stop)
	return g
}

// start runs the given Ingesters (none given: all), plus a goroutine per
// Ingester forwarding its progress signal, until stop.
func (g *group) start(only ...*ingest.Ingester) {
	ctx, cancel := context.WithCancel(context.Background())
	g.cancel = cancel
	if len(only) == 0 {
		only = g.ins
	}
	for _, in := range only {
		g.wg.Add(2)
		go func() { defer g.wg.Done(); in.Run(ctx) }()
		go func() {
			defer g.wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case <-in.Progress():
					select {
					case g.progress <- struct{}{}:
					default:
					}
				}
			}
		}()
	}
}

// stop cancels the Ingesters and waits for them; each returns once its
// current fetch has expired (MaxWait).
func (g *group) stop() {
	if g.cancel != nil {
		g.cancel()
		g.wg.Wait()
		g.cancel = nil
	}
}

func (g *group) stats() ingest.Stats {
	var t ingest.Stats
	for _, in := range g.ins {
		s := in.Stats()
		t.Envelopes += s.Envelopes
		t.Results += s.Results
		t.DeadLetters += s.DeadLetters
		t.Batches += s.Batches
		t.Retries += s.Retries
	}
	return t
}

// wait blocks until the Ingesters have stored want results in total. A
// dead letter or a failed insert ends the benchmark: neither may be
// counted as throughput.
func (g *group) wait(want uint64) error {
	deadline := time.NewTimer(2 * time.Minute)
	defer deadline.Stop()
	for {
		s := g.stats()
		if s.DeadLetters > 0 || s.Retries > 0 {
			return fmt.Errorf("ingest refused or failed input: %+v", s)
		}
		if s.Results >= want {
			return nil
		}
		select {
		case <-g.progress:
		case <-deadline.C:
			return fmt.Errorf("timed out at %d of %d results: %+v", s.Results, want, s)
		}
	}
}

// timedStore is the real store, with the wall time spent in
// InsertEncoded (ingest's insert) added up so the report can say where
// ingest waits.
type timedStore struct {
	*store.Store
	insertNS atomic.Int64
}

func (t *timedStore) InsertEncoded(ctx context.Context, envs []store.EncodedEnvelope, at time.Time) error {
	start := time.Now()
	err := t.Store.InsertEncoded(ctx, envs, at)
	t.insertNS.Add(int64(time.Since(start)))
	return err
}

func (t *timedStore) insertTime() time.Duration { return time.Duration(t.insertNS.Load()) }

// timedConsumer is the real consumer, with the wall time from each Fetch
// call until its batch is drained (the Ingester calls Error right after
// the Messages channel closes) added up.
type timedConsumer struct {
	jetstream.Consumer
	ns *atomic.Int64
}

func (c *timedConsumer) Fetch(n int, opts ...jetstream.FetchOpt) (jetstream.MessageBatch, error) {
	mb, err := c.Consumer.Fetch(n, opts...)
	if err != nil {
		return mb, err
	}
	return &timedBatch{MessageBatch: mb, start: time.Now(), ns: c.ns}, nil
}

type timedBatch struct {
	jetstream.MessageBatch
	start time.Time
	ns    *atomic.Int64
}

func (b *timedBatch) Error() error {
	b.ns.Add(int64(time.Since(b.start)))
	return b.MessageBatch.Error()
}
