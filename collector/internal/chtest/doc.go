// Package chtest gives tests a real ClickHouse server: one per test binary,
// started on first use from the same chserver code the collector runs, and
// a fresh database per test so tests can run in parallel without seeing
// each other's tables.
//
// Use it from TestMain so the server is stopped and its temp dir removed:
//
//	func TestMain(m *testing.M) { chtest.Main(m) }
//
// The shared server must stay up for the whole binary. A test that stops,
// kills or restarts a server (outage, recovery) must start its own with
// chserver.Start and a t.TempDir instead.
package chtest
