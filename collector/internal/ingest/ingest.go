package ingest

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/fleetproof/fleetproof/collector/internal/store"
	"github.com/fleetproof/fleetproof/evidence"
)

// Store is what ingest needs from storage.
type Store interface {
	// InsertEncoded stores accepted envelopes whose rows ingest passes
	// through as received (see store.EncodedEnvelope).
	InsertEncoded(ctx context.Context, envs []store.EncodedEnvelope, receivedAt time.Time) error
	InsertDeadLetters(ctx context.Context, dls []store.DeadLetter) error
	Device(ctx context.Context, id string) (store.Device, error)
	Revoked(ctx context.Context, deviceID string) (bool, error)
	Ping(ctx context.Context) error
}

// Observer receives what ingest does, e.g. for metrics.
type Observer interface {
	ObserveBatch(messages, envelopes, results int, took time.Duration)
	ObserveInsertFailure()
	ObserveDeadLetter(reason string)
}

type nopObserver struct{}

func (nopObserver) ObserveBatch(int, int, int, time.Duration) {}
func (nopObserver) ObserveInsertFailure()                     {}
func (nopObserver) ObserveDeadLetter(string)                  {}

// Options configure an Ingester.
type Options struct {
	Consumer jetstream.Consumer
	Store    Store
	Logger   *slog.Logger
	// BatchSize is how many messages one fetch takes; each message holds
	// many results, so inserts are far larger than this.
	BatchSize int
	// MaxWait bounds how long a fetch waits to fill a batch.
	MaxWait time.Duration
	// MaxMessageBytes refuses larger messages as dead letters.
	MaxMessageBytes int
	// MaxBackoff caps the wait between retries while ClickHouse fails.
	MaxBackoff time.Duration
	Now        func() time.Time
	Observer   Observer
}

// Stats count what an Ingester has done since it started.
type Stats struct {
	Envelopes   uint64
	Results     uint64
	DeadLetters uint64
	Batches     uint64
	Retries     uint64
}

// Ingester runs the fetch → verify → insert → ack loop.
type Ingester struct {
	o    Options
	log  *slog.Logger
	keys sync.Map // device id → ed25519.PublicKey
	// batchKeys holds keys decoded for sigbatch, by their bytes: the
	// decoding is a field square root, too dear to repeat per envelope.
	batchKeys sync.Map // string(public key) → *sigbatch.Key

	envelopes, results, dead, batches, retries atomic.Uint64
	notify                                     chan struct{}
}

