package store_test

import (
	"context"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fleetproof/fleetproof/collector/internal/store"
	"github.com/fleetproof/fleetproof/internal/chdb"
)

func TestSplitStatements(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, sql string
		want      []string
	}{
		{"empty", "", nil},
		{"whitespace only", " \n\t", nil},
		{"one without semicolon", "SELECT 1", []string{"SELECT 1"}},
		{"trailing semicolon and space", "  SELECT 1 ;\n\n", []string{"SELECT 1"}},
		{"two statements", "SELECT 1; SELECT 2;", []string{"SELECT 1", "SELECT 2"}},
		{"empty statements dropped", ";;SELECT 1;;", []string{"SELECT 1"}},
		{"semicolon in string", "SELECT 'a;b'; SELECT 2", []string{"SELECT 'a;b'", "SELECT 2"}},
		{"escaped quote in string", `SELECT 'it\'s;'; SELECT 2`, []string{`SELECT 'it\'s;'`, "SELECT 2"}},
		{"doubled quote in string", "SELECT 'it''s;x'; SELECT 2", []string{"SELECT 'it''s;x'", "SELECT 2"}},
		{"escaped backslash ends string", `SELECT '\\'; SELECT 2`, []string{`SELECT '\\'`, "SELECT 2"}},
		{"double-dash inside string kept", "SELECT '--x;y' AS a", []string{"SELECT '--x;y' AS a"}},
		{"semicolon in double-quoted identifier", `SELECT 1 AS "a;b"; SELECT 2`, []string{`SELECT 1 AS "a;b"`, "SELECT 2"}},
		{"semicolon in backquoted identifier", "SELECT 1 AS `a;b`; SELECT 2", []string{"SELECT 1 AS `a;b`", "SELECT 2"}},
		{"line comment removed", "SELECT 1 -- one; not two\n, 2", []string{"SELECT 1 \n, 2"}},
		{"comment at end of input", "SELECT 1 -- trailing", []string{"SELECT 1"}},
		{"comment-only pieces dropped", "-- header; with semicolon\n;\n-- another\n", nil},
		{"quote inside comment does not open a string", "-- don't\nSELECT 1; SELECT 2", []string{"SELECT 1", "SELECT 2"}},
		{"block comment removed", "SELECT /* ; it's */ 1; SELECT 2", []string{"SELECT   1", "SELECT 2"}},
		{"block comment keeps tokens apart", "SELECT/**/1", []string{"SELECT 1"}},
		{"unterminated block comment", "SELECT 1; /* ; ", []string{"SELECT 1"}},
		{"single dash and slash are operators", "SELECT 3-1, 4/2; SELECT 2", []string{"SELECT 3-1, 4/2", "SELECT 2"}},
		// Malformed input must not panic or loop; ClickHouse reports it.
		{"unterminated string", "SELECT 'abc; SELECT 2", []string{"SELECT 'abc; SELECT 2"}},
		{"backslash at end of input", `SELECT 'a\`, []string{`SELECT 'a\`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := store.SplitStatements(tc.sql); !slices.Equal(got, tc.want) {
				t.Errorf("SplitStatements(%q)\n got %q\nwant %q", tc.sql, got, tc.want)
			}
		})
	}
}

func TestMigrationsAreNumberedAndSplit(t *testing.T) {
	t.Parallel()
	ms, err := store.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range ms {
		if m.Version != uint32(i+1) {
			t.Errorf("migration %d (%s) has version %d: versions must be 1, 2, 3, ... without gaps", i, m.Name, m.Version)
		}
		if len(m.Statements) == 0 {
			t.Errorf("migration %04d_%s has no statements", m.Version, m.Name)
		}
		for _, st := range m.Statements {
			// Every statement runs again when collectors race (see Migrate).
			if strings.HasPrefix(st, "CREATE") && !strings.Contains(st, "IF NOT EXISTS") {
				t.Errorf("migration %04d_%s: not idempotent: %.60s", m.Version, m.Name, st)
			}
		}
	}
}

// queriesFile holds every statement of store's Go code with literals in
// place of placeholders, so both ClickHouse versions run exactly them.
// Further files testdata/queries_*.sql hold the statements of later
// features, run after it in name order (so each can be written alone).
const queriesFile = "testdata/queries.sql"

func queryFiles(t *testing.T) []string {
	t.Helper()
	more, err := filepath.Glob("testdata/queries_*.sql")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(more)
	return append([]string{queriesFile}, more...)
}

// goQuery is an SQL string from the package source: literal text pieces
// and holes where the Go code splices in a ? argument or a runtime string.
type goQuery struct {
	pos    string
	pieces []string // literal text; a nil-length gap between pieces is a hole
	holes  []bool   // holes[i]: a runtime string follows pieces[i]
}

func (q goQuery) text() string {
	var b strings.Builder
	for i, p := range q.pieces {
		b.WriteString(p)
		if q.holes[i] {
			b.WriteString("…")
		}
	}
	return b.String()
}

var sqlStart = regexp.MustCompile(`(?i)^\s*(SELECT|INSERT|CREATE|ALTER|DROP|WITH|WHERE|OPTIMIZE|TRUNCATE|RENAME|SYSTEM|SET)\b`)

