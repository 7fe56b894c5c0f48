package reportbench

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// The SQL below generates the fleet inside ClickHouse from numbers(N):
// sending 432M rows through the driver would take longer than the
// benchmarks and measure the client, not the data. Every random choice is
// a hash of the device, check and hour, so a data set is the same
// wherever and however often it is built, and Go can tell what the SQL
// wrote (see Fleet.statusAt in the tests).
//
// Distributions, per (device, check) pair, hour H of the period:
//   - 0.5% of pairs fail all period (a control that never held);
//   - 8% of pairs have one failure episode of 1-120 hours at a random
//     hour, then remediate;
//   - every observation: 0.2% flaky failures, 0.2% errors;
//   - a check without SQL for the device's OS reports not_applicable;
//   - 2% of devices are silent for 1-10 days at a random hour (no rows at
//     all), some into the end of the period.
//
// The hashes are spelled out once here so the Go mirror stays in step.
const (
	pairHash   = "intHash64(dev * 64 + c)"
	obsHash    = "intHash64((dev * 64 + c) * 65536 + hr)"
	deviceHash = "intHash64(dev + 1000003)"
)

// statusSQL is the status of device dev, check c at hour hr.
func (f *Fleet) statusSQL() string {
	hours := f.Days * 24
	return fmt.Sprintf(`multiIf(
		%[1]s[c + 1][%[2]s + 1] = 0, 'not_applicable',
		ph %% 1000 < 5, 'fail',
		ph %% 100 < 8 AND hr >= intDiv(ph, 100) %% %[3]d AND hr < intDiv(ph, 100) %% %[3]d + 1 + intDiv(ph, 1000000) %% 120, 'fail',
		oh %% 1000 < 2, 'fail',
		oh %% 1000 < 4, 'error',
		'pass')`, f.appliesSQL(), osSQL("dev"), hours)
}

// silentSQL is true for hours device dev sends nothing.
func (f *Fleet) silentSQL() string {
	return fmt.Sprintf(`(dh %% 100 < 2 AND hr >= intDiv(dh, 100) %% %[1]d AND hr < intDiv(dh, 100) %% %[1]d + 24 * (1 + intDiv(dh, 100000) %% 10))`,
		f.Days*24)
}

// devicePrefix renders a device number as DeviceID does.
func devicePrefix(x string) string {
	return fmt.Sprintf("concat('dev-', substring(toString(100000 + %s), 2))", x)
}

// DevicesSQL enrolls every device a month before the period starts.
func (f *Fleet) DevicesSQL() string {
	enrolled := Start.AddDate(0, -1, 0).Unix()
	return fmt.Sprintf(`INSERT INTO devices (device_id, public_key, hostname, os, platform, platform_version,
    kernel_version, arch, hardware_uuid, serial, agent_version, tags, enrolled_at, updated_at)
SELECT %[1]s, concat('UBENCH', hex(cityHash64(number))), concat('host-', substring(toString(100000 + number), 2), '.corp.example'),
       %[2]s[os + 1], ['macos', 'windows', 'debian'][os + 1], ['15.3', '11 23H2', '12'][os + 1],
       ['24.3.0', '10.0.22631', '6.1.0-28-amd64'][os + 1], ['arm64', 'amd64', 'amd64'][os + 1],
       lower(hex(cityHash64(number, 1))), concat('SN', hex(cityHash64(number, 2))), '0.1.0',
       if(number %% 7 = 0, '{"team":"engineering"}', '{}'),
       toDateTime(%[3]d + number), toDateTime(%[3]d + number)
FROM (SELECT number, %[4]s AS os FROM numbers(%[5]d))`,
		devicePrefix("number"), sqlStrings(osNames[:]), enrolled, osSQL("number"), f.Devices)
}

