package osquery

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"

	"github.com/fleetproof/fleetproof/agent/internal/osquery/gen"
)

// Table is an extension table the agent adds to osqueryd, for what osquery
// lacks (e.g. Linux desktop screen-lock settings).
type Table struct {
	Name    string
	Columns []Column // Type defaults to TEXT
	// Generate returns the table's rows; a value missing from a row is
	// NULL. Constraints in qc are hints only: SQLite re-applies the WHERE
	// clause, so ignoring them is correct, just slower.
	Generate func(ctx context.Context, qc QueryContext) ([]map[string]string, error)
}

// Constraint operators osquery sends in a query context.
const (
	OpUnique             = 1
	OpEquals             = 2
	OpGreaterThan        = 4
	OpLessThanOrEquals   = 8
	OpLessThan           = 16
	OpGreaterThanOrEqual = 32
	OpMatch              = 64
	OpLike               = 65
	OpGlob               = 66
	OpRegexp             = 67
)

// Constraint is one WHERE-clause term osquery pushed down to a table
// column. Expr is the right-hand side as text, whatever its SQL type.
type Constraint struct {
	Op   int
	Expr string
}

// QueryContext is what osquery tells a table about the query it answers.
type QueryContext struct {
	// Constraints by column name; columns without any are absent.
	Constraints map[string][]Constraint
	// ColsUsed names the columns the query reads (osquery 4.x and later;
	// nil when osquery did not say).
	ColsUsed []string
}

// Equals returns the values a query requires column to equal, e.g. ["alice"]
// for WHERE username = 'alice'. Tables that can only enumerate some rows
// cheaply (per user, per path) use it to decide what to generate.
func (qc QueryContext) Equals(column string) []string {
	var out []string
	for _, c := range qc.Constraints[column] {
		if c.Op == OpEquals {
			out = append(out, c.Expr)
		}
	}
	return out
}

// ParseQueryContext decodes the "context" JSON osquery sends with a
// generate call, e.g.
//
//	{"constraints":[{"name":"path","list":[{"op":2,"expr":"/etc/hosts"}],"affinity":"TEXT"}],"colsUsed":["path"]}
//
// op is a number today but was a string before osquery 3.0, and an empty
// list used to be sent as "" rather than []; both are accepted.
func ParseQueryContext(s string) (QueryContext, error) {
	qc := QueryContext{Constraints: map[string][]Constraint{}}
	if s == "" {
		return qc, nil
	}
	var doc struct {
		Constraints []struct {
			Name string          `json:"name"`
			List json.RawMessage `json:"list"`
		} `json:"constraints"`
		ColsUsed []string `json:"colsUsed"`
	}
	if err := json.Unmarshal([]byte(s), &doc); err != nil {
		return QueryContext{}, fmt.Errorf("query context: %w", err)
	}
	qc.ColsUsed = doc.ColsUsed
	for _, col := range doc.Constraints {
		list := bytes.TrimSpace(col.List)
		if len(list) == 0 || list[0] != '[' {
			continue // "" or null: no constraints on this column
		}
		var items []struct {
			Op   json.RawMessage `json:"op"`
			Expr json.RawMessage `json:"expr"`
		}
		if err := json.Unmarshal(list, &items); err != nil {
			return QueryContext{}, fmt.Errorf("query context: column %q: %w", col.Name, err)
		}
		for _, it := range items {
			op, err := jsonInt(it.Op)
			if err != nil {
				return QueryContext{}, fmt.Errorf("query context: column %q: op: %w", col.Name, err)
			}
			qc.Constraints[col.Name] = append(qc.Constraints[col.Name], Constraint{Op: op, Expr: jsonText(it.Expr)})
		}
	}
	return qc, nil
}

func jsonInt(raw json.RawMessage) (int, error) {
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		i, err := strconv.Atoi(n.String())
		return i, err
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return 0, fmt.Errorf("want a number, got %s", raw)
	}
	return strconv.Atoi(s)
}

// jsonText returns a JSON string's value, or any other scalar's literal.
func jsonText(raw json.RawMessage) string {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s
	}
	if string(raw) == "null" {
		return ""
	}
	return string(raw)
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

var columnTypes = map[ColumnType]bool{
	TypeText: true, TypeInteger: true, TypeBigInt: true, TypeUnsignedBigInt: true,
	TypeDouble: true, TypeBlob: true, TypeUnknown: true,
}

// validate catches what osqueryd would refuse only at registration time,
// with a vaguer message ("Failed adding registry: SQLITE_ERROR").
func (t *Table) validate() error {
	if !identRE.MatchString(t.Name) {
		return fmt.Errorf("osquery: table name %q is not a plain SQL identifier", t.Name)
	}
	if len(t.Columns) == 0 {
		return fmt.Errorf("osquery: table %s has no columns (osquery rejects empty route info)", t.Name)
	}
	if t.Generate == nil {
		return fmt.Errorf("osquery: table %s has no Generate function", t.Name)
	}
	seen := map[string]bool{}
	for _, c := range t.Columns {
		if !identRE.MatchString(c.Name) {
			return fmt.Errorf("osquery: table %s: column name %q is not a plain SQL identifier", t.Name, c.Name)
		}
		if seen[c.Name] {
			return fmt.Errorf("osquery: table %s: duplicate column %s", t.Name, c.Name)
		}
		seen[c.Name] = true
		if c.Type != "" && !columnTypes[c.Type] {
			return fmt.Errorf("osquery: table %s: column %s: unknown type %q", t.Name, c.Name, c.Type)
		}
	}
	return nil
}

// routes are the rows osquery stores for the table and builds its schema
// from; it also asks for them again with action "columns".
func (t *Table) routes() gen.ExtensionPluginResponse {
	rows := make(gen.ExtensionPluginResponse, 0, len(t.Columns))
	for _, c := range t.Columns {
		typ := c.Type
		if typ == "" {
			typ = TypeText
		}
		rows = append(rows, map[string]string{
			"id":   "column",
			"name": c.Name,
			"type": string(typ),
			"op":   strconv.Itoa(c.Options),
		})
	}
	return rows
}
