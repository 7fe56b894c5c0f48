package reportbench

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"time"

	"github.com/fleetproof/fleetproof/collector/internal/extract"
	"github.com/fleetproof/fleetproof/collector/internal/store"
)

// Timed wraps the store the reports read and adds up the wall time of
// each method, so a benchmark can say where a report's time went without
// changing the code it measures. For EachResult it also splits the time
// spent in the caller's callback (writing the extract's files) from the
// time spent waiting for rows (ClickHouse and the driver).
type Timed struct {
	*store.Store
	mu sync.Mutex
	// Spent is wall time per method name, summed over calls.
	Spent map[string]time.Duration
	// RowsFn is the time EachResult spent inside its callback, and Rows
	// the rows it passed to it.
	RowsFn time.Duration
	Rows   int64
	// Pairs is how many entries LatestResults returned last.
	Pairs int
}

// NewTimed wraps st.
func NewTimed(st *store.Store) *Timed { return &Timed{Store: st, Spent: map[string]time.Duration{}} }

func (t *Timed) add(name string, began time.Time) {
	t.mu.Lock()
	t.Spent[name] += time.Since(began)
	t.mu.Unlock()
}

func (t *Timed) Devices(ctx context.Context) ([]store.Device, error) {
	defer t.add("Devices", time.Now())
	return t.Store.Devices(ctx)
}

func (t *Timed) Revocations(ctx context.Context) ([]store.Revocation, error) {
	defer t.add("Revocations", time.Now())
	return t.Store.Revocations(ctx)
}

func (t *Timed) ComplianceDays(ctx context.Context, checks []string, from, to time.Time) ([]store.CheckDays, error) {
	defer t.add("ComplianceDays", time.Now())
	return t.Store.ComplianceDays(ctx, checks, from, to)
}

func (t *Timed) LatestResults(ctx context.Context, at time.Time) ([]store.Latest, error) {
	defer t.add("LatestResults", time.Now())
	l, err := t.Store.LatestResults(ctx, at)
	t.mu.Lock()
	t.Pairs = len(l)
	t.mu.Unlock()
	return l, err
}

func (t *Timed) EachResult(ctx context.Context, checks, devices []string, from, to time.Time, fn func(store.ResultRow) error) error {
	defer t.add("EachResult", time.Now())
	return t.Store.EachResult(ctx, checks, devices, from, to, func(r store.ResultRow) error {
		began := time.Now()
		err := fn(r)
		t.RowsFn += time.Since(began)
		t.Rows++
		return err
	})
}

func (t *Timed) EachDay(ctx context.Context, checks []string, from, to time.Time, fn func(store.DailyRow) error) error {
	defer t.add("EachDay", time.Now())
	return t.Store.EachDay(ctx, checks, from, to, fn)
}

func (t *Timed) Gaps(ctx context.Context, from, to time.Time) ([]store.SpoolGap, error) {
	defer t.add("Gaps", time.Now())
	return t.Store.Gaps(ctx, from, to)
}

var _ extract.Source = (*Timed)(nil)

// Phases timestamps the extract's progress lines ("extract: NAME: N
// rows" when a file is done), so the time between two of them is the
// time the extract spent producing the second file. The workbook is
// reported last, after it is saved, so its phase is the save.
type Phases struct {
	mu    sync.Mutex
	start time.Time
	last  time.Time
	buf   bytes.Buffer
	// Done lists each finished file with the time since the previous one.
	Done []Phase
}

// Phase is one file of an extract and the time it took.
type Phase struct {
	File string
	Took time.Duration
}

// NewPhases starts the clock.
func NewPhases() *Phases {
	now := time.Now()
	return &Phases{start: now, last: now}
}

// Write receives extract.Options.Progress output.
func (p *Phases) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf.Write(b)
	for {
		line, err := p.buf.ReadString('\n')
		if err != nil {
			p.buf.WriteString(line) // incomplete: wait for the rest
			return len(b), nil
		}
		// "extract: evidence.csv: 123 rows" is a file done; progress
		// lines say "rows so far".
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "extract: ")
		if !ok || strings.HasSuffix(rest, "so far") {
			continue
		}
		name, _, _ := strings.Cut(rest, ":")
		now := time.Now()
		p.Done = append(p.Done, Phase{File: name, Took: now.Sub(p.last)})
		p.last = now
	}
}
