// This file is added to the agent's package main with `go build -overlay`
// by TestAgentFootprintVariants, to measure memory settings without
// changing the agent's code (testdata is never built on its own).

package main

import (
	"os"
	"runtime/debug"
	"time"
)

func init() {
	// Return freed heap pages to the OS shortly after they are freed,
	// instead of leaving it to the background scavenger.
	if os.Getenv("AGENTTEST_FREE_OS_MEMORY") != "" {
		go func() {
			for {
				time.Sleep(2 * time.Second)
				debug.FreeOSMemory()
			}
		}()
	}
}
