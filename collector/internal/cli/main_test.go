package cli_test

import (
	"testing"

	"github.com/fleetproof/fleetproof/collector/internal/chtest"
)

// TestMain stops the shared ClickHouse test server the command tests start.
func TestMain(m *testing.M) { chtest.Main(m) }
