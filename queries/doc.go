// Package queries is Fleetproof's check catalog: the osquery SQL the agent runs
// on each device and the metadata (rationale, SOC 2 criteria, remediation,
// schedule) that turns its rows into audit evidence. It is data, not code the
// agent depends on for behaviour: the files are embedded with go:embed and
// validated by this package's tests, so a broken check never ships.
//
// # Files
//
// pack.yaml names and versions the pack (name, version as MAJOR.MINOR.PATCH).
// checks/<id>.yaml holds one check:
//
//	id: disk_encryption          # lowercase snake case, unique in the pack
//	title: Disk encryption is on
//	version: 1                   # bump whenever the pass rule's meaning changes
//	description: why the control matters
//	criteria: [CC6.1, CC6.7]     # SOC 2 criteria evidenced (CCn.n, A1.n, C1.n, PI1.n)
//	severity: high               # low | medium | high | critical
//	interval: 1h                 # Go duration, 5m..24h
//	timeout: 30s                 # optional, default 30s, must be < interval
//	pass_when: what a passing device looks like
//	remediation: what to do when it fails
//	when_empty: fail             # optional: pass | fail | not_applicable (default fail)
//	platforms:                   # darwin | windows | linux; at least one
//	  linux:
//	    sql: SELECT ..., 1 AS compliant FROM ...;
//	    notes: optional caveats for reviewers and auditors
//	    when_empty: not_applicable   # optional per-platform override
//
// Unknown keys are rejected so that a typo cannot silently drop a setting.
//
// # Pass rule
//
// Every query returns the rows that explain its result (which volume, which
// profile, which user), and every row carries a column named compliant whose
// value is "1" or "0" (osquery returns all values as strings). Then:
//
//   - no rows: the outcome is the check's when_empty (the platform's override
//     first), defaulting to fail, with the reason "query returned no rows";
//   - any row whose compliant is not "1", or that lacks the column: fail, and
//     Evaluation.Failing holds those rows;
//   - otherwise: pass.
//
// Returning explanatory rows instead of Fleet's "a row means pass" idiom is what
// lets a security team see the offending detail and an auditor see the evidence.
package queries