// New returns an Ingester; Run starts it.
func New(o Options) *Ingester {
	if o.BatchSize == 0 {
		o.BatchSize = 500
	}
	if o.MaxWait == 0 {
		o.MaxWait = time.Second
	}
	if o.MaxMessageBytes == 0 {
		o.MaxMessageBytes = 4 << 20
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = 10 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Observer == nil {
		o.Observer = nopObserver{}
	}
	return &Ingester{o: o, log: o.Logger.With("component", "ingest"), notify: make(chan struct{}, 1)}
}

// Stats returns the counters.
func (in *Ingester) Stats() Stats {
	return Stats{
		Envelopes: in.envelopes.Load(), Results: in.results.Load(), DeadLetters: in.dead.Load(),
		Batches: in.batches.Load(), Retries: in.retries.Load(),
	}
}

// Progress is signalled (without blocking) after every committed or
// failed batch, so callers can wait for ingest instead of sleeping.
func (in *Ingester) Progress() <-chan struct{} { return in.notify }

// Forget drops a cached device key, e.g. after re-enrollment or revocation.
func (in *Ingester) Forget(deviceID string) { in.keys.Delete(deviceID) }

// batchTimeout bounds storing one batch; it stays below the consumer's
// AckWait so a slow insert fails here rather than being redelivered.
const batchTimeout = 25 * time.Second

// fetched is a batch fetched and verified, waiting to be stored.
type fetched struct {
	msgs []jetstream.Msg
	prep *prepared
	err  error // from verification: storage could not be asked for keys
}

// Run fetches and ingests until ctx ends.
//
// Fetching and verifying the next batch runs while the current one is
// being stored: storing is mostly waiting for ClickHouse, and verifying
// is mostly CPU, so one Ingester keeps both busy instead of taking turns.
// At most two batches are in hand (one being stored, one ready); each is
// still acknowledged only after its own insert succeeded.
func (in *Ingester) Run(ctx context.Context) error {
	ready := make(chan fetched)
	go in.fetchLoop(ctx, ready)
	backoff := time.Duration(0)
	// The loop ends when fetchLoop closes ready, after ctx ended: a batch
	// fetched before that is still stored, not left unacknowledged.
	for f := range ready {
		// A fetched batch is finished even when the collector is stopping:
		// cancelling its insert half-way would leave it stored but unacked,
		// to be redelivered to another collector only after AckWait.
		bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), batchTimeout)
		err := f.err
		if err == nil {
			err = in.commit(bctx, f.msgs, f.prep)
		}
		var ie *insertError
		if errors.As(err, &ie) && in.o.Store.Ping(bctx) == nil {
			// Storage answers, so something in the batch is what it
			// refuses: isolate it rather than retry the batch forever.
			in.log.Warn("batch refused while storage is up; storing messages one by one", "messages", len(f.msgs), "err", err)
			err = in.isolate(bctx, f.msgs)
		}
		cancel()
		if err != nil {
			in.retries.Add(1)
			in.o.Observer.ObserveInsertFailure()
			backoff = min(max(2*backoff, 500*time.Millisecond), in.o.MaxBackoff)
			in.log.Error("batch not stored; will retry", "messages", len(f.msgs), "retry_in", backoff, "err", err)
			for _, m := range f.msgs {
				_ = m.NakWithDelay(backoff)
			}
			in.signal()
			// While stopping, the batch already fetched is still handed
			// back now rather than after a wait.
			sleep(ctx, backoff)
			continue
		}
		backoff = 0
	}
	return nil
}

// fetchLoop fetches and verifies batches and hands them to Run until ctx
// ends, then closes ready.
func (in *Ingester) fetchLoop(ctx context.Context, ready chan<- fetched) {
	defer close(ready)
	for ctx.Err() == nil {
		batch, err := in.o.Consumer.Fetch(in.o.BatchSize, jetstream.FetchMaxWait(in.o.MaxWait))
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			in.log.Warn("fetch failed", "err", err)
			if !sleep(ctx, time.Second) {
				return
			}
			continue
		}
		var msgs []jetstream.Msg
		for m := range batch.Messages() {
			msgs = append(msgs, m)
		}
		if err := batch.Error(); err != nil && ctx.Err() == nil {
			in.log.Debug("fetch ended early", "err", err)
		}
		if len(msgs) == 0 {
			continue
		}
		vctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), batchTimeout)
		prep, err := in.prepare(vctx, msgs)
		cancel()
		// Handed over even when ctx has ended: Run stores what was fetched.
		ready <- fetched{msgs: msgs, prep: prep, err: err}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// prepared is a verified batch: the envelopes to store and the dead
// letters to record, in message order.
type prepared struct {
	now  time.Time
	good []store.EncodedEnvelope
	dead []store.DeadLetter
}

// process verifies, stores and acks one batch. An error means nothing was
// acknowledged and the whole batch must be retried.
func (in *Ingester) process(ctx context.Context, msgs []jetstream.Msg) error {
	p, err := in.prepare(ctx, msgs)
	if err != nil {
		return err
	}
	return in.commit(ctx, msgs, p)
}

