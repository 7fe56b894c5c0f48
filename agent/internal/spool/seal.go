package spool

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/fleetproof/fleetproof/evidence"
)

// Batch is a sealed envelope, ready to publish as is.
type Batch struct {
	Seq     uint64
	MsgID   string // value for the Nats-Msg-Id header
	Subject string // evidence.Subject(device, "results") or (device, "heartbeat") when it has no results
	Body    []byte // the envelope's JSON, byte for byte what must be signed and sent
	Results int
}

// Seal moves up to maxResults of the oldest pending results, the pending
// heartbeat and every recorded gap into a new envelope with the next
// sequence number and stores its encoding in the outbox, in one transaction.
// DeviceID, AgentVersion and Schema come from tmpl; SentAt is now. The
// envelope is kept near maxBytes by taking fewer results, but a single
// result larger than that is still sealed alone rather than blocking every
// result behind it. ok is false when there is nothing to send.
func (s *Spool) Seal(tmpl evidence.Envelope, maxResults int, maxBytes int) (b Batch, ok bool, err error) {
	if !evidence.ValidDeviceID(tmpl.DeviceID) {
		// Sealed bytes are final; a bad id would be rejected on every retry.
		return Batch{}, false, fmt.Errorf("spool: seal: invalid device id %q", tmpl.DeviceID)
	}
	if maxResults <= 0 {
		maxResults = DefaultSealResults
	}
	if maxBytes <= 0 {
		maxBytes = DefaultEnvelopeBytes
	}
	// Publishers poll Seal whenever the outbox is empty; answering "nothing"
	// from a read transaction spares the disk an fsync per poll.
	var work bool
	if err := s.db.View(func(tx *bolt.Tx) error {
		pk, _ := tx.Bucket(bucketPending).Cursor().First()
		gk, _ := tx.Bucket(bucketGaps).Cursor().First()
		work = pk != nil || gk != nil || tx.Bucket(bucketMeta).Get(keyHeartbeat) != nil
		return nil
	}); err != nil || !work {
		return Batch{}, false, wrapErr("seal", err)
	}
	err = s.update(func(w *writer) error {
		b, ok, err = w.seal(tmpl, maxResults, maxBytes)
		return err
	})
	if err != nil {
		return Batch{}, false, fmt.Errorf("spool: seal: %w", err)
	}
	return b, ok, nil
}

