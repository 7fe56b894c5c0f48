// Package sigbatch verifies many ed25519 signatures at once, for ingest:
// one multi-scalar multiplication over a batch instead of a double scalar
// multiplication per envelope, which was half of the collector's CPU.
//
// The standard library verifies one signature at a time, and the
// libraries of the field that batch (curve25519-voi, ed25519consensus)
// cannot be had here, so this is written on filippo.io/edwards25519, the
// group arithmetic the standard library's own ed25519 is built from. It
// is the textbook randomized batch equation (as in ed25519-dalek and
// ZIP 215):
//
//	[8]( Σ zᵢRᵢ + Σ (zᵢkᵢ)Aᵢ − (Σ zᵢSᵢ)B ) = 0,  kᵢ = SHA-512(Rᵢ‖Aᵢ‖Mᵢ), zᵢ random 128-bit
//
// A batch that passes means every signature in it is valid under the
// cofactored equation; a forger without the private key can make it pass
// no more than a single verification (the random zᵢ keep one bad
// signature from cancelling another). The cofactored equation accepts a
// few signatures the standard library's cofactorless check refuses (with
// small-order components only the key's holder can produce), so this
// accepts nothing from anyone but the device itself that the standard
// library would refuse. A batch that fails says nothing about which
// signature failed: callers then verify one by one with crypto/ed25519,
// which also decides what is refused and why.
package sigbatch
