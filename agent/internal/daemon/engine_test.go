package daemon_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/fleetproof/fleetproof/agent/internal/daemon"
	"github.com/fleetproof/fleetproof/agent/internal/osquery/osquerytest"
)

// With no Engine given, Run opens the configured one: here osqueryd (the
// stand-in manager) on osquery_socket. Every result says "osquery", and
// the check on the agent's own extension table is answered through
// osqueryd (the stand-in has no core tables, so the others are errors).
func TestRunOnceUsesTheConfiguredOsqueryd(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the stand-in manager needs unix sockets; the catalog's linux checks are asserted")
	}
	ns := natsServer(t)
	stream := evidenceStream(t, ns)
	var coll collector
	srv := coll.serve(t, ns.ClientURL())
	stateDir := t.TempDir()
	osqd := osquerytest.New(t, osquerytest.WithPingInterval(200*time.Millisecond))

	o := options(t, srv.URL, enrollSecret, stateDir)
	o.Engine = nil
	o.Config.Engine, o.Config.OsquerySocket = "osquery", osqd.Path()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := daemon.Run(ctx, o); err != nil {
		t.Fatal(err)
	}
	deviceID, key := devicePublicKey(t, stateDir)
	seen, sawAutoUpdates := 0, false
	for _, env := range envelopes(t, stream, deviceID, key) {
		for _, r := range env.Results {
			seen++
			if r.Engine != "osquery" {
				t.Errorf("%s: engine %q", r.CheckID, r.Engine)
			}
			if r.CheckID == "os_auto_updates" {
				sawAutoUpdates = true
				if r.Status == "error" {
					t.Errorf("os_auto_updates through osqueryd: %s", r.Error)
				}
			}
		}
	}
	if seen == 0 || !sawAutoUpdates {
		t.Fatalf("%d results delivered, os_auto_updates among them: %v", seen, sawAutoUpdates)
	}
	// Run closed the engine: the agent's tables are deregistered.
	if err := osqd.Wait(ctx, func(s osquerytest.State) bool { return len(s.Extensions) == 0 && len(s.Deregistered) == 1 }); err != nil {
		t.Fatal(err)
	}
}
