package store

// SetRefineLookupMax sets how many ambiguous pairs ComplianceDays looks
// up by key before it lets the server find them, and returns the
// previous value. Tests that call it must not be parallel.
func SetRefineLookupMax(n int) int {
	old := refineLookupMax
	refineLookupMax = n
	return old
}

// SetChunkTarget sets how many device-days EachResult aims at per query
// and returns the previous value. Tests that call it must not be
// parallel.
func SetChunkTarget(n int) int {
	old := chunkTarget
	chunkTarget = n
	return old
}

// SetLatestThresholds sets how many silent pairs LatestResults looks up
// by key before it reads every pair's rollup, and how many silent
// devices it names in a query before it reads every device's, and
// returns the previous values. Tests that call it must not be parallel.
func SetLatestThresholds(pairs, devices int) (int, int) {
	oldPairs, oldDevices := rollupScanPairs, silentDevicesMax
	rollupScanPairs, silentDevicesMax = pairs, devices
	return oldPairs, oldDevices
}
