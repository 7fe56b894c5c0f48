package bench

import (
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

// BenchmarkRawClickHouseInsert is the ClickHouse ceiling: results of the
// realistic envelopes, decoded and encoded before timing, stored by
// store.InsertEncoded (the very code ingest stores with, clickhouse-go's
// PrepareBatch/Append/Send) in 50,000-row batches into the results table
// that store.Open created (same engine, key, partitioning and views). One
// op is one row. What separates end to end from it is then JetStream,
// verification, decoding and how ingest overlaps them, not a different
// way of talking to ClickHouse.
//
// It runs with one and with two inserters sending batches at once, and
// benchtable takes the better: one inserter alone leaves the server idle
// while it prepares the next batch, so it understated what ClickHouse can
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
	recv := time.Now().UTC().Truncate(time.Second)
	var batchNo atomic.Int64 // across sub-benchmarks, so no batch repeats another's keys
	for _, k := range []int{1, 2} {
		b.Run(fmt.Sprintf("inserters=%d", k), func(b *testing.B) {
			// Each setting starts from an empty table, not from the parts
			// the previous one left ClickHouse merging.
			if err := st.Conn().Exec(ctx, "TRUNCATE TABLE results"); err != nil {
				b.Fatal(err)
			}
			batches := make([]*sampleBatch, k)
			for i := range batches {
				batches[i] = newSampleBatch(b, rawBatchRows)
			}
			m := newMeter(chtest.Server(b).Pid())
			b.ResetTimer()
			m.start()
			var wg sync.WaitGroup
			errs := make(chan error, k)
			var next atomic.Int64
			for _, sb := range batches {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						// Claim the next batch's share of b.N.
						done := int(next.Add(rawBatchRows)) - rawBatchRows
						if done >= b.N {
							return
						}
						envs := sb.take(min(rawBatchRows, b.N-done), time.Duration(batchNo.Add(1))*4*time.Hour)
						if err := st.InsertEncoded(ctx, envs, recv); err != nil {
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

// sampleBatch is one inserter's batch of the fleet's envelopes, without
// heartbeats (the ceiling is for results), rows encoded as ingest hands
// them to the store.
type sampleBatch struct {
	envs     []store.EncodedEnvelope
	observed [][]time.Time // each result's original observation time
}

func newSampleBatch(tb testing.TB, rows int) *sampleBatch {
	tb.Helper()
	f := newFleet(tb, fleetSize)
	sb := &sampleBatch{}
	for n := 0; n < rows; {
		e, _ := f.envelope()
		e.Heartbeat = nil
		e.Results = e.Results[:min(len(e.Results), rows-n)]
		ee := store.EncodedEnvelope{Envelope: &e, Rows: make([]string, len(e.Results))}
		obs := make([]time.Time, len(e.Results))
		for i := range e.Results {
			r, err := store.EncodeRows(e.Results[i].Rows)
			if err != nil {
				tb.Fatal(err)
			}
			ee.Rows[i], obs[i], e.Results[i].Rows = r, e.Results[i].ObservedAt, nil
		}
		sb.envs, sb.observed = append(sb.envs, ee), append(sb.observed, obs)
		n += len(e.Results)
	}
	return sb
}

// take returns envelopes holding the first n results, observed shift
// later than the originals, so successive batches are new rows rather
// than duplicates of one natural key.
func (sb *sampleBatch) take(n int, shift time.Duration) []store.EncodedEnvelope {
	var out []store.EncodedEnvelope
	for i, ee := range sb.envs {
		if n <= 0 {
			break
		}
		for j := range ee.Envelope.Results {
			ee.Envelope.Results[j].ObservedAt = sb.observed[i][j].Add(shift)
		}
		if len(ee.Envelope.Results) > n {
			// Only the last envelope of a short final batch: cut a copy.
			e := *ee.Envelope
			e.Results = e.Results[:n]
			ee = store.EncodedEnvelope{Envelope: &e, Rows: ee.Rows[:n]}
		}
		out = append(out, ee)
		n -= len(ee.Envelope.Results)
	}
	return out
}