// prepare verifies a batch. An error means the verdicts could not be
// reached now (storage unreachable for key lookups).
func (in *Ingester) prepare(ctx context.Context, msgs []jetstream.Msg) (*prepared, error) {
	now := in.o.Now()
	if err := in.preloadKeys(ctx, msgs); err != nil {
		return nil, err
	}
	verdicts := in.verifyAll(ctx, msgs, now)
	p := &prepared{now: now, good: make([]store.EncodedEnvelope, 0, len(msgs))}
	for i, m := range msgs {
		env, reason, err := verdicts[i].env, verdicts[i].reason, verdicts[i].err
		if err != nil {
			return nil, err
		}
		if reason != "" {
			dl := store.DeadLetter{
				Subject: m.Subject(), MsgID: m.Headers().Get(evidence.MsgIDHeader),
				DeviceID: subjectDevice(m.Subject()), Reason: reason, Payload: m.Data(), ReceivedAt: now,
			}
			if md, err := m.Metadata(); err == nil {
				dl.Stream, dl.StreamSeq = md.Stream, md.Sequence.Stream
			}
			in.log.Warn("dead-lettered message", "subject", dl.Subject, "reason", reason)
			code, _, _ := strings.Cut(reason, ":")
			in.o.Observer.ObserveDeadLetter(code)
			p.dead = append(p.dead, dl)
			continue
		}
		p.good = append(p.good, env)
	}
	return p, nil
}

// commit stores a prepared batch and acks its messages. An error means
// nothing was acknowledged and the whole batch must be retried.
func (in *Ingester) commit(ctx context.Context, msgs []jetstream.Msg, p *prepared) error {
	start := time.Now()
	if err := in.o.Store.InsertEncoded(ctx, p.good, p.now); err != nil {
		return &insertError{err}
	}
	if err := in.o.Store.InsertDeadLetters(ctx, p.dead); err != nil {
		return err
	}
	for _, m := range msgs {
		if err := m.Ack(); err != nil {
			// The rows are stored; a redelivery will collapse into them.
			in.log.Warn("ack failed; message will be redelivered and de-duplicated", "subject", m.Subject(), "err", err)
		}
	}
	in.batches.Add(1)
	in.envelopes.Add(uint64(len(p.good)))
	in.dead.Add(uint64(len(p.dead)))
	var n uint64
	for _, e := range p.good {
		n += uint64(len(e.Envelope.Results))
	}
	in.results.Add(n)
	in.o.Observer.ObserveBatch(len(msgs), len(p.good), int(n), time.Since(start))
	in.signal()
	return nil
}

func (in *Ingester) signal() {
	select {
	case in.notify <- struct{}{}:
	default:
	}
}

// insertError marks a failure of the insert itself, the only failure that
// a single message can cause; anything before it (key lookups) is storage
// trouble and is retried as such.
type insertError struct{ err error }

func (e *insertError) Error() string { return e.err.Error() }
func (e *insertError) Unwrap() error { return e.err }

// KeyStore is optionally implemented by the Store to look up many
// devices' keys in one query; without it keys are looked up one by one.
type KeyStore interface {
	DeviceKeys(ctx context.Context, ids []string) (keys map[string]string, revoked map[string]bool, err error)
}

