package builtin

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	sqlite "modernc.org/sqlite"
)

// Version is reported in osquery_info.version as "builtin-<Version>" so that
// evidence produced by this engine is never mistaken for real osqueryd output.
const Version = "0.1.0"

// Column describes one result column the way osquery's getQueryColumns does.
type Column struct {
	Name string
	Type string // TEXT, INTEGER, BIGINT, UNSIGNED BIGINT, DOUBLE, BLOB or UNKNOWN
}

// Options configures an Engine.
type Options struct {
	// Root is the host filesystem root. Empty means "/". Tests point it at
	// a fake tree; live-only data (statfs, uname) is then omitted or taken
	// from the running kernel, as documented per table.
	Root string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Engine answers osquery SQL over Go implementations of osquery tables.
// It is safe for concurrent use: every query gets its own private
// in-memory SQLite database.
type Engine struct {
	fs         rootFS
	now        func() time.Time
	started    time.Time
	instanceID string
	tables     map[string]*tableDef
}

// New returns an Engine reading the host through opts.Root.
func New(opts Options) *Engine {
	root := opts.Root
	if root == "" {
		root = "/"
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	e := &Engine{fs: rootFS{root: root}, now: now, tables: map[string]*tableDef{}}
	e.started = now()
	e.instanceID = newInstanceID()
	for _, t := range allTables() {
		e.tables[t.name] = t
	}
	return e
}

// Name identifies the engine in results and logs.
func (e *Engine) Name() string { return "builtin" }

// Tables lists the table names this engine can answer, sorted.
func (e *Engine) Tables() []string {
	names := make([]string, 0, len(e.tables))
	for n := range e.tables {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// QueryError carries SQLite's own message (e.g. "no such table: x"), the
// text osqueryd would return in its status message.
type QueryError struct {
	Msg  string
	Code int // SQLite result code, 0 when the failure is not SQLite's
	err  error
}

func (q *QueryError) Error() string { return "builtin: query: " + q.Msg }
func (q *QueryError) Unwrap() error { return q.err }

// Query runs sql and returns rows as osquery does: every value a string,
// NULL as "".
func (e *Engine) Query(ctx context.Context, query string) ([]map[string]string, error) {
	var out []map[string]string
	err := e.withDB(ctx, query, func(conn *sql.Conn) error {
		rows, err := conn.QueryContext(ctx, query)
		if err != nil {
			return err
		}
		defer rows.Close()
		cols, err := rows.Columns()
		if err != nil {
			return err
		}
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				return err
			}
			r := make(map[string]string, len(cols))
			for i, c := range cols {
				r[c] = stringify(vals[i])
			}
			out = append(out, r)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	if out == nil {
		out = []map[string]string{}
	}
	return out, nil
}

// Columns reports the result columns of query with osquery type names.
// Columns read straight from a table carry the table's declared type; for
// expressions SQLite has no declared type, so the type of the first row's
// value is used (integers as BIGINT), and UNKNOWN when there is no row.
func (e *Engine) Columns(ctx context.Context, query string) ([]Column, error) {
	var out []Column
	err := e.withDB(ctx, query, func(conn *sql.Conn) error {
		rows, err := conn.QueryContext(ctx, query)
		if err != nil {
			return err
		}
		defer rows.Close()
		types, err := rows.ColumnTypes()
		if err != nil {
			return err
		}
		vals := make([]any, len(types))
		if rows.Next() {
			ptrs := make([]any, len(types))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				return err
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for i, t := range types {
			out = append(out, Column{Name: t.Name(), Type: columnType(t.DatabaseTypeName(), vals[i])})
		}
		return nil
	})
	return out, err
}

// withDB opens a private in-memory database, materialises every known
// table the query mentions and hands over the connection. A fresh database
// per query keeps concurrent queries and query side effects (CREATE, DELETE)
// isolated, which a shared pool of temp tables would not.
func (e *Engine) withDB(ctx context.Context, query string, fn func(*sql.Conn) error) error {
	if err := ctx.Err(); err != nil {
		return &QueryError{Msg: err.Error(), err: err}
	}
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		return &QueryError{Msg: err.Error(), err: err}
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	conn, err := db.Conn(ctx)
	if err != nil {
		return wrapErr(err)
	}
	defer conn.Close()

	for _, name := range referencedTables(query, e.tables) {
		if err := e.materialize(ctx, conn, e.tables[name]); err != nil {
			return err
		}
	}
	// The query must not reach the host filesystem: ATTACH (and VACUUM
	// INTO, which SQLite authorizes as an ATTACH) could read or write
	// arbitrary files as root.
	if err := conn.Raw(func(dc any) error {
		reg, ok := dc.(sqlite.AuthorizerRegisterer)
		if !ok {
			return errors.New("sqlite driver lacks an authorizer")
		}
		return reg.RegisterAuthorizer(denyFilesystemAccess)
	}); err != nil {
		return wrapErr(err)
	}
	return wrapErr(fn(conn))
}

func denyFilesystemAccess(action sqlite.AuthorizerActionCode, _, _, _, _ string) sqlite.AuthorizerReturnCode {
	if action == sqlite.AuthAttach || action == sqlite.AuthDetach {
		return sqlite.AuthorizerDeny
	}
	return sqlite.AuthorizerOK
}

func (e *Engine) materialize(ctx context.Context, conn *sql.Conn, t *tableDef) error {
	rows, err := t.gen(ctx, e)
	if err != nil {
		if ctx.Err() != nil {
			return wrapErr(ctx.Err())
		}
		return &QueryError{Msg: fmt.Sprintf("table %s: %v", t.name, err), err: err}
	}
	defs := make([]string, len(t.columns))
	marks := make([]string, len(t.columns))
	for i, c := range t.columns {
		defs[i] = quoteIdent(c.Name) + " " + c.Type
		marks[i] = "?"
	}
	if _, err := conn.ExecContext(ctx, "CREATE TABLE "+quoteIdent(t.name)+" ("+strings.Join(defs, ", ")+")"); err != nil {
		return wrapErr(err)
	}
	if len(rows) == 0 {
		return nil
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return wrapErr(err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	stmt, err := tx.PrepareContext(ctx, "INSERT INTO "+quoteIdent(t.name)+" VALUES ("+strings.Join(marks, ", ")+")")
	if err != nil {
		return wrapErr(err)
	}
	defer stmt.Close()
	args := make([]any, len(t.columns))
	for _, r := range rows {
		for i, c := range t.columns {
			args[i] = r[c.Name] // absent -> nil -> NULL, as in osquery
		}
		if _, err := stmt.ExecContext(ctx, args...); err != nil {
			return wrapErr(err)
		}
	}
	return wrapErr(tx.Commit())
}

// wrapErr turns driver errors into QueryError with SQLite's bare message:
// modernc formats errors as "<errstr>: <errmsg> (<code>)" and osquery
// reports only errmsg.
func wrapErr(err error) error {
	if err == nil {
		return nil
	}
	var qe *QueryError
	if errors.As(err, &qe) {
		return err
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		msg := se.Error()
		msg = strings.TrimSuffix(msg, " ("+strconv.Itoa(se.Code())+")")
		if i := strings.Index(msg, ": "); i >= 0 {
			msg = msg[i+2:]
		}
		return &QueryError{Msg: msg, Code: se.Code(), err: err}
	}
	return &QueryError{Msg: err.Error(), err: err}
}

// stringify renders a value as osquery's extension API does: integers in
// decimal, reals as SQLite prints them ("%!.15g"), NULL as "".
func stringify(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return formatReal(x)
	case string:
		return x
	case []byte:
		return string(x)
	case bool:
		if x {
			return "1"
		}
		return "0"
	case time.Time:
		return x.Format("2006-01-02 15:04:05")
	default:
		return fmt.Sprint(x)
	}
}

func formatReal(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	case math.IsNaN(f):
		return ""
	}
	s := strconv.FormatFloat(f, 'g', 15, 64)
	if strings.ContainsAny(s, ".") {
		return s
	}
	if i := strings.IndexByte(s, 'e'); i >= 0 {
		return s[:i] + ".0" + s[i:]
	}
	return s + ".0"
}

var osqueryTypes = map[string]bool{
	"TEXT": true, "INTEGER": true, "BIGINT": true, "UNSIGNED BIGINT": true, "DOUBLE": true, "BLOB": true,
}

func columnType(decl string, sample any) string {
	decl = strings.ToUpper(strings.TrimSpace(decl))
	if osqueryTypes[decl] {
		return decl
	}
	if decl != "" {
		// SQLite's affinity rules, for tables a query creates itself.
		switch {
		case strings.Contains(decl, "INT"):
			return "BIGINT"
		case strings.Contains(decl, "CHAR"), strings.Contains(decl, "CLOB"), strings.Contains(decl, "TEXT"):
			return "TEXT"
		case strings.Contains(decl, "REAL"), strings.Contains(decl, "FLOA"), strings.Contains(decl, "DOUB"):
			return "DOUBLE"
		}
		return "UNKNOWN"
	}
	switch sample.(type) {
	case int64:
		return "BIGINT"
	case float64:
		return "DOUBLE"
	case string:
		return "TEXT"
	case []byte:
		return "BLOB"
	}
	return "UNKNOWN"
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func newInstanceID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
