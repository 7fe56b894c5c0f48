package sigbatch_test

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	mrand "math/rand/v2"
	"testing"

	"filippo.io/edwards25519"

	"github.com/fleetproof/fleetproof/collector/internal/sigbatch"
)

type signer struct {
	priv ed25519.PrivateKey
	key  *sigbatch.Key
}

func signers(t testing.TB, n int) []signer {
	t.Helper()
	out := make([]signer, n)
	for i := range out {
		seed := bytes.Repeat([]byte{byte(i + 1)}, ed25519.SeedSize)
		priv := ed25519.NewKeyFromSeed(seed)
		k, err := sigbatch.ParseKey(priv.Public().(ed25519.PublicKey))
		if err != nil {
			t.Fatal(err)
		}
		out[i] = signer{priv, k}
	}
	return out
}

// batch signs n messages of size bytes, spread over the signers.
func batch(t testing.TB, ss []signer, n, size int) []sigbatch.Item {
	t.Helper()
	items := make([]sigbatch.Item, n)
	for i := range items {
		s := ss[i%len(ss)]
		unit := []byte(fmt.Sprintf("envelope %d;", i))
		msg := bytes.Repeat(unit, size/len(unit)+1)[:size]
		items[i] = sigbatch.Item{Key: s.key, Message: msg, Sig: ed25519.Sign(s.priv, msg)}
	}
	return items
}

func TestValidBatchesVerify(t *testing.T) {
	ss := signers(t, 7)
	for _, n := range []int{0, 1, 2, 3, 50, 300} {
		if !sigbatch.Verify(batch(t, ss, n, 200)) {
			t.Errorf("a batch of %d valid signatures does not verify", n)
		}
	}
}

// Any one bad signature fails the batch, wherever it is and however it is
// bad; and crypto/ed25519 refuses it too, so the one-by-one pass that
// follows a failed batch finds it.
func TestOneBadSignatureFailsTheBatch(t *testing.T) {
	ss := signers(t, 5)
	other := signers(t, 6)[5]
	for name, spoil := range map[string]func(it *sigbatch.Item){
		"message changed":      func(it *sigbatch.Item) { it.Message = append(bytes.Clone(it.Message), '!') },
		"R bit flipped":        func(it *sigbatch.Item) { it.Sig = flip(it.Sig, 3) },
		"S bit flipped":        func(it *sigbatch.Item) { it.Sig = flip(it.Sig, 40) },
		"another device's key": func(it *sigbatch.Item) { it.Key = other.key },
		"S not below the order": func(it *sigbatch.Item) {
			sig := bytes.Clone(it.Sig)
			sig[63] |= 0x10 // S >= 2^252 + ... > L, but the top three bits clear
			it.Sig = sig
		},
		"top bits of S set": func(it *sigbatch.Item) { it.Sig = flip(it.Sig, 63) },
		"short":             func(it *sigbatch.Item) { it.Sig = it.Sig[:63] },
		"empty":             func(it *sigbatch.Item) { it.Sig = nil },
		"R not a point": func(it *sigbatch.Item) {
			sig := bytes.Clone(it.Sig)
			copy(sig[:32], notAPoint(t))
			it.Sig = sig
		},
		"no key": func(it *sigbatch.Item) { it.Key = nil },
	} {
		for _, at := range []int{0, 17, 39} {
			items := batch(t, ss, 40, 300)
			spoil(&items[at])
			if sigbatch.Verify(items) {
				t.Errorf("%s at %d: the batch verifies", name, at)
			}
			if it := items[at]; it.Key != nil && ed25519.Verify(it.Key.Public(), it.Message, it.Sig) {
				t.Errorf("%s: crypto/ed25519 accepts it, so the fallback would too", name)
			}
		}
	}
}

