package osquerytest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"modernc.org/sqlite/vtab"

	"github.com/fleetproof/fleetproof/agent/internal/osquery/gen"
)

// module attaches extension tables as SQLite virtual tables, the way
// osqueryd does: xBestIndex records which WHERE terms SQLite can hand over,
// xFilter turns their values into osquery's query-context JSON and calls
// the extension's generate. SQLite still re-applies the WHERE clause.
type module struct{ s *Server }

// osquery's constraint operator numbers for the SQLite operators it pushes
// down; others (!=, IS, LIMIT, ...) are left to SQLite alone.
var osqueryOps = map[vtab.ConstraintOp]int{
	vtab.OpEQ: 2, vtab.OpGT: 4, vtab.OpLE: 8, vtab.OpLT: 16, vtab.OpGE: 32,
	vtab.OpMATCH: 64, vtab.OpLIKE: 65, vtab.OpGLOB: 66, vtab.OpREGEXP: 67,
}

func (m *module) Create(ctx vtab.Context, args []string) (vtab.Table, error) {
	return m.Connect(ctx, args)
}

func (m *module) Connect(ctx vtab.Context, args []string) (vtab.Table, error) {
	if len(args) < 3 {
		return nil, errors.New("osquery_extension: missing table name")
	}
	name := strings.Trim(args[2], "\"`[]")
	m.s.mu.Lock()
	t := m.s.tables[strings.ToLower(name)]
	m.s.mu.Unlock()
	if t == nil {
		return nil, fmt.Errorf("osquery_extension: no extension table %s", name)
	}
	defs := make([]string, len(t.cols))
	for i, c := range t.cols {
		defs[i] = quoteIdent(c.name) + " " + c.typ
	}
	if err := ctx.Declare("CREATE TABLE x(" + strings.Join(defs, ", ") + ")"); err != nil {
		return nil, err
	}
	return &table{s: m.s, t: t}, nil
}

type table struct {
	s *Server
	t *extTable
}

// BestIndex passes every usable pushable constraint to Filter. idxStr
// carries the columns-used bitmask and "column:op" per argument, since
// Filter sees only the values.
func (t *table) BestIndex(info *vtab.IndexInfo) error {
	var terms []string
	for i := range info.Constraints {
		c := &info.Constraints[i]
		op, ok := osqueryOps[c.Op]
		if !ok || !c.Usable || c.Column < 0 || c.Column >= len(t.t.cols) {
			continue
		}
		c.ArgIndex = len(terms)
		terms = append(terms, fmt.Sprintf("%d:%d", c.Column, op))
	}
	info.IdxNum = int64(len(terms))
	info.IdxStr = strconv.FormatUint(info.ColUsed, 10) + ";" + strings.Join(terms, ",")
	// Constrained scans are cheaper, so SQLite puts the extension table on
	// the inner side of a join and hands it the join values, as in osqueryd.
	info.EstimatedCost = 1e6 / float64(1+len(terms))
	return nil
}

func (t *table) Open() (vtab.Cursor, error) { return &cursor{t: t}, nil }
func (t *table) Disconnect() error          { return nil }
func (t *table) Destroy() error             { return nil }

type cursor struct {
	t    *table
	rows []map[string]string
	i    int
}

type ctxConstraint struct {
	Op   int    `json:"op"`
	Expr string `json:"expr"`
}

type ctxColumn struct {
	Name     string          `json:"name"`
	List     []ctxConstraint `json:"list"`
	Affinity string          `json:"affinity"`
}

// Filter builds the context JSON osqueryd's TablePlugin::setRequestFromContext
// would send and runs the extension's generate.
func (c *cursor) Filter(_ int, idxStr string, vals []vtab.Value) error {
	cols := c.t.t.cols
	doc := struct {
		Constraints    []ctxColumn `json:"constraints"`
		ColsUsed       []string    `json:"colsUsed"`
		ColsUsedBitset uint64      `json:"colsUsedBitset"`
	}{Constraints: make([]ctxColumn, len(cols)), ColsUsed: []string{}}
	for i, col := range cols {
		doc.Constraints[i] = ctxColumn{Name: col.name, List: []ctxConstraint{}, Affinity: col.typ}
	}
	used, terms, _ := strings.Cut(idxStr, ";")
	doc.ColsUsedBitset, _ = strconv.ParseUint(used, 10, 64)
	for i, col := range cols {
		if i < 64 && doc.ColsUsedBitset&(1<<i) != 0 {
			doc.ColsUsed = append(doc.ColsUsed, col.name)
		}
	}
	if terms != "" {
		for i, term := range strings.Split(terms, ",") {
			colStr, opStr, _ := strings.Cut(term, ":")
			ci, _ := strconv.Atoi(colStr)
			op, _ := strconv.Atoi(opStr)
			if i >= len(vals) || vals[i] == nil || ci < 0 || ci >= len(cols) {
				continue
			}
			doc.Constraints[ci].List = append(doc.Constraints[ci].List, ctxConstraint{Op: op, Expr: stringify(vals[i])})
		}
	}
	js, err := json.Marshal(doc)
	if err != nil {
		return err
	}

	var resp *gen.ExtensionResponse
	s := c.t.s
	err = s.callExtension(s.ctx, c.t.t.uuid, func(ctx context.Context, ec *gen.ExtensionClient) (err error) {
		resp, err = ec.Call(ctx, "table", c.t.t.name, gen.ExtensionPluginRequest{"action": "generate", "context": string(js)})
		return err
	})
	if err != nil {
		return fmt.Errorf("extension table %s: %v", c.t.t.name, err)
	}
	if resp == nil || resp.Status == nil || resp.Status.Code != 0 {
		msg := "extension returned no status"
		if resp != nil && resp.Status != nil {
			msg = resp.Status.Message
		}
		return errors.New(msg) // osqueryd fails the statement with the extension's message
	}
	c.rows, c.i = resp.Response, 0
	return nil
}

func (c *cursor) Next() error           { c.i++; return nil }
func (c *cursor) Eof() bool             { return c.i >= len(c.rows) }
func (c *cursor) Rowid() (int64, error) { return int64(c.i), nil }
func (c *cursor) Close() error          { return nil }

// Column types the value by the declared column type, as osqueryd does;
// a value that does not parse, or is missing, is NULL.
func (c *cursor) Column(i int) (vtab.Value, error) {
	col := c.t.t.cols[i]
	v, ok := c.rows[c.i][col.name]
	if !ok {
		return nil, nil
	}
	switch col.typ {
	case "INTEGER", "BIGINT":
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, nil
		}
		return n, nil
	case "UNSIGNED BIGINT":
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return nil, nil
		}
		return int64(n), nil
	case "DOUBLE":
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return nil, nil
		}
		return f, nil
	case "BLOB":
		return []byte(v), nil
	default:
		return v, nil
	}
}
