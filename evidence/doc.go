// Package evidence is the versioned wire contract between the Fleetproof
// agent and collector: the envelopes that carry check results, heartbeats
// and spool gaps over NATS JetStream, and the enrollment messages exchanged
// over HTTP. It depends on the standard library only, so both sides (and
// third-party verifiers) can import it without pulling in either program.
//
// # Compatibility rules
//
// Every message carries a schema version (SchemaVersion). Within a major
// schema version, changes are additive only:
//   - new fields are optional and have a zero value that means "absent";
//   - existing fields never change name, JSON type or meaning;
//   - decoders ignore fields they do not know, so an old collector accepts
//     a newer agent's envelope of the same schema;
//   - a new Status value, or anything an old collector would misread, needs
//     a new schema version. Collectors reject schema versions they do not
//     know (ErrUnknownSchema) rather than guess, and the envelope is
//     dead-lettered with that reason, not lost.
//
// The golden files in testdata pin the JSON encoding; `go test -update`
// rewrites them, and a diff in review shows every wire change.
//
// # Versions
//
//   - Schema 1 (Fleetproof 0.1): Envelope with Results, Heartbeat and Gaps;
//     EnrollRequest/EnrollResponse (UserJWT optional: present when the
//     collector runs NATS with decentralized auth); InboxPrefix.
//
// # Signing
//
// The NATS message body is the envelope's JSON, byte for byte as the agent
// produced it. The agent signs those bytes with its ed25519 device key (a
// NATS nkey) and sends the signature in the SignatureHeader; the collector
// verifies it against the key recorded at enrollment (Verify). Signing the
// exact bytes, not a re-encoding, keeps verification independent of JSON
// encoder details.
package evidence
