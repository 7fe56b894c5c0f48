package dashtest

import (
	"strings"
	"testing"
	"time"
)

func TestExpand(t *testing.T) {
	t.Parallel()
	vars := map[string]variableDef{
		"check":  {Multi: true, IncludeAll: true, AllValue: "'__all__'"},
		"device": {Multi: true, IncludeAll: true, AllValue: "'__all__'"},
		"single": {},
		"noall":  {Multi: true, IncludeAll: true},
	}
	s := Scenario{Name: "t", From: From, To: To, Interval: 90 * time.Second, Select: map[string][]string{
		"check": {"disk_encryption", "o'brien"}, "device": {All}, "single": {"x"}, "noall": {All},
	}}
	const from, to = "toDateTime(1741564800)", "toDateTime(1741867200)"
	for _, tc := range []struct {
		name, sql, want, err string
	}{
		{"timeFilter", "WHERE $__timeFilter(observed_at)",
			"WHERE observed_at >= " + from + " AND observed_at <= " + to, ""},
		{"timeFilter trims its argument", "$__timeFilter( received_at )",
			"received_at >= " + from + " AND received_at <= " + to, ""},
		{"fromTime and toTime", "$__fromTime, $__toTime", from + ", " + to, ""},
		{"dateFilter uses UTC dates", "$__dateFilter(day)", "day >= toDate('2025-03-10') AND day <= toDate('2025-03-13')", ""},
		{"dateTimeFilter", "$__dateTimeFilter(day, t)",
			"(day >= toDate('2025-03-10') AND day <= toDate('2025-03-13')) AND (t >= " + from + " AND t <= " + to + ")", ""},
		{"dt is dateTimeFilter", "$__dt(d,t)",
			"(d >= toDate('2025-03-10') AND d <= toDate('2025-03-13')) AND (t >= " + from + " AND t <= " + to + ")", ""},
		{"interval_s in whole seconds", "intDiv(x, $__interval_s)", "intDiv(x, 90)", ""},
		{"singlequote escapes with a backslash", "IN (${check:singlequote})", `IN ('disk_encryption','o\'brien')`, ""},
		{"sqlstring doubles the quote", "IN (${check:sqlstring})", `IN ('disk_encryption','o''brien')`, ""},
		{"raw", "${check:raw}", "disk_encryption,o'brien", ""},
		{"All is the custom all value, unformatted", "IN (${device:singlequote})", "IN ('__all__')", ""},
		{"$name is the variable, and needs a format too", "$single", "", "no format"},
		{"[[name:format]]", "[[single:singlequote]]", "'x'", ""},
		{"Grafana's own $__interval is not in the table", "$__interval", "", "unknown macro"},
		{"unknown variable", "${nope:singlequote}", "", "no such variable"},
		{"variable without a format", "IN (${check})", "", "no format"},
		{"unknown format", "${check:regex}", "", "not in the substitution table"},
		{"All without a custom all value", "${noall:singlequote}", "", "needs a custom all value"},
		{"unknown macro", "$__timeGroup(t, 1h)", "", "unknown macro"},
		{"refused on 18.16: timeInterval", "$__timeInterval(t)", "", "toStartOfInterval"},
		{"refused on 18.16: timeFilter_ms", "$__timeFilter_ms(t)", "", "fromUnixTimestamp64Milli"},
		{"wrong argument count", "$__timeFilter(a, b)", "", "want 1 argument"},
		{"argument count of a bare macro", "$__toTime(a)", "", "want 0 argument"},
		{"every problem is reported", "${nope:raw} $__nope", "", "no such variable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := expand(tc.sql, vars, s)
			switch {
			case tc.err != "" && err == nil:
				t.Fatalf("expand(%q) = %q, want an error containing %q", tc.sql, got, tc.err)
			case tc.err != "" && !strings.Contains(err.Error(), tc.err):
				t.Fatalf("expand(%q): error %q, want it to contain %q", tc.sql, err, tc.err)
			case tc.err == "" && err != nil:
				t.Fatalf("expand(%q): %v", tc.sql, err)
			case tc.err == "" && got != tc.want:
				t.Errorf("expand(%q)\n got %q\nwant %q", tc.sql, got, tc.want)
			}
		})
	}
}

func TestExpandSelectionChecks(t *testing.T) {
	t.Parallel()
	vars := map[string]variableDef{"one": {IncludeAll: true, AllValue: "'*'"}, "multi": {Multi: true}}
	for _, tc := range []struct {
		name string
		sel  map[string][]string
		sql  string
		err  string
	}{
		{"nothing selected", map[string][]string{}, "${one:raw}", "nothing selected"},
		{"two values for a single-value variable", map[string][]string{"one": {"a", "b"}}, "${one:raw}", "not multi-value"},
		{"All on a variable without it", map[string][]string{"multi": {All}}, "${multi:raw}", "no All option"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := expand(tc.sql, vars, Scenario{Name: "t", From: From, To: To, Select: tc.sel})
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("error %v, want one containing %q", err, tc.err)
			}
		})
	}
}
