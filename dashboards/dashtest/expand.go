package dashtest

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// All is Grafana's value for a variable's "All" option.
const All = "$__all"

// Scenario is what Grafana knows when it sends a panel's query: the time
// range, the interval it chose for the panel's width, and what is selected
// in each variable.
type Scenario struct {
	Name     string
	From, To time.Time
	Interval time.Duration
	// Select maps a variable to its selected values; {All} is the All option.
	Select map[string][]string
}

// Scenarios are the selections every statement runs with. "all" is the
// dashboard as it opens; "selected" narrows both variables, so the
// filters' other branch runs too, including a value that needs quoting.
func Scenarios() []Scenario {
	return []Scenario{
		{Name: "all", From: From, To: To, Interval: time.Hour,
			Select: map[string][]string{"check": {All}, "device": {All}}},
		{Name: "selected", From: From, To: To, Interval: 5 * time.Minute,
			Select: map[string][]string{"check": {"disk_encryption", "os_patch_currency", "o'brien"}, "device": {"dev-win-02"}}},
	}
}

// variableDef is what the dashboard JSON says about a variable.
type variableDef struct {
	Multi, IncludeAll bool
	// AllValue replaces the whole expression, unformatted, when All is
	// selected (Grafana's "custom all value").
	AllValue string
}

// The substitution table. Macros are expanded by the ClickHouse plugin
// in Grafana's backend (grafana-clickhouse-datasource pkg/macros): an
// argument list runs to the first ")" and is split on commas. Variables
// are expanded before, by Grafana's frontend.
//
//	$__timeFilter(c)       c >= toDateTime(<from s>) AND c <= toDateTime(<to s>)
//	$__fromTime            toDateTime(<from s>)
//	$__toTime              toDateTime(<to s>)
//	$__dateFilter(c)       c >= toDate('<from date>') AND c <= toDate('<to date>')
//	$__dateTimeFilter(d,t) (d >= toDate(…) AND d <= toDate(…)) AND (t >= toDateTime(…) AND t <= toDateTime(…))
//	$__dt(d,t)             same as $__dateTimeFilter
//	$__interval_s          the panel interval in whole seconds, at least 1
//	${v:singlequote}       'a','b' (a quote inside a value as \'); the custom all value, raw, for All
//	${v:sqlstring}         'a','b' (a quote inside a value doubled);     the custom all value, raw, for All
//	${v:raw}, ${v:csv}     a,b;                                          the custom all value, raw, for All
//
// $name and [[name]] are the same variable as ${name}. Refused, because
// ClickHouse 18.16 cannot run what they expand to: $__timeFilter_ms,
// $__fromTime_ms, $__toTime_ms (DateTime64, fromUnixTimestamp64Milli) and
// $__timeInterval, $__timeInterval_ms (toStartOfInterval); bucket with
// intDiv(toUInt32(c), $__interval_s) * $__interval_s instead. A variable
// without a format is refused too, so what runs here is what Grafana sends
// rather than a guess at a plugin's default quoting.
var refusedMacros = map[string]string{
	"timeFilter_ms":   "expands to fromUnixTimestamp64Milli, which ClickHouse 18.16 lacks",
	"fromTime_ms":     "expands to fromUnixTimestamp64Milli, which ClickHouse 18.16 lacks",
	"toTime_ms":       "expands to fromUnixTimestamp64Milli, which ClickHouse 18.16 lacks",
	"timeInterval":    "expands to toStartOfInterval, which ClickHouse 18.16 lacks; use intDiv(toUInt32(col), $__interval_s) * $__interval_s",
	"timeInterval_ms": "expands to toStartOfInterval and DateTime64, which ClickHouse 18.16 lacks",
}

var (
	// Grafana's variable syntaxes: $name, ${name}, ${name:format}, [[name]], [[name:format]].
	variableRe = regexp.MustCompile(`\$(\w+)|\$\{(\w+)(?::([^}]*))?\}|\[\[(\w+)(?::([^\]]*))?\]\]`)
	macroRe    = regexp.MustCompile(`\$__(\w+)(?:\(([^)]*)\))?`)
)

