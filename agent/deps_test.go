package main

import (
	"os/exec"
	"strings"
	"testing"
)

// The agent runs on every laptop: it must stay small and must not carry
// server-side code. The design forbids these imports outright.
func TestAgentDoesNotLinkServerSideCode(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/fleetproof/fleetproof/agent").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	forbidden := []string{
		"github.com/ClickHouse/clickhouse-go",
		"github.com/nats-io/nats-server",
		"github.com/fleetproof/fleetproof/collector",
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if strings.HasPrefix(dep, f) {
				t.Errorf("the agent links %s", dep)
			}
		}
	}
}
