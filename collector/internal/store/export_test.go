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

// SetRollupScanPairs sets how many silent pairs LatestResults looks up by
// key before it reads every pair's rollup, and returns the previous
// value. Tests that call it must not be parallel.
func SetRollupScanPairs(n int) int {
	old := rollupScanPairs
	rollupScanPairs = n
	return old
}
