package bench

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
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

// clockTick is Linux's USER_HZ, the unit of /proc/<pid>/stat times; it is
// 100 on every architecture Go supports there.
const clockTick = 100

// cpuSeconds is the user+system CPU time of a process ("self" or a pid).
func cpuSeconds(pid string) float64 {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0
	}
	// The command name may hold spaces; fields are counted after its ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / clockTick
}

// meter adds up, over the timed phases only, how many cores this process
// (ingester + embedded NATS) and the ClickHouse server kept busy. On a
// 2-core machine the sum says whether a figure is CPU-bound (near 2) or
// waiting on something (well below).
type meter struct {
	chPid            string
	self, ch, all    float64
	wall             time.Duration
	t0               time.Time
	self0, ch0, all0 float64
}

// newMeter watches this process and the ClickHouse server chPid (0: none).
func newMeter(chPid int) *meter { return &meter{chPid: fmt.Sprint(chPid)} }

func (m *meter) start() {
	m.t0, m.self0, m.ch0, m.all0 = time.Now(), cpuSeconds("self"), cpuSeconds(m.chPid), machineBusySeconds()
}

func (m *meter) stop() {
	m.wall += time.Since(m.t0)
	m.self += cpuSeconds("self") - m.self0
	m.ch += cpuSeconds(m.chPid) - m.ch0
	m.all += machineBusySeconds() - m.all0
}

func (m *meter) report(b *testing.B) {
	if s := m.wall.Seconds(); s > 0 {
		b.ReportMetric(m.self/s, "collector-cores")
		if m.chPid != "0" {
			b.ReportMetric(m.ch/s, "clickhouse-cores")
		}
		// Everything else the machine ran meanwhile (other jobs on a
		// shared host): a high value means the figures above are low
		// because the CPU was taken, not because the code is slow.
		b.ReportMetric(max(m.all-m.self-m.ch, 0)/s, "other-cores")
	}
}

// machineBusySeconds is the CPU time all processes on the machine have
// used (every /proc/stat "cpu" field except idle and iowait).
func machineBusySeconds() float64 {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return 0
	}
	fields := strings.Fields(sc.Text()) // cpu user nice system idle iowait irq softirq steal ...
	var busy float64
	for i, v := range fields[1:] {
		if i == 3 || i == 4 || i >= 8 { // idle, iowait; guest times are already in user
			continue
		}
		n, _ := strconv.ParseFloat(v, 64)
		busy += n
	}
	return busy / clockTick
}
