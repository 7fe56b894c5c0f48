//go:build linux

package builtin_test

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/fleetproof/fleetproof/agent/internal/builtin"
	"github.com/fleetproof/fleetproof/agent/internal/checks"
	"github.com/fleetproof/fleetproof/queries"
)

// cpuTime is the process's user plus system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkCatalogLinux runs one full cycle of the catalog's Linux checks
// per iteration, on this machine through the real built-in engine (Root
// "/"), the way the agent's scheduler does (checks.Runner). It reports
// wall time and CPU time per cycle: the agent's check cost on a device
// with no osqueryd.
func BenchmarkCatalogLinux(b *testing.B) {
	cat, err := queries.Load()
	if err != nil {
		b.Fatal(err)
	}
	r := &checks.Runner{Engine: builtin.New(builtin.Options{Root: "/"}), Pack: cat.Pack, Platform: "linux"}
	cs := r.Applicable(cat)
	if len(cs) == 0 {
		b.Fatal("the catalog has no Linux checks")
	}
	ctx := context.Background()
	// One warm-up cycle, untimed, which also shows what ran (once).
	for _, res := range r.RunAll(ctx, cat) {
		if b.N == 1 {
			b.Logf("%-20s %-15s %3d ms %s", res.CheckID, res.Status, res.DurationMS, res.Error)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime(b)
	for range b.N {
		if res := r.RunAll(ctx, cat); len(res) != len(cs) {
			b.Fatalf("%d results, want %d", len(res), len(cs))
		}
	}
	cpu := cpuTime(b) - cpu0
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/cycle")
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/cycle")
	b.ReportMetric(float64(len(cs)), "checks/cycle")
}
