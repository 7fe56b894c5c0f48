package spool

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/fleetproof/fleetproof/evidence"
)

// Defaults applied by Open and Seal when the caller leaves a bound at zero.
const (
	DefaultMaxBytes      = 64 << 20
	DefaultMaxAge        = 30 * 24 * time.Hour
	DefaultEnvelopeBytes = 1 << 20
	DefaultSealResults   = 500
)

// Gap reasons, as they appear in evidence.Gap.Reason.
const (
	ReasonFull    = "spool full"
	ReasonAge     = "older than max age"
	ReasonCorrupt = "corrupt spool record"
)

// lockTimeout bounds how long Open waits for the file lock: long enough to
// ride out a previous agent process that is just exiting, short enough that
// a second agent on the same file fails fast instead of hanging a service
// start.
const lockTimeout = time.Second

var (
	bucketPending = []byte("pending")
	bucketOutbox  = []byte("outbox")
	bucketGaps    = []byte("gaps")
	bucketMeta    = []byte("meta")

	keyHeartbeat = []byte("heartbeat")
	keyDropped   = []byte("dropped")
)

// Options configure a Spool.
type Options struct {
	// Path is the bbolt file, created 0600; its directory must exist.
	Path string
	// MaxBytes bounds the stored bytes of pending results and sealed
	// envelopes; default DefaultMaxBytes. It is enforced when results are
	// appended, so the few hundred bytes of envelope overhead a Seal adds
	// can exceed it until the next Append makes room.
	MaxBytes int64
	// MaxAge drops results observed longer ago than this; default DefaultMaxAge.
	MaxAge time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger receives a warning for every drop; default slog.Default().
	Logger *slog.Logger
}

// Stats describe what the spool holds.
type Stats struct {
	Pending       int       // results not yet sealed
	Sealed        int       // envelopes sealed and not yet acknowledged
	SealedResults int       // results inside those envelopes
	Bytes         int64     // stored bytes counted against MaxBytes
	OldestPending time.Time // observed time of the oldest pending result; zero if none
	Dropped       uint64    // results dropped over the spool's lifetime
}

// Spool is a durable two-stage queue of evidence; see the package doc.
type Spool struct {
	db   *bolt.DB
	opts Options
	log  *slog.Logger

	// mu serialises writers and guards the counters below, which mirror
	// what is committed so Stats and the MaxBytes check need no full scan.
	mu      sync.Mutex
	pending int
	sealed  int
	bytes   int64
	dropped uint64
}

// Open opens or creates the spool file.
func Open(opts Options) (*Spool, error) {
	if opts.Path == "" {
		return nil, errors.New("spool: open: no path given")
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.MaxAge <= 0 {
		opts.MaxAge = DefaultMaxAge
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	db, err := bolt.Open(opts.Path, 0o600, &bolt.Options{Timeout: lockTimeout})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("spool: open: %s is locked by another process (is another agent running?): %w", opts.Path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("spool: open: %s: %w", opts.Path, err)
	}
	s := &Spool{db: db, opts: opts, log: opts.Logger.With("spool", opts.Path)}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketPending, bucketOutbox, bucketGaps, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		_ = tx.Bucket(bucketPending).ForEach(func(_, v []byte) error {
			s.pending++
			s.bytes += int64(len(v))
			return nil
		})
		_ = tx.Bucket(bucketOutbox).ForEach(func(_, v []byte) error {
			s.sealed++
			s.bytes += int64(len(v))
			return nil
		})
		if v := tx.Bucket(bucketMeta).Get(keyDropped); len(v) == 8 {
			s.dropped = binary.BigEndian.Uint64(v)
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("spool: open: %s: %w", opts.Path, err)
	}
	return s, nil
}

// Close releases the file and its lock.
func (s *Spool) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("spool: close: %w", err)
	}
	return nil
}

// Append stores results as pending; they are durable when it returns.
func (s *Spool) Append(results ...evidence.Result) error {
	if len(results) == 0 {
		return nil
	}
	// Encode outside the lock: it is the expensive part and needs no state.
	vals := make([][]byte, len(results))
	for i, r := range results {
		// A result the collector would reject would take its whole envelope
		// to the dead-letter stream with it, so refuse it here, where the
		// caller can still see the bug.
		if r.CheckID == "" || r.ObservedAt.IsZero() || !r.Status.Valid() {
			return fmt.Errorf("spool: append: result %d (%q): needs check_id, observed_at and a valid status (got %q)", i, r.CheckID, r.Status)
		}
		v, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("spool: append: encode result %d (%s): %w", i, r.CheckID, err)
		}
		vals[i] = v
	}
	err := s.update(func(w *writer) error {
		p := w.tx.Bucket(bucketPending)
		var firstNew uint64
		for i, v := range vals {
			id, err := p.NextSequence()
			if err != nil {
				return err
			}
			if i == 0 {
				firstNew = id
			}
			if err := p.Put(u64(id), v); err != nil {
				return err
			}
			w.d.pending++
			w.d.bytes += int64(len(v))
		}
		if err := w.dropAged(); err != nil {
			return err
		}
		return w.makeRoom(firstNew)
	})
	if err != nil {
		return fmt.Errorf("spool: append: %w", err)
	}
	return nil
}

