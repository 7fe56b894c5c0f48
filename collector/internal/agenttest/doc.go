// Package agenttest holds failure and footprint tests that run the real
// fleetproof-agent binary as a process against a collector started
// in-process (serve.Run on loopback ports, NATS/JetStream in a temp data
// dir, a chtest ClickHouse database), and end with exact counts in
// ClickHouse:
//
//   - an agent offline for many cycles, then a collector restarted on the
//     same data dir: every result of every cycle arrives exactly once;
//   - kill -9 of `run --once` mid-write and mid-publish over a large
//     backlog: the logical count equals what the spool ever held, and
//     duplicates are reported and collapse;
//   - the agent installed as a real service (SysV here, root only)
//     delivers evidence, then stops and uninstalls;
//   - the agent's footprint: binary size, idle and peak RSS.
//
// The package has no non-test code. The agent's packages are internal to
// agent/, so these tests read the agent's spool file (bbolt) directly,
// following the layout documented in agent/internal/spool: results as
// evidence.Result JSON in bucket "pending" under the bucket's sequence, and
// sealed envelopes in "outbox" (version byte, result count, subject, msg id,
// envelope JSON). The pending bucket's sequence counts every result ever
// appended, which is the number a complete delivery must end with.
package agenttest
