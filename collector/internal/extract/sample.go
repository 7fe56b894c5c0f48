package extract

import (
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"strings"
)

// SampleAlgorithm describes Sample for the manifest and README, precisely
// enough to re-implement it.
const SampleAlgorithm = "sort the sample frame by device_id (byte order); r = Go math/rand/v2 NewPCG(seed, 0); " +
	"for i = 0 .. n-1: m = frame size - i, draw x = r.Uint64() until x >= (2^64 - m) mod m, j = i + x mod m, " +
	"swap frame[i] and frame[j]; the sample is frame[0 .. n-1] in draw order (a partial Fisher-Yates shuffle)"

// Sample draws n ids from frame reproducibly: the same frame (in any
// order) and seed always give the same ids in the same order. It spells
// out the shuffle instead of calling rand.Shuffle because the auditor must
// be able to re-derive the draw from the README, and because the standard
// library does not promise Shuffle's sequence across Go releases.
func Sample(frame []string, n int, seed uint64) []string {
	ids := slices.Clone(frame)
	slices.Sort(ids)
	n = min(max(n, 0), len(ids))
	r := rand.New(rand.NewPCG(seed, 0))
	for i := range n {
		j := i + int(uniform(r, uint64(len(ids)-i)))
		ids[i], ids[j] = ids[j], ids[i]
	}
	return ids[:n]
}

// uniform returns an unbiased value in [0, m) by rejecting the few draws
// that would make x mod m favour small values.
func uniform(r *rand.Rand, m uint64) uint64 {
	threshold := -m % m // (2^64 - m) mod m in uint64 arithmetic
	for {
		if x := r.Uint64(); x >= threshold {
			return x % m
		}
	}
}

// DefaultSeed derives the seed used when none is given from the controls
// and the period, so an extract run without -seed is still reproducible:
// the first 8 bytes, big-endian, of SHA-256("fleetproof-sample|" +
// controls joined by "," + "|" + from + "|" + to) with dates as YYYY-MM-DD.
func DefaultSeed(controls []string, from, to string) uint64 {
	sum := sha256.Sum256([]byte("fleetproof-sample|" + strings.Join(controls, ",") + "|" + from + "|" + to))
	return binary.BigEndian.Uint64(sum[:8])
}
