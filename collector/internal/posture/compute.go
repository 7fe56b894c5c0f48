package posture

import (
	"context"
	"fmt"
	"time"

	"github.com/fleetproof/fleetproof/collector/internal/store"
	"github.com/fleetproof/fleetproof/queries"
)

// Source is what Compute reads; *store.Store implements it.
type Source interface {
	Devices(ctx context.Context) ([]store.Device, error)
	LatestResults(ctx context.Context, at time.Time) ([]store.Latest, error)
}

// Compute reads the devices and their latest results as of at, at once
// (they are independent queries, and the answer is wanted in under a
// second for a fleet of 10,000), and builds the report.
func Compute(ctx context.Context, src Source, at time.Time, cat *queries.Catalog, o Options) (Report, error) {
	type devices struct {
		list []store.Device
		err  error
	}
	ch := make(chan devices, 1)
	go func() {
		list, err := src.Devices(ctx)
		ch <- devices{list, err}
	}()
	latest, err := src.LatestResults(ctx, at)
	d := <-ch
	if err != nil {
		return Report{}, fmt.Errorf("posture: %w", err)
	}
	if d.err != nil {
		return Report{}, fmt.Errorf("posture: %w", d.err)
	}
	return Build(at, d.list, latest, cat, o), nil
}