// DaySQL inserts day d of the period (0-based): every device's hourly run
// of every check, in the results table's sort order (device, check, time),
// so each inserted block is already sorted and the materialized view
// folds 24 rows into each rollup row. Devices run at their own second of
// the hour and their checks a few seconds apart, with a sub-second part.
func (f *Fleet) DaySQL(d int) string {
	per := f.Checks * 24
	dayStart := Start.AddDate(0, 0, d).Unix()
	versions := make([]string, len(f.versions))
	for i, v := range f.versions {
		versions[i] = fmt.Sprint(v)
	}
	return fmt.Sprintf(`INSERT INTO results (device_id, check_id, observed_at, observed_ns, status, check_version, pack,
    pack_version, rows, reason, error, duration_ms, engine, agent_version, envelope_seq, received_at)
SELECT %[1]s AS device_id,
       %[2]s[c + 1] AS check_id,
       toDateTime(%[3]d + h * 3600 + dev %% 3000 + c * 3) AS observed_at,
       toUInt32(oh %% 1000000000) AS observed_ns,
       CAST(st AS Enum8('pass' = 1, 'fail' = 2, 'error' = 3, 'not_applicable' = 4)) AS status,
       toUInt32([%[4]s][c + 1]) AS check_version,
       '%[5]s' AS pack, '%[6]s' AS pack_version,
       multiIf(st = 'pass', %[7]s[c + 1], st = 'fail', %[8]s[c + 1], '[]') AS rows,
       multiIf(st = 'pass', '1 of 1 rows compliant', st = 'fail', '1 of 1 rows not compliant',
               st = 'not_applicable', 'query returned no rows', '') AS reason,
       if(st = 'error', 'osquery: query timed out after 30s', '') AS error,
       toUInt32(5 + oh %% 90) AS duration_ms,
       'osquery' AS engine,
       if(hr < %[9]d, '0.1.0', '0.2.0') AS agent_version,
       toUInt64(hr + 1) AS envelope_seq,
       toDateTime(%[3]d + h * 3600 + dev %% 3000 + c * 3 + 5 + dev %% 60) AS received_at
FROM (
    SELECT dev, c, h, hr, ph, oh, dh, %[10]s AS st
    FROM (
        SELECT intDiv(number, %[11]d) AS dev, intDiv(number, 24) %% %[12]d AS c, number %% 24 AS h,
               %[13]d + h AS hr, %[14]s AS ph, %[15]s AS oh, %[16]s AS dh
        FROM numbers(%[17]d)
    )
    WHERE NOT %[18]s
)`,
		devicePrefix("dev"), sqlStrings(f.CheckIDs), dayStart, strings.Join(versions, ", "),
		f.pack.Name, f.pack.Version, sqlStrings(f.rowsJSON("1")), sqlStrings(f.rowsJSON("0")),
		f.Days*24/2, f.statusSQL(), per, f.Checks, d*24, pairHash, obsHash, deviceHash,
		f.Devices*per, f.silentSQL())
}

// Progress hears about each seeded day.
type Progress func(day int, took time.Duration)

// maxParts is how many parts a partition may hold before seeding waits
// for merges: ClickHouse refuses inserts at 300, and queries over many
// small parts would not be the steady state a deployment sees.
const maxParts = 60

// Seed fills an empty, migrated database with the fleet: devices, then
// one INSERT ... SELECT per day (the view fills results_daily as ingest
// would), then merges every partition so the benchmarks read what a
// settled deployment holds.
func Seed(ctx context.Context, conn driver.Conn, db string, f *Fleet, progress Progress) error {
	if err := conn.Exec(ctx, f.DevicesSQL()); err != nil {
		return fmt.Errorf("reportbench: seed devices: %w", err)
	}
	for d := range f.Days {
		if err := waitForMerges(ctx, conn, db, maxParts); err != nil {
			return err
		}
		began := time.Now()
		if err := conn.Exec(ctx, f.DaySQL(d)); err != nil {
			return fmt.Errorf("reportbench: seed day %d: %w", d, err)
		}
		if progress != nil {
			progress(d, time.Since(began))
		}
	}
	for _, table := range []string{"results", "results_daily"} {
		if err := optimize(ctx, conn, db, table); err != nil {
			return err
		}
	}
	return nil
}

// waitForMerges blocks while any partition of results or results_daily
// has more than limit active parts.
func waitForMerges(ctx context.Context, conn driver.Conn, db string, limit uint64) error {
	for {
		var worst uint64
		row := conn.QueryRow(ctx, `SELECT toUInt64(max(n)) FROM (
			SELECT count() AS n FROM system.parts
			WHERE active AND database = ? AND table IN ('results', 'results_daily')
			GROUP BY table, partition)`, db)
		if err := row.Scan(&worst); err != nil {
			return fmt.Errorf("reportbench: count parts: %w", err)
		}
		if worst <= limit {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// optimize merges each partition of table into one part. FINAL merges
// even a partition that is one part already, so it is only asked of
// partitions with more.
func optimize(ctx context.Context, conn driver.Conn, db, table string) error {
	rows, err := conn.Query(ctx, `SELECT partition FROM system.parts
		WHERE active AND database = ? AND table = ? GROUP BY partition HAVING count() > 1 ORDER BY partition`, db, table)
	if err != nil {
		return fmt.Errorf("reportbench: optimize %s: %w", table, err)
	}
	var parts []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			rows.Close()
			return fmt.Errorf("reportbench: optimize %s: %w", table, err)
		}
		parts = append(parts, p)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return fmt.Errorf("reportbench: optimize %s: %w", table, err)
	}
	for _, p := range parts {
		// Partitions are toYYYYMM values: digits only, safe to splice.
		if err := conn.Exec(ctx, fmt.Sprintf("OPTIMIZE TABLE %s.%s PARTITION %s FINAL", db, table, p)); err != nil {
			return fmt.Errorf("reportbench: optimize %s partition %s: %w", table, p, err)
		}
	}
	return nil
}
