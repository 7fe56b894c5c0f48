// Package store is the collector's ClickHouse storage: the schema and its
// migrations, idempotent batch inserts of evidence, and the queries that
// answer posture questions.
//
// Inserts always name their columns (ClickHouse 18.16's driver column
// discovery fails without them) and every evidence table is keyed on a
// natural key, so redelivery never counts twice. The SQL runs on 18.16 and
// current ClickHouse alike; the migration files are also checked with
// chdb-sql.
package store
