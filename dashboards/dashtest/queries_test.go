package dashtest

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/fleetproof/fleetproof/dashboards"
)

func TestQueriesExtractsEveryKind(t *testing.T) {
	t.Parallel()
	const dash = `{
	  "panels": [
	    {"id": 1, "title": "Top", "targets": [{"refId": "A", "rawSql": "SELECT 1"}, {"refId": "B", "rawSql": ""}]},
	    {"id": 2, "title": "Row", "type": "row", "panels": [
	      {"id": 3, "title": "Inside", "targets": [{"refId": "A", "rawSql": "SELECT 3"}]}]},
	    {"id": 4, "title": "Text", "type": "text", "options": {"content": "no SQL"}}
	  ],
	  "templating": {"list": [
	    {"name": "datasource", "type": "datasource", "query": "grafana-clickhouse-datasource"},
	    {"name": "a", "type": "query", "query": "SELECT 'a'", "multi": true, "includeAll": true, "allValue": "'*'"},
	    {"name": "b", "type": "query", "query": {"rawSql": "SELECT 'b'"}},
	    {"name": "c", "type": "custom", "query": "x,y"}
	  ]},
	  "annotations": {"list": [{"name": "Deploys", "target": {"rawSql": "SELECT 4"}}]}
	}`
	qs, err := queriesIn(fstest.MapFS{"d.json": {Data: []byte(dash)}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, q := range qs {
		got = append(got, q.Name()+" = "+q.SQL)
	}
	want := []string{
		`d.json: panel 1 "Top" target A = SELECT 1`,
		`d.json: panel 3 "Inside" target A = SELECT 3`,
		`d.json: variable a = SELECT 'a'`,
		`d.json: variable b = SELECT 'b'`,
		`d.json: annotation Deploys = SELECT 4`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("queries:\n got %q\nwant %q", got, want)
	}
	if def := qs[2].vars["a"]; !def.Multi || !def.IncludeAll || def.AllValue != "'*'" {
		t.Errorf("variable a read as %+v", def)
	}
}

var sqlLike = regexp.MustCompile(`(?i)^\s*(SELECT|WITH|INSERT|ALTER|CREATE|DROP|OPTIMIZE|TRUNCATE|SHOW|DESCRIBE)\b`)

// TestEveryStatementIsFound is the safety net for Queries: any string in
// any dashboard that reads like SQL, wherever it sits in the JSON, must be
// one the tests execute. A variable's definition is Grafana's display copy
// of its query and must equal it.
func TestEveryStatementIsFound(t *testing.T) {
	t.Parallel()
	qs, err := Queries()
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, q := range qs {
		found[q.File+"\x00"+q.SQL] = true
	}
	files, err := fs.Glob(dashboards.Grafana(), "*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards: %v", err)
	}
	for _, file := range files {
		b, err := fs.ReadFile(dashboards.Grafana(), file)
		if err != nil {
			t.Fatal(err)
		}
		var doc any
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		var walk func(v any, path string)
		walk = func(v any, path string) {
			switch v := v.(type) {
			case map[string]any:
				for k, x := range v {
					walk(x, path+"."+k)
				}
			case []any:
				for i, x := range v {
					walk(x, fmt.Sprintf("%s[%d]", path, i))
				}
			case string:
				if sqlLike.MatchString(v) && !found[file+"\x00"+v] {
					t.Errorf("%s: %s holds SQL the tests do not run:\n%s", file, path, v)
				}
			}
		}
		walk(doc, "$")
	}
	if len(qs) < 11 {
		t.Errorf("found %d statements; the posture dashboard alone has 9 panels and 2 query variables", len(qs))
	}
}

func TestEveryStatementExpands(t *testing.T) {
	t.Parallel()
	qs, err := Queries()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range Scenarios() {
		for _, q := range qs {
			sql, err := q.Expand(s)
			if err != nil {
				t.Error(err)
				continue
			}
			for _, left := range []string{"$", "[["} {
				if strings.Contains(sql, left) {
					t.Errorf("%s, scenario %s: %q left after expansion:\n%s", q.Name(), s.Name, left, sql)
				}
			}
			if strings.Contains(sql, ";") {
				t.Errorf("%s: a semicolon in the statement (comments included): Grafana sends exactly one statement, and the tests must not have to parse SQL to know that", q.Name())
			}
		}
	}
}

func TestExpectationsNamePanels(t *testing.T) {
	t.Parallel()
	qs, err := Queries()
	if err != nil {
		t.Fatal(err)
	}
	panels := map[string]int{}
	for _, q := range qs {
		if q.Panel != "" {
			panels[q.Panel]++
		}
	}
	scenarios := map[string]bool{}
	for _, s := range Scenarios() {
		scenarios[s.Name] = true
	}
	for _, e := range Expected() {
		if panels[e.Panel] != 1 {
			t.Errorf("expectation for panel %q: %d panels with one query have that title, want 1", e.Panel, panels[e.Panel])
		}
		if !scenarios[e.Scenario] {
			t.Errorf("expectation for panel %q: no scenario %q", e.Panel, e.Scenario)
		}
	}
}
