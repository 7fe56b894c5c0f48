package reportbench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/fleetproof/fleetproof/collector/internal/chserver"
	"github.com/fleetproof/fleetproof/collector/internal/store"
	"github.com/fleetproof/fleetproof/queries"
)

// SeedVersion names the generator. Bump it whenever DaySQL, DevicesSQL or
// the migrations change what a seeded data set holds: a cached data set
// with another version is thrown away and seeded again.
const SeedVersion = 1

// DefaultRoot is where data sets are cached between runs: /var/tmp
// survives reboots on most systems and is not cleaned as eagerly as /tmp.
const DefaultRoot = "/var/tmp/fleetproof-reportbench"

// database is the data set's database on its server.
const database = "fleetproof"

// Stamp is written once seeding has finished; a data set without one (an
// interrupted seed) is started over.
type Stamp struct {
	Version  int       `json:"version"`
	Scale    Scale     `json:"scale"`
	Start    time.Time `json:"start"`
	SeededAt time.Time `json:"seeded_at"`
	// SeedSeconds is the wall time of seeding: devices, the daily inserts
	// (with the materialized view) and the final merges.
	SeedSeconds float64 `json:"seed_seconds"`
	// InsertSeconds is the part of it spent in the daily inserts.
	InsertSeconds float64 `json:"insert_seconds"`
	Rows          uint64  `json:"rows"`
	RollupRows    uint64  `json:"rollup_rows"`
}

// Dataset is a seeded fleet on a running ClickHouse server of its own.
type Dataset struct {
	Fleet  *Fleet
	Server *chserver.Server
	Store  *store.Store
	Stamp  Stamp
	// Cached says the data came from an earlier run.
	Cached bool
	// Dir holds the server's files and the stamp.
	Dir  string
	lock *os.File
}

