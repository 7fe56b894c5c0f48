package store

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// ResultRow is one stored result, every column an auditor extract lists.
type ResultRow struct {
	DeviceID     string
	CheckID      string
	ObservedAt   time.Time // UTC, with the sub-second part
	Status       string
	CheckVersion uint32
	Pack         string
	PackVersion  string
	Rows         string // JSON array of the rows that explain the status
	Reason       string
	Error        string
	DurationMS   uint32
	Engine       string
	AgentVersion string
	ReceivedAt   time.Time
}

// EachResult calls fn for every result of the given checks observed in
// [from, to), ordered by device, check and observation time; of the given
// devices only, unless devices is nil. It streams: a period of a large
// fleet holds far more rows than memory.
//
// FINAL rather than argMax: an extract lists every row, and the row that
// survives a redelivery (the last one written) is the same before and
// after ReplacingMergeTree merges, so two extracts of the same data are
// identical.
//
// On a large fleet one query over the whole period was slow on every
// count (measured on 10,000 devices x 20 checks x 90 days, 432M rows, one
// control's 43M): ClickHouse 18.16 merges FINAL in one thread over every
// row of the period before it filters the checks, then sorts the result
// on disk, and sends nothing until that is done: the first row after
// 146 s, the last after 174 s. So the period is read in chunks of
// devices, each a query of its own (65 s for the 43M rows, the first at
// once):
//
//   - the conditions are PREWHERE: they read only key columns (device,
//     check, observation time), which a redelivered duplicate shares with
//     the row it duplicates, so filtering before FINAL's merge drops both
//     or neither and FINAL picks the same survivor, while the merge only
//     sees the rows asked for;
//   - a chunk's sort fits in memory, and device ranges in order, each
//     sorted, are the whole period in order. The ranges are contiguous and
//     the first and last open-ended, so every row is in exactly one of
//     them whatever the boundaries; the rollup only says where to cut for
//     chunks of similar size;
//   - two chunks run at once, handed to fn in order: while fn takes one
//     chunk's rows, ClickHouse merges and sorts the next, and the driver
//     decodes rows while the caller writes.
func (s *Store) EachResult(ctx context.Context, checks, devices []string, from, to time.Time, fn func(ResultRow) error) error {
	if len(checks) == 0 || devices != nil && len(devices) == 0 {
		return nil
	}
	bounds, err := s.deviceBounds(ctx, checks, devices, from, to)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait() // no query outlives the call
	defer cancel()
	// Chunks are started in order, at most chunksInFlight at once, and
	// handed over in order: while fn takes the rows of one, ClickHouse
	// merges and sorts the next (FINAL's merge is one thread per query on
	// 18.16, so two queries use both cores).
	queue := make(chan *chunk, chunksInFlight-1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(queue)
		for i := 0; i <= len(bounds); i++ {
			c := &chunk{rows: make(chan []ResultRow, prefetchBatches)}
			select {
			case queue <- c:
			case <-ctx.Done():
				return
			}
			var lo string
			var hi []string // none for the last range: open-ended
			if i > 0 {
				lo = bounds[i-1]
			}
			if i < len(bounds) {
				hi = bounds[i : i+1]
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer close(c.rows)
				c.err = s.readChunk(ctx, checks, devices, from, to, lo, hi, c.rows)
			}()
		}
	}()
	for c := range queue {
		for batch := range c.rows {
			for _, r := range batch {
				if err := fn(r); err != nil {
					return err // the deferred cancel stops the readers
				}
			}
		}
		if c.err != nil { // set before rows was closed
			return c.err
		}
	}
	return ctx.Err()
}

// chunk is one device range's rows on their way to fn; err is set before
// rows is closed.
type chunk struct {
	rows chan []ResultRow
	err  error
}

const (
	// chunkDeviceDays is how many device-days (rollup rows) of the period
	// a chunk aims at: 50,000 of hourly checks is 1.2M results, a few
	// hundred MB to sort in memory.
	chunkDeviceDays = 50_000
	// resultBatch rows travel from the reader to fn at a time, and
	// prefetchBatches of them may wait: enough to keep both sides busy,
	// little memory (tens of MB).
	resultBatch     = 4096
	prefetchBatches = 16
	// chunksInFlight queries run at once: one handing rows to fn, the
	// next getting ready.
	chunksInFlight = 2
)

// chunkTarget is chunkDeviceDays, a variable so tests can cut small data
// into many chunks.
var chunkTarget = chunkDeviceDays

