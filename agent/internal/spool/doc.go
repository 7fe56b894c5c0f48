// Package spool is the agent's durable, bounded store for evidence that has
// not yet been acknowledged by the collector. Every check result is written
// here before any network I/O, and leaves only when NATS JetStream has
// acknowledged the envelope carrying it, so an agent that is offline for
// days, restarted, upgraded or killed loses nothing.
//
// # Two stages: pending and sealed
//
// Results (and the latest heartbeat, and any recorded gaps) first land in
// the pending stage. Seal moves a batch of them into an envelope, gives it
// the next sequence number, encodes it and stores the exact bytes in the
// outbox, all in one transaction. Only sealed envelopes are published.
//
// Sealing before publishing is what makes delivery exactly-once in effect:
// the envelope's identity (Seq, hence evidence.Envelope.MsgID, sent as the
// Nats-Msg-Id header) is fixed before the first attempt. When an ack is lost
// (timeout, disconnect, crash after publish) the retry re-sends the
// identical bytes under the same MsgID, and JetStream's de-duplication
// window discards the copy. Building envelopes at publish time instead would
// give a retry a new sequence number or a different set of results, and the
// collector would count the same evidence twice or a signature would cover
// different bytes.
//
// A publisher loop therefore looks like:
//
//	for {
//		b, ok, err := sp.Next()          // oldest unacknowledged envelope first
//		if !ok {
//			b, ok, err = sp.Seal(tmpl, 500, 1<<20)
//		}
//		... publish b.Body to b.Subject with Nats-Msg-Id b.MsgID, wait for the ack ...
//		sp.Ack(b.Seq)
//	}
//
// Sealing only when the outbox is empty keeps the outbox short while the
// collector is unreachable: results keep accumulating in the pending stage,
// where they are batched into as few envelopes as possible once the link is
// back, and the heartbeat is replaced rather than queued.
//
// # Bounds and gaps
//
// The spool is bounded in bytes (pending plus outbox) and in age. When it
// must drop evidence it drops the oldest first and records a evidence.Gap
// (time range, count, reason) that is itself stored durably and delivered in
// the next sealed envelope, so the hole is visible in the evidence instead of
// silent. Records that cannot be decoded are skipped the same way.
//
// The storage engine is bbolt: each operation is one transaction that is
// fsynced on commit, so a kill -9 or power loss leaves either the whole
// operation or none of it. A Spool is safe for concurrent use by the
// scheduler (Append, SetHeartbeat) and the publisher (Seal, Next, Ack); the
// file is locked so that a second agent cannot open it.
package spool
