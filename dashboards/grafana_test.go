package dashboards_test

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"slices"
	"testing"

	"github.com/fleetproof/fleetproof/dashboards"
)

const pluginID = "grafana-clickhouse-datasource"

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type panel struct {
	ID         int                      `json:"id"`
	Type       string                   `json:"type"`
	Title      string                   `json:"title"`
	Datasource *datasource              `json:"datasource"`
	GridPos    struct{ X, Y, W, H int } `json:"gridPos"`
	Targets    []struct {
		RefID      string      `json:"refId"`
		Datasource *datasource `json:"datasource"`
		EditorType string      `json:"editorType"`
		Format     *int        `json:"format"`
		RawSQL     string      `json:"rawSql"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

type dashboard struct {
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []struct {
			Name       string      `json:"name"`
			Type       string      `json:"type"`
			Datasource *datasource `json:"datasource"`
			Query      any         `json:"query"`
			Definition string      `json:"definition"`
			Multi      bool        `json:"multi"`
			IncludeAll bool        `json:"includeAll"`
			AllValue   string      `json:"allValue"`
		} `json:"list"`
	} `json:"templating"`
}

func loadDashboards(t *testing.T) map[string]dashboard {
	t.Helper()
	files, err := fs.Glob(dashboards.Grafana(), "*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no Grafana dashboards embedded: %v", err)
	}
	out := map[string]dashboard{}
	for _, f := range files {
		b, err := fs.ReadFile(dashboards.Grafana(), f)
		if err != nil {
			t.Fatal(err)
		}
		var d dashboard
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[f] = d
	}
	return out
}

// usesVariable is the only data source reference that survives import
// into any Grafana: a data source uid differs per installation.
func usesVariable(ds *datasource) error {
	if ds == nil || ds.Type != pluginID || ds.UID != "${datasource}" {
		return fmt.Errorf("datasource %+v, want {type: %s, uid: ${datasource}}", ds, pluginID)
	}
	return nil
}

func TestGrafanaDashboardsAreImportable(t *testing.T) {
	t.Parallel()
	uids := map[string]string{}
	for file, d := range loadDashboards(t) {
		if d.UID == "" || d.Title == "" {
			t.Errorf("%s: uid %q, title %q: both are needed to import and link it", file, d.UID, d.Title)
		}
		if other, dup := uids[d.UID]; dup {
			t.Errorf("%s: uid %q already used by %s", file, d.UID, other)
		}
		uids[d.UID] = file
		// 39 is Grafana 10.4/11's; older Grafanas migrate it on import,
		// newer ones upgrade it.
		if d.SchemaVersion < 36 || d.SchemaVersion > 41 {
			t.Errorf("%s: schemaVersion %d, want about 39", file, d.SchemaVersion)
		}

		vars := map[string]bool{}
		for _, v := range d.Templating.List {
			vars[v.Name] = true
			switch v.Type {
			case "datasource":
				if v.Query != pluginID {
					t.Errorf("%s: variable %s picks %v data sources, want %s", file, v.Name, v.Query, pluginID)
				}
			case "query":
				if err := usesVariable(v.Datasource); err != nil {
					t.Errorf("%s: variable %s: %v", file, v.Name, err)
				}
				if q, _ := v.Query.(string); q != v.Definition {
					t.Errorf("%s: variable %s: definition %q differs from query %q", file, v.Name, v.Definition, v.Query)
				}
				if v.IncludeAll && v.AllValue == "" {
					t.Errorf("%s: variable %s: All without a custom all value lists every value in every query", file, v.Name)
				}
			}
		}
		if !vars["datasource"] {
			t.Errorf("%s: no datasource variable", file)
		}

		ids := map[int]bool{}
		var check func(ps []panel)
		check = func(ps []panel) {
			for _, p := range ps {
				where := fmt.Sprintf("%s: panel %d %q", file, p.ID, p.Title)
				if p.ID == 0 || ids[p.ID] {
					t.Errorf("%s: id missing or not unique", where)
				}
				ids[p.ID] = true
				if g := p.GridPos; g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
					t.Errorf("%s: gridPos %+v outside the 24-column grid", where, g)
				}
				if p.Type == "row" {
					check(p.Panels)
					continue
				}
				if err := usesVariable(p.Datasource); err != nil {
					t.Errorf("%s: %v", where, err)
				}
				if len(p.Targets) == 0 {
					t.Errorf("%s: no query", where)
				}
				refs := map[string]bool{}
				for _, tg := range p.Targets {
					if err := usesVariable(tg.Datasource); err != nil {
						t.Errorf("%s target %s: %v", where, tg.RefID, err)
					}
					if tg.RefID == "" || refs[tg.RefID] {
						t.Errorf("%s: refId %q missing or repeated", where, tg.RefID)
					}
					refs[tg.RefID] = true
					// format: 0 time series, 1 table (the plugin's enum).
					if tg.RawSQL == "" || tg.EditorType != "sql" || tg.Format == nil || *tg.Format > 1 {
						t.Errorf("%s target %s: want rawSql, editorType sql and format 0 or 1", where, tg.RefID)
					}
				}
			}
		}
		check(d.Panels)
	}
}

// TestPosturePanels pins the questions the posture dashboard answers.
func TestPosturePanels(t *testing.T) {
	t.Parallel()
	d, ok := loadDashboards(t)["fleetproof-posture.json"]
	if !ok {
		t.Fatal("fleetproof-posture.json is not embedded")
	}
	var titles []string
	for _, p := range d.Panels {
		titles = append(titles, p.Title)
	}
	for _, want := range []string{
		"Fleet compliance", "Compliance by check", "Compliance trend (daily)", "Failing devices",
		"Devices that stopped reporting", "Dead letters by reason", "Spool gaps reported by agents",
	} {
		if !slices.Contains(titles, want) {
			t.Errorf("no panel %q; panels: %q", want, titles)
		}
	}
	var vars []string
	for _, v := range d.Templating.List {
		vars = append(vars, v.Name)
	}
	for _, want := range []string{"datasource", "check", "device"} {
		if !slices.Contains(vars, want) {
			t.Errorf("no variable %q; variables: %q", want, vars)
		}
	}
}