// preloadKeys fetches, in one query, the keys of the batch's devices not
// yet cached: after a restart every device is new, and one query per
// device would dominate the first minutes of a backlog.
func (in *Ingester) preloadKeys(ctx context.Context, msgs []jetstream.Msg) error {
	ks, ok := in.o.Store.(KeyStore)
	if !ok {
		return nil
	}
	seen := map[string]bool{}
	var missing []string
	for _, m := range msgs {
		dev := subjectDevice(m.Subject())
		if dev == "" || seen[dev] {
			continue
		}
		seen[dev] = true
		if _, cached := in.keys.Load(dev); !cached {
			missing = append(missing, dev)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	keys, revoked, err := ks.DeviceKeys(ctx, missing)
	if err != nil {
		return err
	}
	for dev, pub := range keys {
		if revoked[dev] {
			continue
		}
		if raw, err := nkeys.Decode(nkeys.PrefixByteUser, []byte(pub)); err == nil {
			in.keys.Store(dev, ed25519.PublicKey(raw))
		}
	}
	return nil
}

// Dead-letter reason codes; the text after the colon is the detail.
const (
	ReasonTooLarge        = "too_large"
	ReasonBadSubject      = "bad_subject"
	ReasonMalformed       = "malformed"
	ReasonUnknownSchema   = "unknown_schema"
	ReasonInvalid         = "invalid"
	ReasonSubjectMismatch = "subject_mismatch"
	ReasonUnknownDevice   = "unknown_device"
	ReasonBadSignature    = "bad_signature"
	ReasonRevokedDevice   = "revoked_device"
)

// errRevoked marks a device whose key was revoked.
var errRevoked = errors.New("device revoked")

// ReasonStoreRejected marks a message storage refused on its own while
// accepting others: without it one such message would block the stream.
const ReasonStoreRejected = "store_rejected"

// isolate stores msgs one at a time; a message storage refuses alone,
// while it still answers pings, is dead-lettered with the error. An error
// means storage itself failed and the remaining messages must be retried.
func (in *Ingester) isolate(ctx context.Context, msgs []jetstream.Msg) error {
	for i, m := range msgs {
		err := in.process(ctx, msgs[i:i+1])
		if err == nil {
			continue
		}
		if in.o.Store.Ping(ctx) != nil {
			for _, rest := range msgs[i:] {
				_ = rest.NakWithDelay(time.Second)
			}
			return err
		}
		now := in.o.Now()
		dl := store.DeadLetter{Subject: m.Subject(), MsgID: m.Headers().Get(evidence.MsgIDHeader),
			DeviceID: subjectDevice(m.Subject()), Reason: ReasonStoreRejected + ": " + err.Error(), Payload: m.Data(), ReceivedAt: now}
		if md, err := m.Metadata(); err == nil {
			dl.Stream, dl.StreamSeq = md.Stream, md.Sequence.Stream
		}
		if err := in.o.Store.InsertDeadLetters(ctx, []store.DeadLetter{dl}); err != nil {
			for _, rest := range msgs[i:] {
				_ = rest.NakWithDelay(time.Second)
			}
			return err
		}
		in.log.Error("message refused by storage; dead-lettered", "subject", dl.Subject, "err", err)
		in.o.Observer.ObserveDeadLetter(ReasonStoreRejected)
		in.dead.Add(1)
		_ = m.Ack()
	}
	in.signal()
	return nil
}

// verify returns the envelope, or a dead-letter reason, or an error when
// the decision cannot be made now (storage unreachable).
func (in *Ingester) key(ctx context.Context, dev string, refresh bool) (ed25519.PublicKey, error) {
	if !refresh {
		if k, ok := in.keys.Load(dev); ok {
			return k.(ed25519.PublicKey), nil
		}
	}
	d, err := in.o.Store.Device(ctx, dev)
	if err != nil {
		return nil, err
	}
	revoked, err := in.o.Store.Revoked(ctx, dev)
	if err != nil {
		return nil, err
	}
	if revoked {
		return nil, errRevoked
	}
	raw, err := nkeys.Decode(nkeys.PrefixByteUser, []byte(d.PublicKey))
	if err != nil {
		// A malformed stored key cannot verify anything; treat as unknown.
		return nil, fmt.Errorf("device %s: stored public key: %v: %w", dev, err, store.ErrNotFound)
	}
	k := ed25519.PublicKey(raw)
	in.keys.Store(dev, k)
	return k, nil
}

// subjectDevice returns the device token of evidence.v1.<device>.<kind>.
func subjectDevice(subject string) string {
	parts := strings.Split(subject, ".")
	if len(parts) != 4 || parts[0] != "evidence" || parts[1] != "v1" || !evidence.ValidDeviceID(parts[2]) {
		return ""
	}
	return parts[2]
}
