package store

import (
	"fmt"
	"regexp"
)

// A ClickHouse cluster deployment runs every collector against replicated
// tables: each migration statement is rewritten with ON CLUSTER and the
// Replicated variant of its engine, with the conventional ZooKeeper path
// and the {shard}/{replica} macros every node defines. One shard with N
// replicas is the supported layout; sharding across several shards would
// also need Distributed tables in front, which are not generated.

var (
	createTableRe = regexp.MustCompile(`(?i)^(\s*CREATE\s+TABLE\s+IF\s+NOT\s+EXISTS\s+)([A-Za-z_][A-Za-z0-9_]*)(\s*\()`)
	engineRe      = regexp.MustCompile(`(?i)ENGINE\s*=\s*(ReplacingMergeTree|MergeTree|AggregatingMergeTree|SummingMergeTree)(\s*\(([^)]*)\))?`)
	createViewRe  = regexp.MustCompile(`(?i)^(\s*CREATE\s+MATERIALIZED\s+VIEW\s+IF\s+NOT\s+EXISTS\s+)([A-Za-z_][A-Za-z0-9_]*)`)
	alterTableRe  = regexp.MustCompile(`(?i)^(\s*ALTER\s+TABLE\s+)([A-Za-z_][A-Za-z0-9_]*)`)
)

// ClusterStatement rewrites one statement for cluster; with an empty
// cluster it returns st unchanged.
func ClusterStatement(st, cluster, database string) string {
	if cluster == "" {
		return st
	}
	on := " ON CLUSTER " + cluster
	if m := createTableRe.FindStringSubmatchIndex(st); m != nil {
		table := st[m[4]:m[5]]
		st = st[:m[5]] + on + st[m[5]:]
		return engineRe.ReplaceAllStringFunc(st, func(e string) string {
			sm := engineRe.FindStringSubmatch(e)
			args := fmt.Sprintf("'/clickhouse/tables/{shard}/%s/%s', '{replica}'", database, table)
			if sm[3] != "" {
				args += ", " + sm[3]
			}
			return "ENGINE = Replicated" + sm[1] + "(" + args + ")"
		})
	}
	if m := createViewRe.FindStringSubmatchIndex(st); m != nil {
		return st[:m[5]] + on + st[m[5]:]
	}
	if m := alterTableRe.FindStringSubmatchIndex(st); m != nil {
		return st[:m[5]] + on + st[m[5]:]
	}
	return st
}