// deviceBounds returns ascending device ids that cut the period's results
// of checks into chunks of about chunkTarget device-days each, from the
// rollup's rows per device. The chunks are [-inf, b0), [b0, b1), ...,
// [bn, +inf): rows of a device the rollup does not know still fall in one.
func (s *Store) deviceBounds(ctx context.Context, checks, devices []string, from, to time.Time) ([]string, error) {
	start, n := DayRange(from, to)
	ids := make([]any, len(checks))
	for i, c := range checks {
		ids[i] = c
	}
	only, onlyArgs := inDevices(devices)
	rows, err := s.conn.Query(ctx, `
		SELECT device_id, count()
		FROM results_daily
		WHERE check_id IN ? AND day >= toDate(?) AND day < toDate(?) `+only+`
		GROUP BY device_id
		ORDER BY device_id`,
		append([]any{clickhouse.GroupSet{Value: ids}, start.Format(time.DateOnly), start.AddDate(0, 0, n).Format(time.DateOnly)}, onlyArgs...)...)
	if err != nil {
		return nil, fmt.Errorf("store: results: chunks: %w", err)
	}
	defer rows.Close()
	var bounds []string
	var sum uint64
	for rows.Next() {
		var dev string
		var days uint64
		if err := rows.Scan(&dev, &days); err != nil {
			return nil, fmt.Errorf("store: results: chunks: %w", err)
		}
		if sum >= uint64(chunkTarget) {
			bounds, sum = append(bounds, dev), 0
		}
		sum += days
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: results: chunks: %w", err)
	}
	return bounds, nil
}

// inDevices is the condition that limits a query to devices, with its
// argument; nothing for nil, which means every device. IN, not has():
// ClickHouse prunes granules by the primary key only for IN, and a sample
// of 25 devices read with has() took as long as every device's rows
// (65 s for a quarter of 10,000 devices).
func inDevices(devices []string) (string, []any) {
	switch {
	case devices == nil:
		return "", nil
	case len(devices) == 0:
		return "AND 0 = 1", nil // IN () is not SQL
	}
	ids := make([]any, len(devices))
	for i, d := range devices {
		ids[i] = d
	}
	return "AND device_id IN ?", []any{clickhouse.GroupSet{Value: ids}}
}

// readChunk sends the rows of devices in [lo, hi[0]) in batches; an
// empty hi means no upper bound.
func (s *Store) readChunk(ctx context.Context, checks, devices []string, from, to time.Time, lo string, hi []string, out chan<- []ResultRow) error {
	// A chunk larger than planned (checks far more frequent than hourly)
	// still must not fail the extract: past this much ClickHouse sorts
	// on disk.
	ctx = clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"max_bytes_before_external_sort": 1 << 30}))
	upper, args := "", []any{lo}
	if len(hi) > 0 {
		upper = "AND device_id < ?"
		args = append(args, hi[0])
	}
	only, onlyArgs := inDevices(devices)
	args = append(append(args, from.UTC().Unix(), to.UTC().Unix(), checks), onlyArgs...)
	rows, err := s.conn.Query(ctx, `
		SELECT device_id, check_id, observed_at, observed_ns, toString(status) AS st, check_version,
		       pack, pack_version, rows, reason, error, duration_ms, engine, agent_version, received_at
		FROM results FINAL
		PREWHERE device_id >= ? `+upper+`
		  AND observed_at >= toDateTime(?) AND observed_at < toDateTime(?) AND has(?, check_id)
		  `+only+`
		ORDER BY device_id, check_id, observed_at, observed_ns`, args...)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("store: results: %w", err)
	}
	defer rows.Close()
	return sendRows(ctx, rows, out)
}

// sendRows scans one chunk's rows into batches for EachResult's caller.
func sendRows(ctx context.Context, rows driver.Rows, out chan<- []ResultRow) error {
	batch := make([]ResultRow, 0, resultBatch)
	send := func() error {
		select {
		case out <- batch:
			batch = make([]ResultRow, 0, resultBatch)
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for rows.Next() {
		var r ResultRow
		var ns uint32
		if err := rows.Scan(&r.DeviceID, &r.CheckID, &r.ObservedAt, &ns, &r.Status, &r.CheckVersion, &r.Pack,
			&r.PackVersion, &r.Rows, &r.Reason, &r.Error, &r.DurationMS, &r.Engine, &r.AgentVersion, &r.ReceivedAt); err != nil {
			return fmt.Errorf("store: results: %w", err)
		}
		r.ObservedAt = r.ObservedAt.UTC().Add(time.Duration(ns))
		r.ReceivedAt = r.ReceivedAt.UTC()
		if batch = append(batch, r); len(batch) == resultBatch {
			if err := send(); err != nil {
				return err
			}
		}
	}
	if err := rows.Err(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err() // EachResult stopped reading
		}
		return fmt.Errorf("store: results: %w", err)
	}
	if len(batch) > 0 {
		return send()
	}
	return nil
}