// goQueries finds, in the package's non-test files, every string literal
// or concatenation that starts like SQL. Package-level string constants
// are folded in; any other operand (a variable) becomes a hole.
func goQueries(t *testing.T) []goQuery {
	t.Helper()
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var parsed []*ast.File
	consts := map[string]string{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		parsed = append(parsed, af)
		for _, d := range af.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, name := range vs.Names {
					if i < len(vs.Values) {
						if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
							consts[name.Name], _ = strconv.Unquote(lit.Value)
						}
					}
				}
			}
		}
	}
	var out []goQuery
	for _, af := range parsed {
		ast.Inspect(af, func(n ast.Node) bool {
			expr, ok := n.(ast.Expr)
			if !ok {
				return true
			}
			q := goQuery{pos: fset.Position(expr.Pos()).String()}
			if !flatten(expr, consts, &q) {
				return true // not a string expression; look inside
			}
			if len(q.pieces) > 0 && sqlStart.MatchString(q.pieces[0]) {
				out = append(out, q)
			}
			return false // a string expression's parts are not queries of their own
		})
	}
	return out
}

// flatten appends expr's text to q. It reports false when expr is not a
// string literal or a + chain containing one.
func flatten(expr ast.Expr, consts map[string]string, q *goQuery) bool {
	switch e := expr.(type) {
	case *ast.BasicLit:
		if e.Kind != token.STRING {
			return false
		}
		s, err := strconv.Unquote(e.Value)
		if err != nil {
			return false
		}
		q.pieces, q.holes = append(q.pieces, s), append(q.holes, false)
		return true
	case *ast.ParenExpr:
		return flatten(e.X, consts, q)
	case *ast.BinaryExpr:
		if e.Op != token.ADD || !hasStringLit(e) {
			return false
		}
		return operand(e.X, consts, q) && operand(e.Y, consts, q)
	}
	return false
}

func operand(expr ast.Expr, consts map[string]string, q *goQuery) bool {
	if id, ok := expr.(*ast.Ident); ok {
		if s, ok := consts[id.Name]; ok {
			q.pieces, q.holes = append(q.pieces, s), append(q.holes, false)
			return true
		}
	}
	if flatten(expr, consts, q) {
		return true
	}
	if len(q.pieces) == 0 {
		q.pieces, q.holes = append(q.pieces, ""), append(q.holes, false)
	}
	q.holes[len(q.holes)-1] = true
	return true
}

func hasStringLit(e ast.Expr) bool {
	found := false
	ast.Inspect(e, func(n ast.Node) bool {
		if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
			found = true
		}
		return !found
	})
	return found
}

var spaces = regexp.MustCompile(`\s+`)

// pattern matches q inside the whitespace-free text of queries.sql: each ?
// stands for one literal value, each hole for any text, and neither may
// cross a statement boundary.
func (q goQuery) pattern() *regexp.Regexp {
	var b strings.Builder
	for i, p := range q.pieces {
		parts := strings.Split(spaces.ReplaceAllString(p, ""), "?")
		for j, part := range parts {
			if j > 0 {
				b.WriteString(`[^;]+?`)
			}
			b.WriteString(regexp.QuoteMeta(part))
		}
		if q.holes[i] {
			b.WriteString(`[^;]*?`)
		}
	}
	return regexp.MustCompile(b.String())
}

func TestQueriesFileMatchesGoCode(t *testing.T) {
	t.Parallel()
	var body []byte
	for _, f := range queryFiles(t) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		body = append(append(body, b...), '\n')
	}
	// Comments are not statements: SQL quoted in a comment must not count.
	haystack := spaces.ReplaceAllString(strings.Join(store.SplitStatements(string(body)), ";")+";", "")

	qs := goQueries(t)
	// A floor, so a broken extractor cannot pass by finding nothing: the
	// package sends at least the create, migrate, device, four ingest
	// inserts and the posture query.
	if len(qs) < 12 {
		for _, q := range qs {
			t.Logf("%s: %s", q.pos, q.text())
		}
		t.Fatalf("found only %d SQL strings in the package source", len(qs))
	}
	for _, q := range qs {
		if !q.pattern().MatchString(haystack) {
			t.Errorf("%s: query not in %s or testdata/queries_*.sql (copy it there with literal values for its placeholders):\n%s", q.pos, queriesFile, q.text())
		}
	}
}

func TestSQLRunsOnCurrentClickHouse(t *testing.T) {
	t.Parallel()
	tool := chdb.Tool(t, "the SQL")
	migrations, err := filepath.Glob("migrations/*.sql")
	if err != nil || len(migrations) == 0 {
		t.Fatalf("migrations: %v %v", migrations, err)
	}
	slices.Sort(migrations)
	// The first run downloads ~170 MB; allow for a slow network.
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, tool, append(migrations, queryFiles(t)...)...)
	// queries.sql writes DateTime literals in UTC, as the collector's
	// server is configured; chDB otherwise uses the machine's zone.
	cmd.Env = append(os.Environ(), "TZ=UTC")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == 1 {
			t.Fatalf("a statement fails on ClickHouse 26.x:\n%s", stderr.String())
		}
		t.Fatalf("%s: %v\n%s", tool, err, stderr.String())
	}
	// Same answer as on 18.16 (TestLatestResultsAsOf): the later pass is
	// ignored, and the status enum reads back as its name.
	for _, want := range []string{
		"dev-a\tdisk_encryption\tfail\t2025-03-14 10:00:00\t1 of 1 rows not compliant\t\t",
		"dev-b\tfirewall\terror\t2025-03-14 09:30:00\t\ttimeout\t[]",
		// The lookup of a pair silent through the window.
		"dev-a\tdisk_encryption\tpass\t2025-03-14 11:00:00\t\t\t[]",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("LatestResults on 26.x: no line %q in output:\n%s", want, out)
		}
	}
}
