// Package cpumeter measures, for benchmarks on shared hosts, how many cores
// this process, a ClickHouse server and the rest of the machine used over
// timed intervals, from /proc.
package cpumeter

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Meter adds up how many cores this process and the ClickHouse server
// kept busy while a figure was measured, and what the rest of the machine
// used meanwhile. On a shared 2-core host a slow figure with high "other"
// was slow because something else had the CPU; the table says so rather
// than blaming (or crediting) the code.
type Meter struct {
	chPid            string
	Self, CH, All    float64 // CPU seconds
	Wall             time.Duration
	t0               time.Time
	self0, ch0, all0 float64
}

// NewMeter watches this process and the ClickHouse server chPid.
func NewMeter(chPid int) *Meter { return &Meter{chPid: fmt.Sprint(chPid)} }

// Start begins a measured interval.
func (m *Meter) Start() {
	m.t0, m.self0, m.ch0, m.all0 = time.Now(), cpuSeconds("self"), cpuSeconds(m.chPid), machineBusySeconds()
}

// Stop ends it; intervals add up.
func (m *Meter) Stop() {
	m.Wall += time.Since(m.t0)
	m.Self += cpuSeconds("self") - m.self0
	m.CH += cpuSeconds(m.chPid) - m.ch0
	m.All += machineBusySeconds() - m.all0
}

// Cores returns the average cores used by this process, by ClickHouse
// and by everything else over the measured intervals.
func (m *Meter) Cores() (self, ch, other float64) {
	s := m.Wall.Seconds()
	if s <= 0 {
		return 0, 0, 0
	}
	return m.Self / s, m.CH / s, max(m.All-m.Self-m.CH, 0) / s
}

// clockTick is Linux's USER_HZ, the unit of /proc/<pid>/stat times.
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
