// Package dashboardsql holds only tests: it runs every SQL statement of the
// Grafana dashboards (package dashboards) on ClickHouse 18.16, seeded
// through the store's own insert paths, and checks the key panels' rows
// (dashboards/dashtest has the statements, the scenarios and the expected
// rows).
//
// It lives under collector/ because Go lets only the collector's packages
// import the test server (chtest) and the store it needs; dashtest runs
// the same statements on ClickHouse 26.x through chdb-sql.
package dashboardsql
