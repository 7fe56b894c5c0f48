package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Store is a connection to the collector's ClickHouse database.
type Store struct {
	conn    driver.Conn
	db      string
	cluster string
	log     *slog.Logger
}

// Option configures Open.
type Option func(*Store)

// WithCluster makes every DDL statement run ON CLUSTER name with
// Replicated engines (see ClusterStatement).
func WithCluster(name string) Option { return func(s *Store) { s.cluster = name } }

var dbNameRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Open connects to the database named by dsn (clickhouse://host:port/db),
// creates the database if it does not exist, and applies migrations.
func Open(ctx context.Context, dsn string, log *slog.Logger, options ...Option) (*Store, error) {
	if log == nil {
		log = slog.Default()
	}
	opts, err := clickhouse.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open: parse dsn: %w", err)
	}
	db := opts.Auth.Database
	if db == "" {
		db = "default"
	}
	s := &Store{db: db, log: log}
	for _, o := range options {
		o(s)
	}
	if s.cluster != "" && !dbNameRe.MatchString(s.cluster) {
		return nil, fmt.Errorf("store: open: cluster name %q is not a plain identifier", s.cluster)
	}
	if !dbNameRe.MatchString(db) {
		return nil, fmt.Errorf("store: open: database name %q is not a plain identifier", db)
	}
	// Connect to "default" first: the target database may not exist yet.
	boot := *opts
	boot.Auth.Database = "default"
	bconn, err := clickhouse.Open(&boot)
	if err != nil {
		return nil, fmt.Errorf("store: open: %w", err)
	}
	createDB := "CREATE DATABASE IF NOT EXISTS " + db
	if s.cluster != "" {
		createDB += " ON CLUSTER " + s.cluster
	}
	err = bconn.Exec(ctx, createDB)
	bconn.Close()
	if err != nil {
		return nil, fmt.Errorf("store: open: create database %s: %w", db, err)
	}
	conn, err := clickhouse.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("store: open: %w", err)
	}
	s.conn = conn
	if err := s.Migrate(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the connection.
func (s *Store) Close() error { return s.conn.Close() }

// Ping reports whether ClickHouse answers.
func (s *Store) Ping(ctx context.Context) error { return s.conn.Ping(ctx) }

// Conn exposes the driver connection for tests and tools that read tables
// directly.
func (s *Store) Conn() driver.Conn { return s.conn }

// Migration is one numbered schema file.
type Migration struct {
	Version    uint32
	Name       string
	Statements []string
}

// Migrations returns the embedded schema migrations in order.
func Migrations() ([]Migration, error) {
	entries, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(entries)
	var out []Migration
	for _, path := range entries {
		base := strings.TrimPrefix(path, "migrations/")
		num, name, ok := strings.Cut(strings.TrimSuffix(base, ".sql"), "_")
		v, err := strconv.ParseUint(num, 10, 32)
		if !ok || err != nil {
			return nil, fmt.Errorf("store: migration file %s: want NNNN_name.sql", base)
		}
		body, err := migrationFiles.ReadFile(path)
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Version: uint32(v), Name: name, Statements: SplitStatements(string(body))})
	}
	return out, nil
}

// SplitStatements splits SQL text on semicolons outside quotes and
// comments, dropping comment-only pieces. Quotes are ClickHouse's three:
// 'strings', "identifiers" and `identifiers`, each with backslash escapes
// (a doubled quote needs no special case: it reads as two adjacent quoted
// pieces). Comments are -- to the end of the line and /* ... */; both are
// removed, replaced by whitespace so the tokens around them stay apart.
func SplitStatements(sql string) []string {
	var out []string
	var b strings.Builder
	flush := func() {
		if st := strings.TrimSpace(b.String()); st != "" {
			out = append(out, st)
		}
		b.Reset()
	}
	for i := 0; i < len(sql); i++ {
		c := sql[i]
		switch {
		case c == '-' && i+1 < len(sql) && sql[i+1] == '-':
			for i < len(sql) && sql[i] != '\n' {
				i++
			}
			b.WriteByte('\n')
		case c == '/' && i+1 < len(sql) && sql[i+1] == '*':
			end := strings.Index(sql[i+2:], "*/")
			if end < 0 {
				i = len(sql)
			} else {
				i += 2 + end + 1 // at the closing '/'
			}
			b.WriteByte(' ')
		case c == '\'' || c == '"' || c == '`':
			j := i + 1
			for j < len(sql) && sql[j] != c {
				if sql[j] == '\\' {
					j++
				}
				j++
			}
			b.WriteString(sql[i:min(j+1, len(sql))])
			i = j
		case c == ';':
			flush()
		default:
			b.WriteByte(c)
		}
	}
	flush()
	return out
}

// Migrate applies the migrations not yet recorded in schema_migrations.
// It is safe to run concurrently from several collectors: every statement
// is idempotent (IF NOT EXISTS), and a version recorded twice is harmless.
func (s *Store) Migrate(ctx context.Context) error {
	err := s.conn.Exec(ctx, ClusterStatement(`CREATE TABLE IF NOT EXISTS schema_migrations (
		version UInt32, name String, applied_at DateTime
	) ENGINE = ReplacingMergeTree ORDER BY version`, s.cluster, s.db))
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	applied := map[uint32]bool{}
	rows, err := s.conn.Query(ctx, "SELECT DISTINCT version FROM schema_migrations")
	if err != nil {
		return fmt.Errorf("store: migrate: read applied: %w", err)
	}
	for rows.Next() {
		var v uint32
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return fmt.Errorf("store: migrate: %w", err)
		}
		applied[v] = true
	}
	// An error that ended the scan early would look like "nothing applied".
	err = rows.Err()
	rows.Close()
	if err != nil {
		return fmt.Errorf("store: migrate: read applied: %w", err)
	}
	ms, err := Migrations()
	if err != nil {
		return err
	}
	for _, m := range ms {
		if applied[m.Version] {
			continue
		}
		// Some migrations copy what is stored into a new table (0004,
		// 0008): minutes on a large database, so say so before.
		began := time.Now()
		s.log.Info("applying migration", "version", m.Version, "name", m.Name)
		for _, st := range m.Statements {
			if err := s.conn.Exec(ctx, ClusterStatement(st, s.cluster, s.db)); err != nil {
				return fmt.Errorf("store: migrate %04d_%s: %w", m.Version, m.Name, err)
			}
		}
		// A batch, not Exec with VALUES (?): on 18.16 the driver's Exec of
		// an INSERT leaves the server waiting for a data block.
		if err := s.insertOne(ctx, "INSERT INTO schema_migrations (version, name, applied_at)",
			m.Version, m.Name, time.Now().UTC()); err != nil {
			return fmt.Errorf("store: migrate %04d_%s: record: %w", m.Version, m.Name, err)
		}
		s.log.Info("applied migration", "version", m.Version, "name", m.Name, "took", time.Since(began).Round(time.Millisecond))
	}
	return nil
}

// ErrNotFound is returned by lookups that find nothing.
var ErrNotFound = errors.New("store: not found")

// insertOne inserts a single row through a batch.
func (s *Store) insertOne(ctx context.Context, insert string, values ...any) error {
	b, err := s.conn.PrepareBatch(ctx, insert)
	if err != nil {
		return err
	}
	if err := b.Append(values...); err != nil {
		b.Abort()
		return err
	}
	return b.Send()
}