func (w *writer) seal(tmpl evidence.Envelope, maxResults, maxBytes int) (Batch, bool, error) {
	env := evidence.Envelope{
		Schema:       tmpl.Schema,
		DeviceID:     tmpl.DeviceID,
		AgentVersion: tmpl.AgentVersion,
		SentAt:       w.now,
	}
	if env.Schema == 0 {
		env.Schema = evidence.SchemaVersion
	}

	meta := w.tx.Bucket(bucketMeta)
	if v := meta.Get(keyHeartbeat); v != nil {
		var h evidence.Heartbeat
		if err := json.Unmarshal(v, &h); err == nil {
			env.Heartbeat = &h
		} else {
			w.s.log.Warn("spool discarded unreadable heartbeat", "err", err)
		}
		if err := meta.Delete(keyHeartbeat); err != nil {
			return Batch{}, false, err
		}
	}

	gb := w.tx.Bucket(bucketGaps)
	var gaps []gapRecord
	var gapKeys [][]byte
	err := gb.ForEach(func(k, v []byte) error {
		gapKeys = append(gapKeys, bytes.Clone(k))
		var g gapRecord
		if err := json.Unmarshal(v, &g); err != nil || g.Dropped <= 0 {
			w.s.log.Warn("spool discarded unreadable gap record", "key", k)
			return nil
		}
		gaps = append(gaps, g)
		return nil
	})
	if err != nil {
		return Batch{}, false, err
	}

	// A stored gap from the front of the pending stage is contiguous with
	// what this scan drops before it keeps its first result.
	open := len(gaps) > 0 && gaps[len(gaps)-1].Stage == stagePending
	drop := func(g evidence.Gap) {
		w.count(g)
		if open && gaps[len(gaps)-1].Reason == g.Reason {
			gaps[len(gaps)-1].Gap = merged(gaps[len(gaps)-1].Gap, g)
			return
		}
		gaps = append(gaps, gapRecord{Gap: g, Stage: stagePending})
		open = true
	}

	// size tracks the encoded envelope: the fixed part plus each result's
	// stored JSON, which is what it re-encodes to.
	size := 0
	for _, g := range gaps {
		env.Gaps = append(env.Gaps, g.Gap)
	}
	if base, err := json.Marshal(env); err == nil {
		size = len(base) + len(`,"results":[],"gaps":[]`)
	}
	env.Gaps = nil
	cutoff := w.now.Add(-w.s.opts.MaxAge)
	p := w.tx.Bucket(bucketPending)
	var taken [][]byte
	c := p.Cursor()
	for k, v := c.First(); k != nil && len(env.Results) < maxResults; k, v = c.Next() {
		var r evidence.Result
		if err := json.Unmarshal(v, &r); err != nil || r.ObservedAt.IsZero() {
			drop(evidence.Gap{From: w.now, To: w.now, Dropped: 1, Reason: ReasonCorrupt})
			size += gapSize
		} else if r.ObservedAt.Before(cutoff) {
			drop(evidence.Gap{From: r.ObservedAt, To: r.ObservedAt, Dropped: 1, Reason: ReasonAge})
			size += gapSize
		} else {
			if len(env.Results) > 0 && size+len(v)+1 > maxBytes {
				break
			}
			env.Results = append(env.Results, r)
			size += len(v) + 1
			open = false
		}
		taken = append(taken, bytes.Clone(k))
		w.d.pending--
		w.d.bytes -= int64(len(v))
	}
	for _, k := range taken {
		if err := p.Delete(k); err != nil {
			return Batch{}, false, err
		}
	}
	for _, k := range gapKeys {
		if err := gb.Delete(k); err != nil {
			return Batch{}, false, err
		}
	}
	for _, g := range gaps {
		env.Gaps = append(env.Gaps, g.Gap)
	}
	if len(env.Results) == 0 && env.Heartbeat == nil && len(env.Gaps) == 0 {
		return Batch{}, false, nil
	}

	ob := w.tx.Bucket(bucketOutbox)
	seq, err := ob.NextSequence()
	if err != nil {
		return Batch{}, false, err
	}
	env.Seq = seq
	body, err := json.Marshal(env)
	if err != nil {
		return Batch{}, false, err
	}
	kind := "results"
	if len(env.Results) == 0 {
		kind = "heartbeat"
	}
	b := Batch{Seq: seq, MsgID: env.MsgID(), Subject: evidence.Subject(env.DeviceID, kind), Body: body, Results: len(env.Results)}
	rec := encodeOutbox(outboxRecord{results: b.Results, subject: b.Subject, msgID: b.MsgID, body: body})
	if err := ob.Put(u64(seq), rec); err != nil {
		return Batch{}, false, err
	}
	w.d.sealed++
	w.d.bytes += int64(len(rec))
	return b, true, nil
}

// outboxRecord is a sealed envelope as stored. The small header lets Next
// answer without decoding the whole body on every publish attempt.
type outboxRecord struct {
	results int
	subject string
	msgID   string
	body    []byte
}

const outboxVersion = 1

// gapSize is a generous estimate of one encoded evidence.Gap.
const gapSize = 130

// encodeOutbox lays out: version byte, results uint32, subject and msgID
// each as uint16 length + bytes, then the body.
func encodeOutbox(r outboxRecord) []byte {
	out := make([]byte, 0, 1+4+2+len(r.subject)+2+len(r.msgID)+len(r.body))
	out = append(out, outboxVersion)
	out = binary.BigEndian.AppendUint32(out, uint32(r.results))
	out = binary.BigEndian.AppendUint16(out, uint16(len(r.subject)))
	out = append(out, r.subject...)
	out = binary.BigEndian.AppendUint16(out, uint16(len(r.msgID)))
	out = append(out, r.msgID...)
	return append(out, r.body...)
}

var errBadOutbox = errors.New("unreadable outbox record")

// decodeOutbox parses a stored envelope; body aliases v.
func decodeOutbox(v []byte) (outboxRecord, error) {
	var r outboxRecord
	if len(v) < 5 || v[0] != outboxVersion {
		return r, errBadOutbox
	}
	r.results = int(binary.BigEndian.Uint32(v[1:5]))
	rest := v[5:]
	str := func() (string, bool) {
		if len(rest) < 2 {
			return "", false
		}
		n := int(binary.BigEndian.Uint16(rest))
		if len(rest) < 2+n {
			return "", false
		}
		s := string(rest[2 : 2+n])
		rest = rest[2+n:]
		return s, true
	}
	var ok1, ok2 bool
	r.subject, ok1 = str()
	r.msgID, ok2 = str()
	if !ok1 || !ok2 || len(rest) == 0 {
		return r, errBadOutbox
	}
	r.body = rest
	return r, nil
}
