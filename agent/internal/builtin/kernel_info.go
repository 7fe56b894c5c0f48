package builtin

import (
	"context"
	"strings"
)

var kernelInfoTable = &tableDef{
	name:    "kernel_info",
	columns: cols("version TEXT", "arguments TEXT", "path TEXT", "device TEXT"),
	gen:     genKernelInfo,
}

// parseProcVersion returns the release, the 3rd token of /proc/version
// ("Linux version 6.1.0-18-amd64 (...)").
func parseProcVersion(b []byte) string {
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return f[2]
}

// parseCmdline splits the kernel command line into the image path
// (BOOT_IMAGE=) and root device (root=), as osquery reports them.
func parseCmdline(b []byte) (args, path, device string) {
	args = strings.TrimSpace(string(b))
	for _, f := range strings.Fields(args) {
		if v, ok := strings.CutPrefix(f, "BOOT_IMAGE="); ok {
			path = v
		} else if v, ok := strings.CutPrefix(f, "root="); ok {
			device = v
		}
	}
	return args, path, device
}

func genKernelInfo(_ context.Context, e *Engine) ([]row, error) {
	ver, err := e.fs.read("/proc/version")
	if err != nil {
		return nil, nil
	}
	cmd, _ := e.fs.read("/proc/cmdline")
	args, path, device := parseCmdline(cmd)
	return []row{{"version": parseProcVersion(ver), "arguments": args, "path": path, "device": device}}, nil
}
