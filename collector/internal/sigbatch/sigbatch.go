package sigbatch

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha512"
	"errors"
	"fmt"

	"filippo.io/edwards25519"
)

// Key is a public key decoded once, to verify many signatures with.
type Key struct {
	pub   ed25519.PublicKey
	point *edwards25519.Point
}

// ParseKey decodes an ed25519 public key, failing where crypto/ed25519
// would refuse every signature under it, and for a point of small order:
// under such a key anyone can make signatures that verify, since its
// discrete logarithm is one of eight values. (nkeys refuses the
// small-order encodings too, so enrollment never accepts one.)
func ParseKey(pub ed25519.PublicKey) (*Key, error) {
	if len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("sigbatch: public key of %d bytes", len(pub))
	}
	p, err := new(edwards25519.Point).SetBytes(pub)
	if err != nil {
		return nil, fmt.Errorf("sigbatch: public key: %w", err)
	}
	if new(edwards25519.Point).MultByCofactor(p).Equal(edwards25519.NewIdentityPoint()) == 1 {
		return nil, errors.New("sigbatch: public key is a point of small order")
	}
	return &Key{pub: pub, point: p}, nil
}

// Public returns the key's encoding.
func (k *Key) Public() ed25519.PublicKey { return k.pub }

// Item is one signature to verify.
type Item struct {
	Key     *Key
	Message []byte
	Sig     []byte
}

// Verify reports whether every item's signature is valid. False means at
// least one may not be (or a signature is malformed): verify them one by
// one to know which. An empty batch is valid.
func Verify(items []Item) bool {
	if len(items) == 0 {
		return true
	}
	// Random 128-bit zᵢ: a 16-byte value is a canonical scalar.
	zs := make([]byte, 16*len(items))
	if _, err := rand.Read(zs); err != nil {
		return false
	}
	scalars := make([]*edwards25519.Scalar, 0, 2*len(items)+1)
	points := make([]*edwards25519.Point, 0, 2*len(items)+1)
	// One term per distinct key: a batch holds several envelopes of
	// most devices, and their coefficients add up.
	byKey := make(map[*Key]*edwards25519.Scalar, len(items))
	sumS := edwards25519.NewScalar()
	var zb [32]byte
	h := sha512.New()
	var digest [64]byte
	for i, it := range items {
		sig := it.Sig
		if it.Key == nil || len(sig) != ed25519.SignatureSize || sig[63]&224 != 0 {
			return false
		}
		s, err := edwards25519.NewScalar().SetCanonicalBytes(sig[32:])
		if err != nil {
			return false
		}
		r, err := new(edwards25519.Point).SetBytes(sig[:32])
		if err != nil {
			return false
		}
		h.Reset()
		h.Write(sig[:32])
		h.Write(it.Key.pub)
		h.Write(it.Message)
		k, err := edwards25519.NewScalar().SetUniformBytes(h.Sum(digest[:0]))
		if err != nil {
			return false
		}
		copy(zb[:16], zs[16*i:16*i+16])
		z, err := edwards25519.NewScalar().SetCanonicalBytes(zb[:])
		if err != nil {
			return false
		}
		sumS.MultiplyAdd(z, s, sumS)
		scalars, points = append(scalars, z), append(points, r)
		a := byKey[it.Key]
		if a == nil {
			a = edwards25519.NewScalar()
			byKey[it.Key] = a
			scalars, points = append(scalars, a), append(points, it.Key.point)
		}
		a.MultiplyAdd(z, k, a)
	}
	scalars = append(scalars, edwards25519.NewScalar().Negate(sumS))
	points = append(points, edwards25519.NewGeneratorPoint())
	check := new(edwards25519.Point).VarTimeMultiScalarMult(scalars, points)
	return check.MultByCofactor(check).Equal(edwards25519.NewIdentityPoint()) == 1
}
