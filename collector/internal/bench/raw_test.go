package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fleetproof/fleetproof/collector/internal/chtest"
	"github.com/fleetproof/fleetproof/collector/internal/ingest"
	"github.com/fleetproof/fleetproof/collector/internal/store"
	"github.com/fleetproof/fleetproof/evidence"
)

// BenchmarkRawJetStreamPublish is the JetStream ceiling: async publish
// (4,096 in flight) to the ingest stream on the embedded server, over
// loopback TCP, of messages exactly as large as a signed 20-result
// envelope. No signing, headers or de-duplication ids: this is what the
// server and client can move, not what the agent does. One op is one
// message.
func BenchmarkRawJetStreamPublish(b *testing.B) {
	ns := startNATS(b)
	var errs atomic.Int64
	js := connectJS(b, ns.ClientURL(), &errs)
	if _, err := ingest.EnsureStream(b.Context(), js, ingest.StreamOptions{}); err != nil {
		b.Fatal(err)
	}
	f := newFleet(b, 1)
	s, err := f.signed()
	if err != nil {
		b.Fatal(err)
	}
	payload := s.msg.Data
	subjects := make([]string, fleetSize)
	for i := range subjects {
		subjects[i] = evidence.Subject(fmt.Sprintf("bench-%05d", i), "results")
	}
	b.SetBytes(int64(len(payload)))
	m := newMeter(0)
	b.ResetTimer()
	m.start()
	for i := range b.N {
		if _, err := js.PublishAsync(subjects[i%len(subjects)], payload); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(2 * time.Minute):
		b.Fatalf("%d publishes unacknowledged after 2m", js.PublishAsyncPending())
	}
	m.stop()
	b.StopTimer()
	m.report(b)
	if n := errs.Load(); n > 0 {
		b.Fatalf("%d publishes failed", n)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(resultsPerEnvelope, "results/msg")
	b.ReportMetric(float64(len(payload)), "bytes/msg")
}

// rawBatchRows is the batch size of the ClickHouse ceiling: large enough
// that per-insert costs (a part per insert on the server) vanish.
const rawBatchRows = 50_000

// insertResults is the store's own INSERT for results (explicit columns,
// as 18.16 needs), so the ceiling writes exactly what ingest writes.
const insertResults = `INSERT INTO results (device_id, check_id, observed_at, observed_ns, status,
	check_version, pack, pack_version, rows, reason, error, duration_ms, engine, agent_version,
	envelope_seq, received_at)`

// resultRow is one results row, prepared before timing so the benchmark
// measures the driver and the server, not building values.
type resultRow struct {
	device, check, status, pack, packVersion, rows, reason, engine, agent string
	observed                                                              time.Time
	ns, checkVersion, durationMS                                          uint32
	seq                                                                   uint64
}

// BenchmarkRawClickHouseInsert is the ClickHouse ceiling: rows of the
// realistic envelopes, appended with clickhouse-go's PrepareBatch/Append/
// Send in 50,000-row batches into the results table that store.Open
// created (same engine, key and partitioning). One op is one row.
//
// It runs with one and with two inserters sending batches at once, and
// benchtable takes the better: one inserter alone leaves the server idle
// while it appends the next batch, so it understated what ClickHouse can
// take (measured 251k rows/s alone against 397k with two, on a quiet
// moment of the same run), and the Ingesters, which overlap their
// inserts with other work, were judged against too low a ceiling.
func BenchmarkRawClickHouseInsert(b *testing.B) {
	ctx := b.Context()
	st, err := store.Open(ctx, chtest.Database(b), quietLogger())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	dropFirst(b, st, "results")
	rows := sampleRows(b, rawBatchRows)
	recv := time.Now().UTC().Truncate(time.Second)
	var batchNo atomic.Int64 // across sub-benchmarks, so no batch repeats another's keys
	for _, k := range []int{1, 2} {
		b.Run(fmt.Sprintf("inserters=%d", k), func(b *testing.B) {
			// Each setting starts from an empty table, not from the parts
			// the previous one left ClickHouse merging.
			if err := st.Conn().Exec(ctx, "TRUNCATE TABLE results"); err != nil {
				b.Fatal(err)
			}
			m := newMeter(chtest.Server(b).Pid())
			b.ResetTimer()
			m.start()
			var wg sync.WaitGroup
			errs := make(chan error, k)
			var next atomic.Int64
			for range k {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						// Claim the next batch's share of b.N.
						done := int(next.Add(rawBatchRows)) - rawBatchRows
						if done >= b.N {
							return
						}
						n := min(rawBatchRows, b.N-done)
						if err := insertRows(ctx, st, rows[:n], time.Duration(batchNo.Add(1))*4*time.Hour, recv); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			m.stop()
			b.StopTimer()
			close(errs)
			for err := range errs {
				b.Fatal(err)
			}
			m.report(b)
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// insertRows sends one batch; shift moves the observations so successive
// batches are new rows, not duplicates of one natural key.
func insertRows(ctx context.Context, st *store.Store, rows []resultRow, shift time.Duration, recv time.Time) error {
	batch, err := st.Conn().PrepareBatch(ctx, insertResults)
	if err != nil {
		return err
	}
	for i := range rows {
		r := &rows[i]
		if err := batch.Append(r.device, r.check, r.observed.Add(shift), r.ns, r.status, r.checkVersion, r.pack,
			r.packVersion, r.rows, r.reason, "", r.durationMS, r.engine, r.agent, r.seq, recv); err != nil {
			batch.Abort()
			return err
		}
	}
	return batch.Send()
}

// sampleRows flattens the fleet's envelopes into n results rows the way
// store.InsertEnvelopes does (rows re-encoded as JSON, times in UTC).
func sampleRows(tb testing.TB, n int) []resultRow {
	tb.Helper()
	f := newFleet(tb, fleetSize)
	out := make([]resultRow, 0, n)
	for len(out) < n {
		e, _ := f.envelope()
		for _, r := range e.Results {
			js, err := json.Marshal(r.Rows)
			if err != nil {
				tb.Fatal(err)
			}
			out = append(out, resultRow{device: e.DeviceID, check: r.CheckID, status: string(r.Status), pack: r.Pack,
				packVersion: r.PackVersion, rows: string(js), reason: r.Reason, engine: r.Engine, agent: e.AgentVersion,
				observed: r.ObservedAt.UTC(), ns: uint32(r.ObservedAt.Nanosecond()), checkVersion: uint32(r.CheckVersion),
				durationMS: uint32(r.DurationMS), seq: e.Seq})
		}
	}
	return out[:n]
}
