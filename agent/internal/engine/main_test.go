package engine

import (
	"os"
	"testing"

	"github.com/fleetproof/fleetproof/agent/internal/osqueryd/osquerydtest"
)

// TestMain lets tests run this test binary as a stand-in osqueryd.
func TestMain(m *testing.M) {
	osquerydtest.MainIfFake()
	os.Exit(m.Run())
}
