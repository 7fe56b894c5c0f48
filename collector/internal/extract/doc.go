// Package extract writes and verifies auditor evidence bundles: for a set
// of SOC 2 controls and an audit period, the population of in-scope
// devices (reconciled with the asset inventory when one was imported),
// every stored result of the checks that evidence those controls, period
// compliance per device and check, exceptions, spool gaps, a reproducible
// sample, the same data as one workbook, a README for the auditor, and a
// manifest with the size and SHA-256 of every file, signed with the
// collector's ed25519 key.
//
// A bundle is deterministic: the same data, controls, period and seed give
// byte-identical files, signature included (ed25519 signatures are
// deterministic). Nothing in it comes from the wall clock: generated_at is
// the newest time the collector received any of the data included (or the
// end of the period when there is none), unless the caller sets it.
//
// Verify checks a bundle offline, with no database: the signature over the
// exact bytes of manifest.json, every listed file's size and hash, files
// added or removed, and that sample.csv is the draw the documented
// algorithm gives for the recorded seed.
//
// The population is reconciled with the asset inventory by the inventory
// package's rules (inventory.Reconcile), and compliance.csv carries the
// compliance package's day-based period compliance (compliance.Build)
// beside figures derived from the evidence rows alone, so the bundle
// says what the collector's own reports say and an auditor can still
// recompute part of it from evidence.csv.
package extract
