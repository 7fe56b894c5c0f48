// Package benchfmt reads `go test -bench` output for the commands that
// turn benchmark runs into tables (bench/cmd/benchtable,
// reportbench/cmd/reporttable), and formats their figures the same way.
package benchfmt

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// Result is one benchmark line: its name without the -GOMAXPROCS suffix,
// and its metrics by unit.
type Result struct {
	Name    string
	Procs   int
	Metrics map[string]float64
}

var procsSuffix = regexp.MustCompile(`-(\d+)$`)

// ParseLine reads "BenchmarkName-2  N  v unit  v unit ...".
func ParseLine(line string) (Result, bool) {
	f := strings.Fields(line)
	if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
		return Result{}, false
	}
	if _, err := strconv.Atoi(f[1]); err != nil {
		return Result{}, false
	}
	r := Result{Name: f[0], Metrics: map[string]float64{}}
	if m := procsSuffix.FindStringSubmatch(f[0]); m != nil {
		r.Name = strings.TrimSuffix(f[0], m[0])
		r.Procs, _ = strconv.Atoi(m[1])
	}
	for i := 2; i+1 < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return Result{}, false
		}
		r.Metrics[f[i+1]] = v
	}
	return r, true
}

// Read echoes in to echo while collecting the benchmark results; failed
// reports a FAIL or panic line. each, if not nil, sees every line.
func Read(in io.Reader, echo io.Writer, each func(line string)) (results []Result, failed bool, err error) {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		fmt.Fprintln(echo, line)
		if r, ok := ParseLine(line); ok {
			results = append(results, r)
		}
		if each != nil {
			each(line)
		}
		if strings.HasPrefix(line, "FAIL") || strings.HasPrefix(line, "--- FAIL") || strings.HasPrefix(line, "panic:") {
			failed = true
		}
	}
	return results, failed, sc.Err()
}

// Find returns the result named name.
func Find(rs []Result, name string) (Result, bool) {
	for _, r := range rs {
		if r.Name == name {
			return r, true
		}
	}
	return Result{}, false
}

// Num formats v rounded to a whole number, with thousands separators.
func Num(v float64) string {
	neg := v < 0
	if neg {
		v = -v
	}
	s := strconv.FormatInt(int64(v+0.5), 10)
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// Verdict is how a table says whether a target was met.
func Verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT MET"
}
