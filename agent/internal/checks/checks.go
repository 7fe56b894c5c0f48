package checks

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fleetproof/fleetproof/evidence"
	"github.com/fleetproof/fleetproof/queries"
)

// Engine answers osquery SQL. Rows come back as osquery returns them:
// every value a string.
type Engine interface {
	Name() string
	Query(ctx context.Context, sql string) ([]map[string]string, error)
}

// MaxRows bounds the rows kept as evidence for one result; a query that
// matches thousands of rows still fails or passes on all of them.
const MaxRows = 200

// Runner runs checks for one platform.
type Runner struct {
	Engine   Engine
	Pack     queries.Pack
	Platform string // GOOS
	Now      func() time.Time
}

// Applicable returns the catalog's checks for the runner's platform.
func (r *Runner) Applicable(cat *queries.Catalog) []queries.Check {
	return cat.ForPlatform(r.Platform)
}

// Run runs one check. It always returns a result.
func (r *Runner) Run(ctx context.Context, c queries.Check) evidence.Result {
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	res := evidence.Result{
		CheckID: c.ID, CheckVersion: c.Version, Pack: r.Pack.Name, PackVersion: r.Pack.Version,
		Engine: r.Engine.Name(),
	}
	q, ok := c.Platforms[r.Platform]
	if ok {
		// Fold in the platform's when_empty override, so a check taken
		// straight from the catalog evaluates like one from Applicable.
		c, _ = c.On(r.Platform)
	}
	start := now()
	res.ObservedAt = start.UTC()
	if !ok {
		res.Status, res.Reason = evidence.StatusNotApplicable, "no query for "+r.Platform
		return res
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = queries.DefaultTimeout
	}
	qctx, cancel := context.WithTimeout(ctx, timeout)
	rows, err := r.Engine.Query(qctx, q.SQL)
	cancel()
	res.DurationMS = now().Sub(start).Milliseconds()
	if err != nil {
		res.Status = evidence.StatusError
		res.Error = err.Error()
		if errors.Is(err, context.DeadlineExceeded) {
			res.Error = fmt.Sprintf("timed out after %s: %v", timeout, err)
		}
		return res
	}
	ev := c.Evaluate(rows)
	res.Status = evidence.Status(ev.Outcome)
	res.Reason = ev.Reason
	if len(rows) > MaxRows {
		// Keep the failing rows first: they are the detail that matters.
		kept := append([]map[string]string{}, ev.Failing...)
		for _, row := range rows {
			if len(kept) >= MaxRows {
				break
			}
			if row[queries.CompliantColumn] == "1" {
				kept = append(kept, row)
			}
		}
		if len(kept) > MaxRows {
			kept = kept[:MaxRows]
		}
		res.Reason += fmt.Sprintf(" (%d of %d rows kept)", len(kept), len(rows))
		rows = kept
	}
	res.Rows = rows
	return res
}

// RunAll runs every applicable check once, in catalog order.
func (r *Runner) RunAll(ctx context.Context, cat *queries.Catalog) []evidence.Result {
	var out []evidence.Result
	for _, c := range r.Applicable(cat) {
		if ctx.Err() != nil {
			break
		}
		out = append(out, r.Run(ctx, c))
	}
	return out
}
