// Package checks runs catalog checks through an osquery engine and turns
// each run into an evidence.Result: the status from the catalog's pass
// rule, the rows that explain it, and how long it took. A query that
// errors or times out yields an `error` result, never silence.
package checks