// expand returns sql as ClickHouse receives it from Grafana in scenario s.
func expand(sql string, vars map[string]variableDef, s Scenario) (string, error) {
	var errs []string
	// Frontend first: template variables. Names starting with __ are
	// Grafana's own ($__interval, $__from) or the plugin's macros, which
	// the backend expands next.
	sql = variableRe.ReplaceAllStringFunc(sql, func(m string) string {
		sub := variableRe.FindStringSubmatch(m)
		name, format := sub[1]+sub[2]+sub[4], sub[3]+sub[5]
		if strings.HasPrefix(name, "__") {
			return m
		}
		def, ok := vars[name]
		if !ok {
			errs = append(errs, fmt.Sprintf("%s: no such variable in the dashboard", m))
			return m
		}
		v, err := interpolate(def, s.Select[name], format)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", m, err))
			return m
		}
		return v
	})
	sql = macroRe.ReplaceAllStringFunc(sql, func(m string) string {
		sub := macroRe.FindStringSubmatch(m)
		v, err := macro(sub[1], sub[2], strings.Contains(m, "("), s)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", m, err))
			return m
		}
		return v
	})
	if len(errs) > 0 {
		return "", fmt.Errorf("scenario %s: %s", s.Name, strings.Join(errs, "; "))
	}
	return sql, nil
}

func interpolate(def variableDef, selected []string, format string) (string, error) {
	if len(selected) == 0 {
		return "", fmt.Errorf("nothing selected in the scenario")
	}
	if len(selected) > 1 && !def.Multi {
		return "", fmt.Errorf("%d values selected but the variable is not multi-value", len(selected))
	}
	var quote func(string) string
	switch format {
	case "singlequote":
		quote = func(v string) string { return "'" + strings.ReplaceAll(v, "'", `\'`) + "'" }
	case "sqlstring":
		quote = func(v string) string { return "'" + strings.ReplaceAll(v, "'", "''") + "'" }
	case "raw", "csv":
		quote = func(v string) string { return v }
	case "":
		return "", fmt.Errorf("no format: write ${name:singlequote} so the quoting is explicit")
	default:
		return "", fmt.Errorf("format %q is not in the substitution table", format)
	}
	if len(selected) == 1 && selected[0] == All {
		if !def.IncludeAll {
			return "", fmt.Errorf("All selected but the variable has no All option")
		}
		if def.AllValue == "" {
			// Grafana would list every option: with a whole fleet that
			// is an IN list of every device id in every query.
			return "", fmt.Errorf("the variable needs a custom all value")
		}
		return def.AllValue, nil
	}
	out := make([]string, len(selected))
	for i, v := range selected {
		out[i] = quote(v)
	}
	return strings.Join(out, ","), nil
}

func macro(name, rawArgs string, hasArgs bool, s Scenario) (string, error) {
	if why, ok := refusedMacros[name]; ok {
		return "", fmt.Errorf("refused: %s", why)
	}
	var args []string
	if hasArgs {
		for _, a := range strings.Split(rawArgs, ",") {
			args = append(args, strings.TrimSpace(a))
		}
	}
	from, to := s.From.UTC(), s.To.UTC()
	dt := func(t time.Time) string { return "toDateTime(" + strconv.FormatInt(t.Unix(), 10) + ")" }
	date := func(t time.Time) string { return "toDate('" + t.Format(time.DateOnly) + "')" }
	want := func(n int) error {
		if len(args) != n {
			return fmt.Errorf("want %d argument(s), have %d", n, len(args))
		}
		return nil
	}
	switch name {
	case "fromTime":
		return dt(from), want(0)
	case "toTime":
		return dt(to), want(0)
	case "interval_s":
		return strconv.Itoa(max(int(s.Interval.Seconds()), 1)), want(0)
	case "timeFilter":
		if err := want(1); err != nil {
			return "", err
		}
		c := args[0]
		return c + " >= " + dt(from) + " AND " + c + " <= " + dt(to), nil
	case "dateFilter":
		if err := want(1); err != nil {
			return "", err
		}
		c := args[0]
		return c + " >= " + date(from) + " AND " + c + " <= " + date(to), nil
	case "dateTimeFilter", "dt":
		if err := want(2); err != nil {
			return "", err
		}
		d, c := args[0], args[1]
		return "(" + d + " >= " + date(from) + " AND " + d + " <= " + date(to) + ") AND (" +
			c + " >= " + dt(from) + " AND " + c + " <= " + dt(to) + ")", nil
	}
	known := []string{"fromTime", "toTime", "interval_s", "timeFilter", "dateFilter", "dateTimeFilter", "dt"}
	sort.Strings(known)
	return "", fmt.Errorf("unknown macro; the substitution table has %s", strings.Join(known, ", "))
}