// SetHeartbeat replaces the pending heartbeat: only the newest says anything
// useful about liveness, so queueing older ones would only cost space.
func (s *Spool) SetHeartbeat(h evidence.Heartbeat) error {
	if h.ObservedAt.IsZero() {
		// The collector would reject the envelope carrying it.
		return errors.New("spool: heartbeat: observed_at missing")
	}
	v, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("spool: heartbeat: %w", err)
	}
	err = s.update(func(w *writer) error {
		return w.tx.Bucket(bucketMeta).Put(keyHeartbeat, v)
	})
	if err != nil {
		return fmt.Errorf("spool: heartbeat: %w", err)
	}
	return nil
}

// Next returns the oldest sealed envelope not yet acknowledged. It returns
// the same bytes until Ack, so a retry is a true duplicate that JetStream
// de-duplicates by MsgID.
func (s *Spool) Next() (Batch, bool, error) {
	for {
		var b Batch
		var ok bool
		var bad uint64
		err := s.db.View(func(tx *bolt.Tx) error {
			k, v := tx.Bucket(bucketOutbox).Cursor().First()
			if k == nil {
				return nil
			}
			seq := binary.BigEndian.Uint64(k)
			rec, err := decodeOutbox(v)
			if err != nil {
				bad = seq
				return nil
			}
			b = Batch{Seq: seq, MsgID: rec.msgID, Subject: rec.subject, Body: bytes.Clone(rec.body), Results: rec.results}
			ok = true
			return nil
		})
		if err != nil {
			return Batch{}, false, fmt.Errorf("spool: next: %w", err)
		}
		if bad == 0 {
			return b, ok, nil
		}
		// An unreadable head record would otherwise block delivery forever.
		err = s.update(func(w *writer) error {
			v := w.tx.Bucket(bucketOutbox).Get(u64(bad))
			if v == nil {
				return nil
			}
			return w.dropOutbox(u64(bad), v)
		})
		if err != nil {
			return Batch{}, false, fmt.Errorf("spool: next: drop corrupt envelope %d: %w", bad, err)
		}
	}
}

// Ack removes an acknowledged envelope. Acking an unknown or already acked
// seq is not an error, because the publisher may retry an ack after a crash.
func (s *Spool) Ack(seq uint64) error {
	err := s.update(func(w *writer) error {
		ob := w.tx.Bucket(bucketOutbox)
		v := ob.Get(u64(seq))
		if v == nil {
			return nil
		}
		w.d.sealed--
		w.d.bytes -= int64(len(v))
		return ob.Delete(u64(seq))
	})
	if err != nil {
		return fmt.Errorf("spool: ack %d: %w", seq, err)
	}
	return nil
}

// Stats reports what the spool holds.
func (s *Spool) Stats() Stats {
	s.mu.Lock()
	st := Stats{Pending: s.pending, Sealed: s.sealed, Bytes: s.bytes, Dropped: s.dropped}
	s.mu.Unlock()
	_ = s.db.View(func(tx *bolt.Tx) error {
		if _, v := tx.Bucket(bucketPending).Cursor().First(); v != nil {
			if t, err := observedAt(v); err == nil {
				st.OldestPending = t
			}
		}
		// The outbox is short (sealed envelopes awaiting an ack), so
		// reading each header is cheap.
		return tx.Bucket(bucketOutbox).ForEach(func(_, v []byte) error {
			if r, err := decodeOutbox(v); err == nil {
				st.SealedResults += r.results
			}
			return nil
		})
	})
	return st
}

// update runs fn in one write transaction and, only once it has committed,
// applies its effect to the counters and logs its drops.
func (s *Spool) update(fn func(w *writer) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var w *writer
	err := s.db.Update(func(tx *bolt.Tx) error {
		w = &writer{s: s, tx: tx, now: s.opts.Now()}
		if err := fn(w); err != nil {
			return err
		}
		if w.d.dropped > 0 {
			return tx.Bucket(bucketMeta).Put(keyDropped, u64(s.dropped+w.d.dropped))
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.pending += w.d.pending
	s.sealed += w.d.sealed
	s.bytes += w.d.bytes
	s.dropped += w.d.dropped
	for _, g := range w.d.events {
		s.log.Warn("spool dropped evidence", "reason", g.Reason, "dropped", g.Dropped,
			"from", g.From, "to", g.To, "dropped_total", s.dropped)
	}
	return nil
}

// wrapErr prefixes a non-nil err with the operation, keeping nil nil.
func wrapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("spool: %s: %w", op, err)
}

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// observedAt decodes only the field the bounds need, which is cheaper than
// a full Result on the Append path.
func observedAt(v []byte) (time.Time, error) {
	var o struct {
		ObservedAt time.Time `json:"observed_at"`
	}
	if err := json.Unmarshal(v, &o); err != nil {
		return time.Time{}, err
	}
	if o.ObservedAt.IsZero() {
		return time.Time{}, errors.New("no observed_at")
	}
	return o.ObservedAt, nil
}
