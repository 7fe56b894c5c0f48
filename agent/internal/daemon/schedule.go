package daemon

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/fleetproof/fleetproof/agent/internal/checks"
	"github.com/fleetproof/fleetproof/evidence"
	"github.com/fleetproof/fleetproof/queries"
)

// jitterFraction spreads each run by up to ±10 % of the interval, so a
// fleet installed at the same minute does not query in lock step.
const jitterFraction = 0.10

// firstDelay spreads first runs over up to a minute after start.
func firstDelay(r *rand.Rand, interval time.Duration) time.Duration {
	return time.Duration(r.Int64N(int64(min(interval, time.Minute))))
}

// nextDelay is the delay after a run: the interval ± jitter.
func nextDelay(r *rand.Rand, interval time.Duration) time.Duration {
	j := int64(float64(interval) * jitterFraction)
	if j <= 0 {
		return interval
	}
	return interval + time.Duration(r.Int64N(2*j+1)-j)
}

// schedule runs each check at its interval, one at a time, and queues a
// heartbeat every hb; emit receives each result batch (nil for a
// heartbeat tick). It returns when ctx ends.
func schedule(ctx context.Context, cs []queries.Check, runner *checks.Runner, hb time.Duration, emit func([]evidence.Result)) {
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0x5eed))
	now := time.Now()
	due := make([]time.Time, len(cs))
	for i, c := range cs {
		due[i] = now.Add(firstDelay(r, c.Interval))
	}
	nextHB := now
	for {
		next := nextHB
		for _, d := range due {
			if d.Before(next) {
				next = d
			}
		}
		t := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		now := time.Now()
		var batch []evidence.Result
		for i, c := range cs {
			if !due[i].After(now) && ctx.Err() == nil {
				batch = append(batch, runner.Run(ctx, c))
				due[i] = time.Now().Add(nextDelay(r, c.Interval))
			}
		}
		if len(batch) > 0 {
			emit(batch)
		}
		if !nextHB.After(now) {
			emit(nil)
			nextHB = now.Add(hb)
		}
	}
}
