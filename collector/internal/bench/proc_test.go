package bench

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/fleetproof/fleetproof/collector/internal/cpumeter"
)

// rssMB reads this process's resident set from /proc/self/status. The
// embedded NATS server and the ingester both live in this process, as in
// a collector with default settings.
func rssMB() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// meter adds up, over the timed phases only, how many cores this process
// (ingester + embedded NATS) and the ClickHouse server kept busy. On a
// 2-core machine the sum says whether a figure is CPU-bound (near 2) or
// waiting on something (well below).
type meter struct {
	*cpumeter.Meter
	chPid int
}

// newMeter watches this process and the ClickHouse server chPid (0: none).
func newMeter(chPid int) *meter { return &meter{cpumeter.NewMeter(chPid), chPid} }

func (m *meter) start() { m.Start() }
func (m *meter) stop()  { m.Stop() }

func (m *meter) report(b *testing.B) {
	if m.Wall <= 0 {
		return
	}
	self, ch, other := m.Cores()
	b.ReportMetric(self, "collector-cores")
	if m.chPid != 0 {
		b.ReportMetric(ch, "clickhouse-cores")
	}
	// Everything else the machine ran meanwhile (other jobs on a shared
	// host): a high value means the figures above are low because the CPU
	// was taken, not because the code is slow.
	b.ReportMetric(other, "other-cores")
}