// Open starts a server on the cached data set for scale under root,
// seeding it first when there is none (or an outdated or unfinished one).
// log receives progress; nil discards it.
func Open(ctx context.Context, root string, scale Scale, log *slog.Logger) (*Dataset, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cat, err := queries.Load()
	if err != nil {
		return nil, err
	}
	fleet, err := NewFleet(scale, cat)
	if err != nil {
		return nil, err
	}
	ds := &Dataset{Fleet: fleet, Dir: filepath.Join(root, fmt.Sprintf("v%d-%dx%dx%d", SeedVersion, scale.Devices, scale.Checks, scale.Days))}
	if err := os.MkdirAll(ds.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("reportbench: %w", err)
	}
	// Two runs seeding one directory would corrupt it; the second waits.
	if ds.lock, err = os.OpenFile(filepath.Join(ds.Dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600); err != nil {
		return nil, fmt.Errorf("reportbench: %w", err)
	}
	if err := syscall.Flock(int(ds.lock.Fd()), syscall.LOCK_EX); err != nil {
		ds.lock.Close()
		return nil, fmt.Errorf("reportbench: lock %s: %w", ds.Dir, err)
	}
	ok := false
	defer func() {
		if !ok {
			ds.Close()
		}
	}()
	stampPath := filepath.Join(ds.Dir, "stamp.json")
	ds.Cached = readStamp(stampPath, &ds.Stamp) && ds.Stamp.Version == SeedVersion && ds.Stamp.Scale == scale && ds.Stamp.Start.Equal(Start)
	chDir := filepath.Join(ds.Dir, "clickhouse")
	if !ds.Cached {
		log.Info("no usable cached data set; seeding", "dir", ds.Dir, "scale", scale.String())
		if err := os.RemoveAll(chDir); err != nil {
			return nil, fmt.Errorf("reportbench: %w", err)
		}
		os.Remove(stampPath)
	}
	if ds.Server, err = chserver.Start(ctx, chserver.Options{Dir: chDir, StartTimeout: 5 * time.Minute}); err != nil {
		return nil, err
	}
	// Seeding and the extract run statements far longer than the
	// driver's default read timeout of five minutes.
	dsn := "clickhouse://" + ds.Server.Addr() + "/" + database + "?read_timeout=3h"
	if ds.Store, err = store.Open(ctx, dsn, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		return nil, err
	}
	if !ds.Cached {
		if err := ds.seed(ctx, log); err != nil {
			return nil, err
		}
		if err := writeStamp(stampPath, ds.Stamp); err != nil {
			return nil, err
		}
	}
	ok = true
	return ds, nil
}

func (ds *Dataset) seed(ctx context.Context, log *slog.Logger) error {
	began := time.Now()
	var inserting time.Duration
	err := Seed(ctx, ds.Store.Conn(), database, ds.Fleet, func(day int, took time.Duration) {
		inserting += took
		log.Info("seeded day", "day", day+1, "of", ds.Fleet.Days, "took", took.Round(time.Millisecond),
			"elapsed", time.Since(began).Round(time.Second))
	})
	if err != nil {
		return err
	}
	ds.Stamp = Stamp{Version: SeedVersion, Scale: ds.Fleet.Scale, Start: Start, SeededAt: time.Now().UTC(),
		SeedSeconds: time.Since(began).Seconds(), InsertSeconds: inserting.Seconds()}
	for table, n := range map[string]*uint64{"results": &ds.Stamp.Rows, "results_daily": &ds.Stamp.RollupRows} {
		if err := ds.Store.Conn().QueryRow(ctx, "SELECT count() FROM "+table).Scan(n); err != nil {
			return fmt.Errorf("reportbench: count %s: %w", table, err)
		}
	}
	log.Info("seeded", "rows", ds.Stamp.Rows, "rollup_rows", ds.Stamp.RollupRows, "took", time.Since(began).Round(time.Second))
	return nil
}

// TableSize is one table's footprint as ClickHouse reports it.
type TableSize struct {
	Table        string
	Rows         uint64
	Parts        uint64
	Compressed   uint64 // bytes on disk
	Uncompressed uint64
}

// Sizes reports the data set's tables, largest first.
func (ds *Dataset) Sizes(ctx context.Context) ([]TableSize, error) {
	rows, err := ds.Store.Conn().Query(ctx, `SELECT table, sum(rows), count(), sum(data_compressed_bytes), sum(data_uncompressed_bytes)
		FROM system.parts WHERE active AND database = ? GROUP BY table ORDER BY sum(data_compressed_bytes) DESC`, database)
	if err != nil {
		return nil, fmt.Errorf("reportbench: sizes: %w", err)
	}
	defer rows.Close()
	var out []TableSize
	for rows.Next() {
		var t TableSize
		if err := rows.Scan(&t.Table, &t.Rows, &t.Parts, &t.Compressed, &t.Uncompressed); err != nil {
			return nil, fmt.Errorf("reportbench: sizes: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// DiskBytes is what the data set's directory takes on disk: data, logs
// and metadata, as du would count it.
func (ds *Dataset) DiskBytes() int64 {
	var n int64
	filepath.WalkDir(ds.Dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if info, err := d.Info(); err == nil && !d.IsDir() {
			if st, ok := info.Sys().(*syscall.Stat_t); ok {
				n += st.Blocks * 512
			} else {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

// Close stops the server and releases the data set for other runs.
func (ds *Dataset) Close() error {
	var err error
	if ds.Store != nil {
		err = ds.Store.Close()
	}
	if ds.Server != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		err = errors.Join(err, ds.Server.Stop(ctx))
		cancel()
	}
	if ds.lock != nil {
		ds.lock.Close() // releases the flock
	}
	return err
}

func readStamp(path string, s *Stamp) bool {
	b, err := os.ReadFile(path)
	return err == nil && json.Unmarshal(b, s) == nil
}

func writeStamp(path string, s Stamp) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("reportbench: %w", err)
	}
	return os.Rename(tmp, path)
}
