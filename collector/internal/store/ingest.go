package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/fleetproof/fleetproof/evidence"
)

// DeadLetter is a message ingest refused, kept with the reason so nothing
// is dropped silently. Stream and StreamSeq identify the JetStream message,
// which makes re-recording the same message idempotent.
type DeadLetter struct {
	Stream     string
	StreamSeq  uint64
	Subject    string
	MsgID      string
	DeviceID   string
	Reason     string
	Payload    []byte
	ReceivedAt time.Time
}

// MaxDeadLetterPayload bounds the stored copy of a refused message.
const MaxDeadLetterPayload = 256 << 10

// EncodedEnvelope is an accepted envelope whose results' rows are already
// the text the rows column holds. Ingest receives rows as JSON and can
// pass that JSON through instead of decoding it into maps and encoding it
// back, which was a large share of ingest's CPU.
type EncodedEnvelope struct {
	// Envelope's Results[i].Rows is ignored; Rows[i] is stored instead.
	Envelope *evidence.Envelope
	// Rows[i] is the rows column of Envelope.Results[i]: exactly what
	// EncodeRows returns for those rows (a compact JSON array of objects,
	// keys sorted), so stored text is the same whichever way it came.
	Rows []string
}

// EncodeRows is the rows column's text for a result's rows: their JSON as
// encoding/json writes it (compact, keys sorted), and "[]" for none.
func EncodeRows(rows []map[string]string) (string, error) {
	if rows == nil {
		return "[]", nil
	}
	b, err := json.Marshal(rows)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// InsertEnvelopes stores the results, heartbeats and gaps of accepted
// envelopes, one batch insert per table. A failure part-way is safe to
// retry as a whole: rows already written are collapsed by their keys.
func (s *Store) InsertEnvelopes(ctx context.Context, envs []*evidence.Envelope, receivedAt time.Time) error {
	enc := make([]EncodedEnvelope, len(envs))
	for i, e := range envs {
		enc[i] = EncodedEnvelope{Envelope: e, Rows: make([]string, len(e.Results))}
		for j, r := range e.Results {
			rows, err := EncodeRows(r.Rows)
			if err != nil {
				return fmt.Errorf("store: insert results: encode rows: %w", err)
			}
			enc[i].Rows[j] = rows
		}
	}
	return s.InsertEncoded(ctx, enc, receivedAt)
}

// InsertEncoded is InsertEnvelopes for envelopes whose rows are already
// encoded (see EncodedEnvelope).
func (s *Store) InsertEncoded(ctx context.Context, envs []EncodedEnvelope, receivedAt time.Time) error {
	if len(envs) == 0 {
		return nil
	}
	recv := receivedAt.UTC().Truncate(time.Second)
	var nres, nhb, ngap int
	for _, ee := range envs {
		e := ee.Envelope
		if len(ee.Rows) != len(e.Results) {
			return fmt.Errorf("store: insert results: envelope %s has %d results but %d encoded rows", e.MsgID(), len(e.Results), len(ee.Rows))
		}
		nres += len(e.Results)
		if e.Heartbeat != nil {
			nhb++
		}
		ngap += len(e.Gaps)
	}
	if nres > 0 {
		b, err := s.conn.PrepareBatch(ctx, `INSERT INTO results (device_id, check_id, observed_at, observed_ns, status,
			check_version, pack, pack_version, rows, reason, error, duration_ms, engine, agent_version,
			envelope_seq, received_at)`)
		if err != nil {
			return fmt.Errorf("store: insert results: %w", err)
		}
		// Whole columns at once: appending row by row boxed every value
		// into an interface, a visible share of ingest's CPU. Sent in
		// blocks of insertBlockRows within the one INSERT, so the driver's
		// column buffers are reused instead of regrown for every large
		// batch; the server squashes the blocks back into one part.
		var c resultColumns
		c.grow(min(nres, insertBlockRows))
		flush := func(last bool) error {
			for i, col := range c.list() {
				if err := b.Column(i).Append(col); err != nil {
					return fmt.Errorf("column %d: %w", i, err)
				}
			}
			c.reset()
			if last {
				return nil
			}
			return b.Flush()
		}
		for _, ee := range envs {
			e := ee.Envelope
			for i := range e.Results {
				if c.len() == insertBlockRows {
					if err := flush(false); err != nil {
						b.Abort()
						return fmt.Errorf("store: insert results: %w", err)
					}
				}
				c.add(e, &e.Results[i], ee.Rows[i], recv)
			}
		}
		if err := flush(true); err != nil {
			b.Abort()
			return fmt.Errorf("store: insert results: %w", err)
		}
		if err := b.Send(); err != nil {
			return fmt.Errorf("store: insert results: %w", err)
		}
	}
	if nhb > 0 {
		b, err := s.conn.PrepareBatch(ctx, `INSERT INTO heartbeats (device_id, observed_at, hostname,
			uptime_s, spool_depth, envelope_seq, received_at)`)
		if err != nil {
			return fmt.Errorf("store: insert heartbeats: %w", err)
		}
		for _, ee := range envs {
			e := ee.Envelope
			if h := e.Heartbeat; h != nil {
				if err := b.Append(e.DeviceID, h.ObservedAt.UTC(), h.Hostname, h.UptimeS,
					uint32(max(h.SpoolDepth, 0)), e.Seq, recv); err != nil {
					b.Abort()
					return fmt.Errorf("store: insert heartbeats: %w", err)
				}
			}
		}
		if err := b.Send(); err != nil {
			return fmt.Errorf("store: insert heartbeats: %w", err)
		}
	}
	if ngap > 0 {
		b, err := s.conn.PrepareBatch(ctx, `INSERT INTO gaps (device_id, gap_from, gap_to, dropped,
			reason, envelope_seq, received_at)`)
		if err != nil {
			return fmt.Errorf("store: insert gaps: %w", err)
		}
		for _, ee := range envs {
			e := ee.Envelope
			for _, g := range e.Gaps {
				if err := b.Append(e.DeviceID, g.From.UTC(), g.To.UTC(), uint32(g.Dropped), g.Reason, e.Seq, recv); err != nil {
					b.Abort()
					return fmt.Errorf("store: insert gaps: %w", err)
				}
			}
		}
		if err := b.Send(); err != nil {
			return fmt.Errorf("store: insert gaps: %w", err)
		}
	}
	return nil
}

// insertBlockRows is how many results rows go to ClickHouse per block of
// an INSERT: large enough that per-block costs vanish, small enough that
// the driver's buffers stay warm in memory between blocks.
const insertBlockRows = 8192

// resultColumns are the results INSERT's columns, in its column order.
type resultColumns struct {
	device, check                          []string
	observed                               []time.Time
	ns                                     []uint32
	status                                 []string
	version                                []uint32
	pack, packVersion, rows, reason, error []string
	duration                               []uint32
	engine, agent                          []string
	seq                                    []uint64
	received                               []time.Time
}

func (c *resultColumns) grow(n int) {
	for _, s := range []*[]string{&c.device, &c.check, &c.status, &c.pack, &c.packVersion, &c.rows, &c.reason, &c.error, &c.engine, &c.agent} {
		*s = make([]string, 0, n)
	}
	c.observed, c.received = make([]time.Time, 0, n), make([]time.Time, 0, n)
	c.ns, c.version, c.duration = make([]uint32, 0, n), make([]uint32, 0, n), make([]uint32, 0, n)
	c.seq = make([]uint64, 0, n)
}

func (c *resultColumns) len() int { return len(c.device) }

// reset empties the columns, keeping their memory for the next block.
func (c *resultColumns) reset() {
	for _, s := range []*[]string{&c.device, &c.check, &c.status, &c.pack, &c.packVersion, &c.rows, &c.reason, &c.error, &c.engine, &c.agent} {
		clear(*s) // drop references to the strings sent
		*s = (*s)[:0]
	}
	c.observed, c.received = c.observed[:0], c.received[:0]
	c.ns, c.version, c.duration = c.ns[:0], c.version[:0], c.duration[:0]
	c.seq = c.seq[:0]
}

func (c *resultColumns) add(e *evidence.Envelope, r *evidence.Result, rows string, recv time.Time) {
	c.device = append(c.device, e.DeviceID)
	c.check = append(c.check, r.CheckID)
	c.observed = append(c.observed, r.ObservedAt.UTC())
	c.ns = append(c.ns, uint32(r.ObservedAt.Nanosecond()))
	c.status = append(c.status, string(r.Status))
	c.version = append(c.version, uint32(max(r.CheckVersion, 0)))
	c.pack = append(c.pack, r.Pack)
	c.packVersion = append(c.packVersion, r.PackVersion)
	c.rows = append(c.rows, rows)
	c.reason = append(c.reason, r.Reason)
	c.error = append(c.error, r.Error)
	c.duration = append(c.duration, uint32(min(max(r.DurationMS, 0), 1<<32-1)))
	c.engine = append(c.engine, r.Engine)
	c.agent = append(c.agent, e.AgentVersion)
	c.seq = append(c.seq, e.Seq)
	c.received = append(c.received, recv)
}

func (c *resultColumns) list() []any {
	return []any{c.device, c.check, c.observed, c.ns, c.status, c.version, c.pack, c.packVersion, c.rows,
		c.reason, c.error, c.duration, c.engine, c.agent, c.seq, c.received}
}

// InsertDeadLetters records refused messages.
func (s *Store) InsertDeadLetters(ctx context.Context, dls []DeadLetter) error {
	if len(dls) == 0 {
		return nil
	}
	b, err := s.conn.PrepareBatch(ctx, `INSERT INTO dead_letters (stream, stream_seq, subject, msg_id,
		device_id, reason, payload, received_at)`)
	if err != nil {
		return fmt.Errorf("store: insert dead letters: %w", err)
	}
	for _, d := range dls {
		p := d.Payload
		if len(p) > MaxDeadLetterPayload {
			p = p[:MaxDeadLetterPayload]
		}
		if err := b.Append(d.Stream, d.StreamSeq, d.Subject, d.MsgID, d.DeviceID, d.Reason, string(p),
			d.ReceivedAt.UTC().Truncate(time.Second)); err != nil {
			b.Abort()
			return fmt.Errorf("store: insert dead letters: %w", err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("store: insert dead letters: %w", err)
	}
	return nil
}
