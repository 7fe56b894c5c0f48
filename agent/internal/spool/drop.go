package spool

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/fleetproof/fleetproof/evidence"
)

// Where a gap's evidence was dropped from. Gaps only merge within one
// stage, because drops from the front of one stage are contiguous in arrival
// order (everything before them is already gone), while a pending drop and
// an outbox drop have the surviving envelopes of the outbox between them.
const (
	stagePending = "pending" // front of the pending stage (Append, Seal)
	stageOutbox  = "outbox"  // oldest sealed envelope
	stageCarried = "carried" // a gap that rode in a dropped envelope; never merged
)

// gapRecord is a stored gap. Stage is spool-internal and never sent.
type gapRecord struct {
	evidence.Gap
	Stage string `json:"stage"`
}

// delta is the effect of one transaction, applied to the Spool's counters
// only after it commits.
type delta struct {
	pending int
	sealed  int
	bytes   int64
	dropped uint64
	events  []evidence.Gap // one per reason, for the log
}

// writer carries one write transaction.
type writer struct {
	s   *Spool
	tx  *bolt.Tx
	now time.Time
	d   delta
}

// dropAged drops pending results older than MaxAge from the front. Results
// arrive roughly in observed order, so stopping at the first young one keeps
// Append cheap; Seal checks every result it takes and catches stragglers.
func (w *writer) dropAged() error {
	cutoff := w.now.Add(-w.s.opts.MaxAge)
	p := w.tx.Bucket(bucketPending)
	for {
		k, v := p.Cursor().First()
		if k == nil {
			return nil
		}
		t, err := observedAt(v)
		if err != nil || !t.Before(cutoff) {
			return nil // a corrupt head is Seal's to account for
		}
		if err := w.dropPending(k, v, ReasonAge); err != nil {
			return err
		}
	}
}

// makeRoom enforces MaxBytes after results from key firstNew on were added.
// Older pending results go first: sealed envelopes may already be on the
// wire awaiting their ack, and dropping one of those could report as lost
// evidence that the collector actually has. Only then the outbox, oldest
// first, and last the results just appended.
func (w *writer) makeRoom(firstNew uint64) error {
	over := func() bool { return w.s.bytes+w.d.bytes > w.s.opts.MaxBytes }
	p := w.tx.Bucket(bucketPending)
	for over() {
		k, v := p.Cursor().First()
		if k == nil || binary.BigEndian.Uint64(k) >= firstNew {
			break
		}
		if err := w.dropPending(k, v, ReasonFull); err != nil {
			return err
		}
	}
	ob := w.tx.Bucket(bucketOutbox)
	for over() {
		k, v := ob.Cursor().First()
		if k == nil {
			break
		}
		if err := w.dropOutbox(k, v); err != nil {
			return err
		}
	}
	for over() {
		k, v := p.Cursor().First()
		if k == nil {
			break
		}
		if err := w.dropPending(k, v, ReasonFull); err != nil {
			return err
		}
	}
	return nil
}

// dropPending deletes one pending record and records the gap it leaves.
func (w *writer) dropPending(k, v []byte, reason string) error {
	t, err := observedAt(v)
	if err != nil {
		// The record's own time is unreadable; date the gap when the loss
		// was found so it is still placed on the timeline.
		reason, t = ReasonCorrupt, w.now
	}
	w.d.pending--
	w.d.bytes -= int64(len(v))
	if err := w.tx.Bucket(bucketPending).Delete(k); err != nil {
		return err
	}
	return w.recordGap(gapRecord{Gap: evidence.Gap{From: t, To: t, Dropped: 1, Reason: reason}, Stage: stagePending})
}

// dropOutbox deletes one sealed envelope, recording a gap for its results
// and re-recording the gaps it carried, which would otherwise vanish with it.
func (w *writer) dropOutbox(k, v []byte) error {
	// Decode before deleting: v may alias the page the delete rewrites.
	n := 1
	var env evidence.Envelope
	rec, decErr := decodeOutbox(v)
	if decErr == nil {
		n = rec.results
		decErr = json.Unmarshal(rec.body, &env)
	}
	w.d.sealed--
	w.d.bytes -= int64(len(v))
	if err := w.tx.Bucket(bucketOutbox).Delete(k); err != nil {
		return err
	}
	if decErr != nil {
		// The results' times are unreadable (and, with a bad header, their
		// count too: at least one); date the gap when the loss was found.
		return w.recordGap(gapRecord{Gap: evidence.Gap{From: w.now, To: w.now, Dropped: max(n, 1), Reason: ReasonCorrupt}, Stage: stageOutbox})
	}
	if n := len(env.Results); n > 0 {
		from, to := env.Results[0].ObservedAt, env.Results[0].ObservedAt
		for _, r := range env.Results[1:] {
			if r.ObservedAt.Before(from) {
				from = r.ObservedAt
			}
			if r.ObservedAt.After(to) {
				to = r.ObservedAt
			}
		}
		if err := w.recordGap(gapRecord{Gap: evidence.Gap{From: from, To: to, Dropped: n, Reason: ReasonFull}, Stage: stageOutbox}); err != nil {
			return err
		}
	}
	for _, g := range env.Gaps {
		if err := w.storeGap(gapRecord{Gap: g, Stage: stageCarried}); err != nil {
			return err
		}
	}
	return nil
}

// recordGap counts and logs a new drop and stores it durably.
func (w *writer) recordGap(g gapRecord) error {
	w.count(g.Gap)
	return w.storeGap(g)
}

// count adds a drop to the transaction's total and its log events.
func (w *writer) count(g evidence.Gap) {
	w.d.dropped += uint64(g.Dropped)
	for i := range w.d.events {
		if w.d.events[i].Reason == g.Reason {
			w.d.events[i] = merged(w.d.events[i], g)
			return
		}
	}
	w.d.events = append(w.d.events, g)
}

// storeGap appends g to the gap bucket, extending the newest stored gap when
// both are drops of the same reason from the front of the same stage: then
// nothing survives between them and one range describes both exactly.
func (w *writer) storeGap(g gapRecord) error {
	b := w.tx.Bucket(bucketGaps)
	if k, v := b.Cursor().Last(); k != nil {
		var last gapRecord
		if json.Unmarshal(v, &last) == nil && mergeable(last, g) {
			last.Gap = merged(last.Gap, g.Gap)
			return putJSON(b, bytes.Clone(k), last)
		}
	}
	id, err := b.NextSequence()
	if err != nil {
		return err
	}
	return putJSON(b, u64(id), g)
}

func mergeable(last, g gapRecord) bool {
	return last.Reason == g.Reason && last.Stage == g.Stage && g.Stage != stageCarried
}

func merged(a, b evidence.Gap) evidence.Gap {
	if b.From.Before(a.From) {
		a.From = b.From
	}
	if b.To.After(a.To) {
		a.To = b.To
	}
	a.Dropped += b.Dropped
	return a
}

func putJSON(b *bolt.Bucket, k []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(k, data)
}
