// Package publish delivers sealed envelopes from the spool to JetStream,
// oldest first. Each envelope is signed with the device key and carries a
// Nats-Msg-Id, so a re-send after a lost acknowledgement is de-duplicated
// by the server; an envelope leaves the spool only after JetStream
// acknowledged it. Failures back off exponentially with jitter.
package publish
