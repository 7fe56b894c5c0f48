package dashtest

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/fleetproof/fleetproof/dashboards"
)

// Query is one SQL statement of a dashboard, as written in it (macros and
// variables unexpanded).
type Query struct {
	File  string // the dashboard file, e.g. fleetproof-posture.json
	Where string // e.g. `panel 4 "Failing devices" target A`, or `variable check`
	Panel string // the panel title; empty for a variable or annotation
	SQL   string
	vars  map[string]variableDef
}

// Name identifies the statement in test output.
func (q Query) Name() string { return q.File + ": " + q.Where }

// Expand returns the statement as ClickHouse receives it in scenario s,
// without a trailing semicolon (Grafana sends one statement).
func (q Query) Expand(s Scenario) (string, error) {
	sql, err := expand(q.SQL, q.vars, s)
	if err != nil {
		return "", fmt.Errorf("%s: %w", q.Name(), err)
	}
	return strings.TrimRight(strings.TrimSpace(sql), "; \n\t"), nil
}

// The parts of Grafana's dashboard model that carry SQL. A ClickHouse
// plugin query keeps its SQL in rawSql; a query variable in query (a
// string, or an object with rawSql in newer plugin versions).
type (
	dashboardJSON struct {
		Panels     []panelJSON `json:"panels"`
		Templating struct {
			List []variableJSON `json:"list"`
		} `json:"templating"`
		Annotations struct {
			List []struct {
				Name   string      `json:"name"`
				Target *targetJSON `json:"target"`
			} `json:"list"`
		} `json:"annotations"`
	}
	panelJSON struct {
		ID      int          `json:"id"`
		Title   string       `json:"title"`
		Targets []targetJSON `json:"targets"`
		Panels  []panelJSON  `json:"panels"` // a collapsed row's panels
	}
	targetJSON struct {
		RefID  string `json:"refId"`
		RawSQL string `json:"rawSql"`
	}
	variableJSON struct {
		Name       string          `json:"name"`
		Type       string          `json:"type"`
		Query      json.RawMessage `json:"query"`
		Multi      bool            `json:"multi"`
		IncludeAll bool            `json:"includeAll"`
		AllValue   *string         `json:"allValue"`
	}
)

// Queries returns every SQL statement of every embedded Grafana dashboard:
// each panel target (rows' panels included), each query variable and each
// annotation query. Targets without rawSql (another data source's) are
// skipped; TestEveryStatementIsFound checks that nothing SQL-like is.
func Queries() ([]Query, error) {
	return queriesIn(dashboards.Grafana())
}

func queriesIn(fsys fs.FS) ([]Query, error) {
	files, err := fs.Glob(fsys, "*.json")
	if err != nil {
		return nil, err
	}
	var out []Query
	for _, file := range files {
		b, err := fs.ReadFile(fsys, file)
		if err != nil {
			return nil, err
		}
		var d dashboardJSON
		if err := json.Unmarshal(b, &d); err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		vars := map[string]variableDef{}
		for _, v := range d.Templating.List {
			def := variableDef{Multi: v.Multi, IncludeAll: v.IncludeAll}
			if v.AllValue != nil {
				def.AllValue = *v.AllValue
			}
			vars[v.Name] = def
		}
		add := func(where, panel, sql string) {
			if strings.TrimSpace(sql) != "" {
				out = append(out, Query{File: path.Base(file), Where: where, Panel: panel, SQL: sql, vars: vars})
			}
		}
		var walk func([]panelJSON)
		walk = func(ps []panelJSON) {
			for _, p := range ps {
				for _, t := range p.Targets {
					add(fmt.Sprintf("panel %d %q target %s", p.ID, p.Title, t.RefID), p.Title, t.RawSQL)
				}
				walk(p.Panels)
			}
		}
		walk(d.Panels)
		for _, v := range d.Templating.List {
			if v.Type != "query" || len(v.Query) == 0 {
				continue
			}
			var sql string
			if err := json.Unmarshal(v.Query, &sql); err != nil {
				var obj struct {
					RawSQL string `json:"rawSql"`
					Query  string `json:"query"`
				}
				if err := json.Unmarshal(v.Query, &obj); err != nil {
					return nil, fmt.Errorf("%s: variable %s: query is neither a string nor an object", file, v.Name)
				}
				sql = obj.RawSQL + obj.Query
			}
			add("variable "+v.Name, "", sql)
		}
		for _, a := range d.Annotations.List {
			if a.Target != nil {
				add("annotation "+a.Name, "", a.Target.RawSQL)
			}
		}
	}
	return out, nil
}
