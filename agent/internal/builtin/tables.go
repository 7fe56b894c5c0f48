package builtin

import (
	"context"
	"sort"
	"strings"
)

// row maps column name to a string, int64 or nil (NULL). Columns a
// generator leaves out are NULL, as in osquery.
type row map[string]any

type tableDef struct {
	name    string
	columns []Column
	gen     func(ctx context.Context, e *Engine) ([]row, error)
}

func allTables() []*tableDef {
	return []*tableDef{
		osVersionTable,
		systemInfoTable,
		kernelInfoTable,
		uptimeTable,
		osqueryInfoTable,
		mountsTable,
		diskEncryptionTable,
		blockDevicesTable,
		debPackagesTable,
		processesTable,
		usersTable,
		aptSourcesTable,
		loggedInUsersTable,
		rpmPackagesTable,
		iptablesTable,
		autoUpdatesTable,
		screenlockTable,
	}
}

// cols builds a schema from "name TYPE" pairs, keeping table files short
// and the column order identical to osquery's specs.
func cols(spec ...string) []Column {
	out := make([]Column, 0, len(spec))
	for _, s := range spec {
		name, typ, _ := strings.Cut(s, " ")
		out = append(out, Column{Name: name, Type: typ})
	}
	return out
}

// referencedTables returns the known table names that appear as
// identifiers in query, ignoring string literals and comments, so that only
// those tables are generated. A false positive (a column that shares a
// table's name) only costs generation time; a false negative cannot happen
// because every table reference is an identifier token.
func referencedTables(query string, known map[string]*tableDef) []string {
	seen := map[string]bool{}
	for _, id := range identifiers(query) {
		id = strings.ToLower(id)
		if known[id] != nil {
			seen[id] = true
		}
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// identifiers tokenizes SQL just enough to find identifiers: bare words,
// "double", `back` and [bracket] quoted names. 'strings' and comments are
// skipped.
func identifiers(q string) []string {
	var out []string
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == '\'':
			i = skipQuoted(q, i, '\'')
		case c == '-' && i+1 < len(q) && q[i+1] == '-':
			for i < len(q) && q[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(q) && q[i+1] == '*':
			end := strings.Index(q[i+2:], "*/")
			if end < 0 {
				i = len(q)
			} else {
				i += end + 4
			}
		case c == '"' || c == '`':
			j := skipQuoted(q, i, c)
			body := q[i+1 : max(i+1, j-1)]
			out = append(out, strings.ReplaceAll(body, string([]byte{c, c}), string(c)))
			i = j
		case c == '[':
			end := strings.IndexByte(q[i:], ']')
			if end < 0 {
				i = len(q)
				continue
			}
			out = append(out, q[i+1:i+end])
			i += end + 1
		case isIdentStart(c):
			j := i + 1
			for j < len(q) && isIdentPart(q[j]) {
				j++
			}
			out = append(out, q[i:j])
			i = j
		default:
			i++
		}
	}
	return out
}

// skipQuoted returns the index just past the quoted token starting at i;
// a doubled quote character is an escaped quote.
func skipQuoted(q string, i int, quote byte) int {
	for j := i + 1; j < len(q); j++ {
		if q[j] == quote {
			if j+1 < len(q) && q[j+1] == quote {
				j++
				continue
			}
			return j + 1
		}
	}
	return len(q)
}

func isIdentStart(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

func isIdentPart(c byte) bool {
	return isIdentStart(c) || c >= '0' && c <= '9' || c == '$'
}
