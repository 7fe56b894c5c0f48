package hostfacts_test

import (
	"context"
	"runtime"
	"testing"

	"github.com/fleetproof/fleetproof/agent/internal/hostfacts"
)

func TestCollectReportsThisHost(t *testing.T) {
	f := hostfacts.Collect(context.Background())
	if f.OS != runtime.GOOS || f.Arch != runtime.GOARCH {
		t.Errorf("os/arch = %s/%s", f.OS, f.Arch)
	}
	if f.Hostname == "" || f.CPUCores == 0 || f.MemoryBytes == 0 {
		t.Errorf("missing facts: %+v", f)
	}
}
