package osquery_test

import (
	"reflect"
	"testing"

	"github.com/fleetproof/fleetproof/agent/internal/osquery"
)

func TestParseQueryContextAcceptsEveryOsqueryVersion(t *testing.T) {
	cases := []struct {
		name, json string
		want       osquery.QueryContext
	}{
		{"empty context", ``, osquery.QueryContext{Constraints: map[string][]osquery.Constraint{}}},
		{"osquery 5: numeric ops, colsUsed",
			`{"constraints":[{"name":"path","list":[{"op":2,"expr":"/etc/hosts"}],"affinity":"TEXT"},{"name":"size","list":[],"affinity":"BIGINT"}],"colsUsed":["path","size"],"colsUsedBitset":3}`,
			osquery.QueryContext{
				Constraints: map[string][]osquery.Constraint{"path": {{Op: 2, Expr: "/etc/hosts"}}},
				ColsUsed:    []string{"path", "size"},
			}},
		{"pre-3.0: string ops, empty list as string",
			`{"constraints":[{"name":"uid","list":[{"op":"32","expr":"500"},{"op":"16","expr":"1000"}],"affinity":"BIGINT"},{"name":"username","list":"","affinity":"TEXT"}]}`,
			osquery.QueryContext{Constraints: map[string][]osquery.Constraint{"uid": {{Op: 32, Expr: "500"}, {Op: 16, Expr: "1000"}}}}},
		{"IN expanded to several equals",
			`{"constraints":[{"name":"name","list":[{"op":2,"expr":"a"},{"op":2,"expr":"b"}],"affinity":"TEXT"}]}`,
			osquery.QueryContext{Constraints: map[string][]osquery.Constraint{"name": {{Op: 2, Expr: "a"}, {Op: 2, Expr: "b"}}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := osquery.ParseQueryContext(tc.json)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
	for _, bad := range []string{`{`, `{"constraints":[{"name":"a","list":[{"op":"eq","expr":"x"}]}]}`} {
		if _, err := osquery.ParseQueryContext(bad); err == nil {
			t.Errorf("ParseQueryContext(%s) succeeded", bad)
		}
	}
}
