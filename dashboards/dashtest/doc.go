// Package dashtest runs the dashboards' SQL the way Grafana would send it:
// it extracts every statement from every dashboard JSON file (Queries),
// expands Grafana's macros and variables with concrete values (Expand,
// Scenarios), and provides the small fleet the statements run against
// (Seed) with the rows two key panels must return (Expected).
//
// It is a package of its own, not a test file, because the statements run
// on two ClickHouse versions from two places: ClickHouse 26.x through
// chdb-sql from this package's tests, and ClickHouse 18.16 from
// collector/internal/dashboardsql, which may import the collector's
// internal test server and store (this package may not).
package dashtest
