// Package posture answers "which devices pass which check as of an
// instant": it combines enrolled devices, their latest results and the
// check catalog into a report, and renders it as a table, JSON or CSV.
// Building the report is a pure function, so its rules (applicability,
// staleness, unknown devices) are table-tested without a database.
package posture
