package hostfacts

import (
	"context"
	"os"
	"runtime"
	"strings"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/host"
	"github.com/shirou/gopsutil/v4/mem"

	"github.com/fleetproof/fleetproof/evidence"
)

// Collect returns what can be learned; a fact that cannot be read stays
// empty rather than failing enrollment.
func Collect(ctx context.Context) evidence.HostFacts {
	f := evidence.HostFacts{OS: runtime.GOOS, Arch: runtime.GOARCH}
	if info, err := host.InfoWithContext(ctx); err == nil {
		f.Hostname = info.Hostname
		f.Platform = info.Platform
		f.PlatformVersion = info.PlatformVersion
		f.KernelVersion = info.KernelVersion
		f.HardwareUUID = info.HostID
		f.BootTime = int64(info.BootTime)
	}
	if f.Hostname == "" {
		f.Hostname, _ = os.Hostname()
	}
	if runtime.GOOS == "linux" {
		f.Serial = readTrim("/sys/class/dmi/id/product_serial")
		// host.Info prefers product_uuid but falls back to a random boot id
		// when it is unreadable; product_uuid itself is the hardware name.
		if u := readTrim("/sys/class/dmi/id/product_uuid"); u != "" {
			f.HardwareUUID = u
		}
	}
	if cpus, err := cpu.InfoWithContext(ctx); err == nil && len(cpus) > 0 {
		f.CPUModel = cpus[0].ModelName
	}
	if n, err := cpu.CountsWithContext(ctx, true); err == nil {
		f.CPUCores = n
	}
	if vm, err := mem.VirtualMemoryWithContext(ctx); err == nil {
		f.MemoryBytes = vm.Total
	}
	return f
}

func readTrim(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
