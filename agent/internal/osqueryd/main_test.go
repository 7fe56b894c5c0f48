package osqueryd

import (
	"os"
	"testing"

	"github.com/fleetproof/fleetproof/agent/internal/osqueryd/osquerydtest"
)

// TestMain lets the supervisor tests run this test binary as osqueryd.
func TestMain(m *testing.M) {
	osquerydtest.MainIfFake()
	os.Exit(m.Run())
}
