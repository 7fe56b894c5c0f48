// Package dashboards holds Fleetproof's dashboards as data: Grafana
// dashboard JSON for the ClickHouse data source (grafana/), and the
// collector's built-in web UI (web/), a static page that reads the
// collector's HTTP API. Both are embedded so the collector binary carries
// them and an operator never has to find the files.
//
// Every SQL statement in the Grafana dashboards is executed in tests on
// ClickHouse 18.16 and 26.x against a seeded fleet (see dashtest and
// collector/internal/dashboardsql); README.md explains how to import them.
package dashboards

import (
	"embed"
	"io/fs"
)

//go:embed grafana/*.json web
var files embed.FS

// Grafana returns the Grafana dashboards, one JSON file each.
func Grafana() fs.FS { return sub("grafana") }

// Web returns the built-in web UI: index.html and the assets it loads,
// ready for http.FileServerFS.
func Web() fs.FS { return sub("web") }

func sub(dir string) fs.FS {
	f, err := fs.Sub(files, dir)
	if err != nil {
		panic(err) // dir is a literal embedded above
	}
	return f
}