// Two wrong signatures whose errors would cancel in an unweighted sum:
// S₁+d and S₂−d on the same key. The random weights keep them apart.
func TestErrorsDoNotCancel(t *testing.T) {
	ss := signers(t, 1)
	items := batch(t, ss, 2, 64)
	d := []byte{5}
	items[0].Sig = addToS(items[0].Sig, d, +1)
	items[1].Sig = addToS(items[1].Sig, d, -1)
	for range 20 {
		if sigbatch.Verify(items) {
			t.Fatal("two cancelling errors pass the batch")
		}
	}
}

// On random mixes of valid and spoiled signatures the batch says "all
// valid" exactly when crypto/ed25519 accepts each one.
func TestAgreesWithTheStandardLibrary(t *testing.T) {
	ss := signers(t, 9)
	rng := mrand.New(mrand.NewPCG(7, 11))
	for round := range 200 {
		items := batch(t, ss, 1+rng.IntN(30), 1+rng.IntN(500))
		if rng.IntN(2) == 0 {
			i := rng.IntN(len(items))
			items[i].Sig = flip(items[i].Sig, rng.IntN(64))
		}
		all := true
		for _, it := range items {
			all = all && ed25519.Verify(it.Key.Public(), it.Message, it.Sig)
		}
		if got := sigbatch.Verify(items); got != all {
			t.Fatalf("round %d: batch says %v, crypto/ed25519 %v", round, got, all)
		}
	}
}

func TestParseKeyRefusesWhatIsNotAKey(t *testing.T) {
	identity := make([]byte, 32)
	identity[0] = 1 // y = 1: the neutral element, of order 1
	order2 := make([]byte, 32)
	order2[0], order2[31] = 0xec, 0x7f // y = -1 (p-1): order 2
	for i := 1; i < 31; i++ {
		order2[i] = 0xff
	}
	for _, pub := range [][]byte{nil, make([]byte, 31), notAPoint(t), identity, order2} {
		if _, err := sigbatch.ParseKey(pub); err == nil {
			t.Errorf("ParseKey(%x) succeeds", pub)
		}
	}
}

// notAPoint is the first encoding y = 2, 3, ... that is no curve point
// (about half of all y are not).
func notAPoint(t testing.TB) []byte {
	for y := 2; y < 1000; y++ {
		enc := make([]byte, 32)
		enc[0], enc[1] = byte(y), byte(y>>8)
		if _, err := new(edwards25519.Point).SetBytes(enc); err != nil {
			return enc
		}
	}
	t.Fatal("no invalid encoding among small y")
	return nil
}

func flip(sig []byte, byteIdx int) []byte {
	out := bytes.Clone(sig)
	out[byteIdx] ^= 0x01
	return out
}

// addToS adds sign*d (little-endian, small) to S without reducing: for
// the small d here S stays canonical.
func addToS(sig, d []byte, sign int) []byte {
	out := bytes.Clone(sig)
	carry := 0
	for i := range 32 {
		v := int(out[32+i]) + carry
		if i < len(d) {
			v += sign * int(d[i])
		}
		carry = 0
		for v < 0 {
			v += 256
			carry--
		}
		for v > 255 {
			v -= 256
			carry++
		}
		out[32+i] = byte(v)
	}
	return out
}

// A batch as ingest verifies it: half a 2,500-envelope fetch per core,
// ~6.7 KB envelopes, several per device.
func BenchmarkVerify(b *testing.B) {
	ss := signers(b, 500)
	items := batch(b, ss, 1250, 6749)
	b.Run("batch", func(b *testing.B) {
		for b.Loop() {
			if !sigbatch.Verify(items) {
				b.Fatal("does not verify")
			}
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*len(items)), "us/sig")
	})
	b.Run("one-by-one", func(b *testing.B) {
		for b.Loop() {
			for _, it := range items {
				if !ed25519.Verify(it.Key.Public(), it.Message, it.Sig) {
					b.Fatal("does not verify")
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*len(items)), "us/sig")
	})
}
