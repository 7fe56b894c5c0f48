package ingest

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/fleetproof/fleetproof/collector/internal/sigbatch"
	"github.com/fleetproof/fleetproof/collector/internal/store"
	"github.com/fleetproof/fleetproof/evidence"
)

// verdict is what verification decided about one message: an envelope to
// store, a reason to dead-letter it, or an error (storage unreachable).
type verdict struct {
	env    store.EncodedEnvelope
	reason string
	err    error
}

// verifyAll decodes and checks signatures on all cores: JSON decoding and
// ed25519 verification are most of ingest's CPU, and messages are
// independent. Order is kept so acks and dead letters line up.
func (in *Ingester) verifyAll(ctx context.Context, msgs []jetstream.Msg, now time.Time) []verdict {
	out := make([]verdict, len(msgs))
	cand := make([]candidate, len(msgs))
	workers := min(runtime.GOMAXPROCS(0), len(msgs))
	parallel(workers, len(msgs), func(i int) {
		env, c, reason, err := in.precheck(ctx, msgs[i], now)
		out[i], cand[i] = verdict{env, reason, err}, c
	})
	// The signatures of what passed every other check, verified a batch
	// per core (package sigbatch); a batch that fails is verified one by
	// one, which finds the bad signature and refreshes a key that changed.
	var idx, single []int
	for i, c := range cand {
		switch {
		case c.key != nil:
			idx = append(idx, i)
		case c.single:
			single = append(single, i)
		}
	}
	parallel(min(workers, len(single)), len(single), func(j int) {
		i := single[j]
		env, reason, err := in.verify(ctx, msgs[i], now)
		out[i] = verdict{env, reason, err}
	})
	chunks := min(workers, len(idx))
	parallel(chunks, chunks, func(w int) {
		part := idx[w*len(idx)/chunks : (w+1)*len(idx)/chunks]
		items := make([]sigbatch.Item, len(part))
		for j, i := range part {
			items[j] = sigbatch.Item{Key: cand[i].key, Message: msgs[i].Data(), Sig: cand[i].sig}
		}
		if sigbatch.Verify(items) {
			return
		}
		for _, i := range part {
			env, reason, err := in.verify(ctx, msgs[i], now)
			out[i] = verdict{env, reason, err}
		}
	})
	return out
}

// parallel calls fn(0..n-1) on workers goroutines and waits.
func parallel(workers, n int, fn func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	wg.Add(workers)
	for range workers {
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				fn(i)
			}
		}()
	}
	wg.Wait()
}

// batchKey returns pub decoded for sigbatch, from the cache when it can.
func (in *Ingester) batchKey(pub ed25519.PublicKey) (*sigbatch.Key, error) {
	if k, ok := in.batchKeys.Load(string(pub)); ok {
		return k.(*sigbatch.Key), nil
	}
	k, err := sigbatch.ParseKey(pub)
	if err != nil {
		return nil, err
	}
	in.batchKeys.Store(string(pub), k)
	return k, nil
}

// candidate is a message that passed every check but its signature: the
// decoded key and signature to verify in a batch. key is nil for a
// message already judged (refused, or left to verify one by one).
type candidate struct {
	key *sigbatch.Key
	sig []byte
	// single: verify alone (a signature or key that does not decode).
	single bool
}

// precheck is verify up to the signature: the verdict of a message
// refused before it, or the envelope and a candidate to verify. A message
// whose key or signature does not even decode is left to verify, which
// refuses it with the reason.
func (in *Ingester) precheck(ctx context.Context, m jetstream.Msg, now time.Time) (store.EncodedEnvelope, candidate, string, error) {
	env, reason, err := in.decodeChecked(m, now)
	if reason != "" || err != nil {
		return env, candidate{}, reason, err
	}
	dev := env.Envelope.DeviceID
	pub, err := in.key(ctx, dev, false)
	if err != nil {
		env, reason, err := in.verify(ctx, m, now) // names the reason (unknown, revoked) or the error
		return env, candidate{}, reason, err
	}
	sig, serr := base64.StdEncoding.DecodeString(m.Headers().Get(evidence.SignatureHeader))
	key, kerr := in.batchKey(pub)
	if serr != nil || kerr != nil {
		return env, candidate{single: true}, "", nil
	}
	return env, candidate{key: key, sig: sig}, "", nil
}

// decodeChecked decodes a message and checks everything but its
// signature: size, subject, envelope, and that the envelope names the
// device its subject does.
func (in *Ingester) decodeChecked(m jetstream.Msg, now time.Time) (store.EncodedEnvelope, string, error) {
	var none store.EncodedEnvelope
	data := m.Data()
	if len(data) > in.o.MaxMessageBytes {
		return none, fmt.Sprintf("%s: %d bytes > %d", ReasonTooLarge, len(data), in.o.MaxMessageBytes), nil
	}
	dev := subjectDevice(m.Subject())
	if dev == "" {
		return none, ReasonBadSubject + ": " + m.Subject(), nil
	}
	enc, err := decode(data, now)
	switch {
	case errors.Is(err, evidence.ErrMalformed):
		return none, ReasonMalformed + ": " + err.Error(), nil
	case errors.Is(err, evidence.ErrUnknownSchema):
		return none, ReasonUnknownSchema + ": " + err.Error(), nil
	case err != nil:
		return none, ReasonInvalid + ": " + err.Error(), nil
	}
	if env := enc.Envelope; env.DeviceID != dev {
		return none, fmt.Sprintf("%s: subject names %q, envelope says %q", ReasonSubjectMismatch, dev, env.DeviceID), nil
	}
	return enc, "", nil
}

func (in *Ingester) verify(ctx context.Context, m jetstream.Msg, now time.Time) (store.EncodedEnvelope, string, error) {
	var none store.EncodedEnvelope
	enc, reason, err := in.decodeChecked(m, now)
	if reason != "" || err != nil {
		return none, reason, err
	}
	dev := enc.Envelope.DeviceID
	sig := m.Headers().Get(evidence.SignatureHeader)
	for attempt := 0; attempt < 2; attempt++ {
		key, err := in.key(ctx, dev, attempt > 0)
		if errors.Is(err, store.ErrNotFound) {
			return none, ReasonUnknownDevice + ": " + dev, nil
		}
		if errors.Is(err, errRevoked) {
			return none, ReasonRevokedDevice + ": " + dev, nil
		}
		if err != nil {
			return none, "", err
		}
		if evidence.Verify(key, m.Data(), sig) {
			return enc, "", nil
		}
		// The device may have re-enrolled with a new key through another
		// collector: look again once before refusing.
	}
	if sig == "" {
		return none, ReasonBadSignature + ": unsigned", nil
	}
	return none, ReasonBadSignature + ": does not verify against the enrolled key of " + dev, nil
}
