package builtin

import (
	"context"
	"strconv"
	"strings"
)

var systemInfoTable = &tableDef{
	name: "system_info",
	columns: cols("hostname TEXT", "uuid TEXT", "cpu_type TEXT", "cpu_subtype TEXT", "cpu_brand TEXT",
		"cpu_physical_cores INTEGER", "cpu_logical_cores INTEGER", "cpu_sockets INTEGER",
		"cpu_microcode TEXT", "physical_memory BIGINT", "hardware_vendor TEXT", "hardware_model TEXT",
		"hardware_version TEXT", "hardware_serial TEXT", "board_vendor TEXT", "board_model TEXT",
		"board_version TEXT", "board_serial TEXT", "computer_name TEXT", "local_hostname TEXT"),
	gen: genSystemInfo,
}

type cpuInfo struct {
	brand, model, microcode    string
	logical, physical, sockets int
}

// parseCPUInfo counts logical CPUs ("processor" stanzas), sockets (distinct
// "physical id") and physical cores (distinct physical id/core id pairs).
// Architectures without those keys (arm64, VMs) fall back to one socket
// and logical == physical.
func parseCPUInfo(b []byte) cpuInfo {
	var ci cpuInfo
	sockets := map[string]bool{}
	cores := map[string]bool{}
	var physID string
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "processor":
			ci.logical++
			physID = ""
		case "model name", "Model", "cpu model":
			if ci.brand == "" {
				ci.brand = v
			}
		case "model":
			if ci.model == "" {
				ci.model = v
			}
		case "microcode":
			if ci.microcode == "" {
				ci.microcode = v
			}
		case "physical id":
			physID = v
			sockets[v] = true
		case "core id":
			cores[physID+"/"+v] = true
		}
	}
	ci.sockets = max(len(sockets), 1)
	ci.physical = len(cores)
	if ci.physical == 0 {
		ci.physical = ci.logical
	}
	return ci
}

// parseMeminfo returns MemTotal in bytes.
func parseMeminfo(b []byte) int64 {
	for _, line := range strings.Split(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, "MemTotal:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return 0
		}
		kb, _ := strconv.ParseInt(f[0], 10, 64)
		return kb * 1024
	}
	return 0
}

// formatMachineID turns the 32-hex-digit machine-id into UUID form, the
// fallback identity when the firmware exposes no product_uuid (VMs,
// containers, many ARM boards).
func formatMachineID(id string) string {
	id = strings.ToLower(strings.TrimSpace(id))
	if len(id) != 32 {
		return id
	}
	return id[0:8] + "-" + id[8:12] + "-" + id[12:16] + "-" + id[16:20] + "-" + id[20:32]
}

func (e *Engine) hostUUID() string {
	if u := e.fs.readString("/sys/class/dmi/id/product_uuid"); u != "" {
		return strings.ToLower(u)
	}
	return formatMachineID(e.fs.readString("/etc/machine-id"))
}

func (e *Engine) hostname() string {
	if h := e.fs.readString("/proc/sys/kernel/hostname"); h != "" {
		return h
	}
	return e.fs.readString("/etc/hostname")
}

func genSystemInfo(_ context.Context, e *Engine) ([]row, error) {
	cpuRaw, _ := e.fs.read("/proc/cpuinfo")
	ci := parseCPUInfo(cpuRaw)
	memRaw, _ := e.fs.read("/proc/meminfo")
	host := e.hostname()
	dmi := func(f string) string { return e.fs.readString("/sys/class/dmi/id/" + f) }
	return []row{{
		"hostname": host, "uuid": e.hostUUID(),
		"cpu_type": machineArch(), "cpu_subtype": ci.model, "cpu_brand": ci.brand,
		"cpu_physical_cores": int64(ci.physical), "cpu_logical_cores": int64(ci.logical),
		"cpu_sockets": int64(ci.sockets), "cpu_microcode": ci.microcode,
		"physical_memory": parseMeminfo(memRaw),
		"hardware_vendor": dmi("sys_vendor"), "hardware_model": dmi("product_name"),
		"hardware_version": dmi("product_version"), "hardware_serial": dmi("product_serial"),
		"board_vendor": dmi("board_vendor"), "board_model": dmi("board_name"),
		"board_version": dmi("board_version"), "board_serial": dmi("board_serial"),
		"computer_name": host, "local_hostname": host,
	}}, nil
}
