// Command benchtable reads `go test -bench` output of the collector's
// bench package on stdin, echoes it, and then prints what the numbers
// mean: the lower of the two raw ceilings (JetStream and ClickHouse, in
// results per second), each end-to-end figure as a fraction of it, and
// whether the targets are met. Benchmarks only report; judging happens
// here, once, in one place, so `go test` never fails on a slow machine.
//
// It exits non-zero when the benchmark run failed or measured nothing,
// so `go test ... | benchtable` fails like the test run would.
package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/fleetproof/fleetproof/collector/internal/benchfmt"
)

// Targets from the issue: end to end at least half of the lower raw
// ceiling, and at least 100,000 results/s on a 2-core machine.
const (
	targetRatio   = 0.5
	targetRate    = 100_000
	targetCores   = 2
	defaultPerMsg = 20
)

func main() {
	results, failed, err := benchfmt.Read(os.Stdin, os.Stdout, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(1)
	}
	if len(results) == 0 {
		fmt.Fprintln(os.Stderr, "benchtable: no benchmark results in the input")
		os.Exit(1)
	}
	fmt.Println()
	table(os.Stdout, results)
	if failed {
		fmt.Fprintln(os.Stderr, "benchtable: the benchmark run failed (see FAIL above)")
		os.Exit(1)
	}
}

// read echoes in to echo while collecting results; failed reports a FAIL
// or panic line.
func withPrefix(rs []benchfmt.Result, prefix string) []benchfmt.Result {
	var out []benchfmt.Result
	for _, r := range rs {
		if strings.HasPrefix(r.Name, prefix) {
			out = append(out, r)
		}
	}
	return out
}

// bestClickHouse is the ClickHouse ceiling: the best rows/s among its
// settings (BenchmarkRawClickHouseInsert/inserters=N), or the single
// figure of older runs without settings.
func bestClickHouse(rs []benchfmt.Result) (benchfmt.Result, bool) {
	best, ok := benchfmt.Find(rs, "BenchmarkRawClickHouseInsert")
	for _, r := range withPrefix(rs, "BenchmarkRawClickHouseInsert/") {
		if !ok || r.Metrics["rows/s"] > best.Metrics["rows/s"] {
			best, ok = r, true
		}
	}
	return best, ok
}

// table prints the ceilings, every end-to-end setting against the lower
// ceiling, and the targets judged on the best ingest setting.
func table(w io.Writer, rs []benchfmt.Result) {
	js, haveJS := benchfmt.Find(rs, "BenchmarkRawJetStreamPublish")
	ch, haveCH := bestClickHouse(rs)
	perMsg := js.Metrics["results/msg"]
	if perMsg == 0 {
		perMsg = defaultPerMsg
	}
	jsResults := js.Metrics["msgs/s"] * perMsg
	chRows := ch.Metrics["rows/s"]

	fmt.Fprintln(w, "== Fleetproof ingest: end to end against raw ceilings measured in the same run ==")
	fmt.Fprintln(w, "Raw ceilings")
	if haveJS {
		fmt.Fprintf(w, "  %-44s %12s msgs/s  %6.1f MB/s  = %s results/s at %.0f results/msg (%s-byte msgs; %.2f cores, other %.2f)\n",
			"JetStream async publish (embedded, file)", benchfmt.Num(js.Metrics["msgs/s"]), js.Metrics["MB/s"], benchfmt.Num(jsResults), perMsg,
			benchfmt.Num(js.Metrics["bytes/msg"]), js.Metrics["collector-cores"], js.Metrics["other-cores"])
	}
	if haveCH {
		for _, r := range withPrefix(rs, "BenchmarkRawClickHouseInsert/") {
			fmt.Fprintf(w, "  %-44s %12s rows/s (%.2f client + %.2f ClickHouse cores, other %.2f; %s CPU us/row)\n",
				"  ClickHouse insert, "+strings.TrimPrefix(r.Name, "BenchmarkRawClickHouseInsert/"), benchfmt.Num(r.Metrics["rows/s"]),
				r.Metrics["collector-cores"], r.Metrics["clickhouse-cores"], r.Metrics["other-cores"], cpuPer(r.Metrics, "rows/s"))
		}
		fmt.Fprintf(w, "  %-44s %12s rows/s                 = %s results/s (%.2f client + %.2f ClickHouse cores, other %.2f; %s CPU us/row)\n",
			"ClickHouse insert (50k-row batches, best)", benchfmt.Num(chRows), benchfmt.Num(chRows), ch.Metrics["collector-cores"], ch.Metrics["clickhouse-cores"],
			ch.Metrics["other-cores"], cpuPer(ch.Metrics, "rows/s"))
	}
	lower, lowerName := 0.0, ""
	switch {
	case haveJS && haveCH && jsResults <= chRows:
		lower, lowerName = jsResults, "JetStream"
	case haveCH:
		lower, lowerName = chRows, "ClickHouse"
	case haveJS:
		lower, lowerName = jsResults, "JetStream"
	}
	if lower > 0 {
		fmt.Fprintf(w, "  %-44s %12s results/s (%s)\n", "lower ceiling", benchfmt.Num(lower), lowerName)
	}

	ingest := withPrefix(rs, "BenchmarkEndToEnd/ingest/")
	conc := withPrefix(rs, "BenchmarkEndToEnd/concurrent/")
	fmt.Fprintln(w, "End to end: 1,000 devices, signed envelopes -> JetStream -> ingest.Ingester -> ClickHouse")
	fmt.Fprintln(w, "  (cores: CPU used during the timed phases; other = the rest of the machine. insert/fetch: share of")
	fmt.Fprintln(w, "  wall time Ingesters spent in InsertEncoded / waiting for a fetched batch, summed over Ingesters;")
	fmt.Fprintln(w, "  an Ingester fetches the next batch while storing one, so the two overlap)")
	fmt.Fprintf(w, "  %-54s %10s %8s %11s %9s %8s %7s %8s %8s %8s %7s\n",
		"setting", "results/s", "ceiling", "rows/insert", "collector", "CH", "other", "CPU us", "insert", "fetch", "RSS")
	fmt.Fprintf(w, "  %-54s %10s %8s %11s %9s %8s %7s %8s %8s %8s %7s\n", "", "", "", "", "cores", "cores", "cores", "/result", "wall", "wall", "MB")
	row := func(label string, r benchfmt.Result) {
		m := r.Metrics
		ratio := "-"
		if lower > 0 {
			ratio = fmt.Sprintf("%.1f%%", 100*m["results/s"]/lower)
		}
		fmt.Fprintf(w, "  %-54s %10s %8s %11s %9s %8s %7s %8s %8s %8s %7s\n", label, benchfmt.Num(m["results/s"]), ratio,
			benchfmt.Num(m["rows/insert"]), opt(m, "collector-cores", "%.2f"), opt(m, "clickhouse-cores", "%.2f"),
			opt(m, "other-cores", "%.2f"), cpuPer(m, "results/s"), opt(m, "insert-%", "%.0f%%"), opt(m, "fetch-%", "%.0f%%"),
			opt(m, "RSS-MB", "%.0f"))
	}
	sort.SliceStable(ingest, func(i, j int) bool { return ingest[i].Metrics["results/s"] > ingest[j].Metrics["results/s"] })
	for _, r := range ingest {
		row("ingest only "+strings.TrimPrefix(r.Name, "BenchmarkEndToEnd/ingest/"), r)
	}
	for _, r := range conc {
		row("publish+ingest "+strings.TrimPrefix(r.Name, "BenchmarkEndToEnd/concurrent/"), r)
	}
	if len(ingest) == 0 {
		fmt.Fprintln(w, "  (no end-to-end results)")
		return
	}
	best := ingest[0]
	rate := best.Metrics["results/s"]
	fmt.Fprintf(w, "  best ingest setting: %s (first batch of 1,000 unseen devices, per Ingester: %s ms)\n",
		strings.TrimPrefix(best.Name, "BenchmarkEndToEnd/ingest/"), benchfmt.Num(best.Metrics["warmup-ms"]))

	fmt.Fprintf(w, "Targets (best ingest setting, GOMAXPROCS=%d)\n", best.Procs)
	if lower > 0 {
		ratio := rate / lower
		fmt.Fprintf(w, "  %-44s %12s  %.1f%% of %s          %s\n", "end to end >= 50% of the lower ceiling",
			benchfmt.Num(rate), 100*ratio, benchfmt.Num(lower), benchfmt.Verdict(ratio >= targetRatio))
	}
	cores := ""
	if best.Procs != targetCores {
		cores = fmt.Sprintf(" (measured with %d cores, target is for %d)", best.Procs, targetCores)
	}
	fmt.Fprintf(w, "  %-44s %12s  results/s                     %s%s\n", "end to end >= 100,000 results/s on 2 cores",
		benchfmt.Num(rate), benchfmt.Verdict(rate >= targetRate), cores)
	fmt.Fprintf(w, "  %-44s %12.0f  MB (VmRSS: ingester + embedded NATS, end of the timed run)\n",
		"collector RSS under load", best.Metrics["RSS-MB"])
	busy := 0.0
	for _, r := range []benchfmt.Result{js, ch, best} {
		busy = max(busy, r.Metrics["other-cores"])
	}
	if busy > busyOther {
		fmt.Fprintf(w, "  WARNING: other processes used up to %.2f cores while a ceiling or the best figure was measured;\n"+
			"  the ratio is unreliable, run `make bench` again on a quieter machine.\n", busy)
	}
}

// busyOther is how much CPU other processes may take (in cores, during a
// measurement) before the table calls the ratio unreliable.
const busyOther = 0.25

// cpuPer is the CPU microseconds (this process plus ClickHouse) spent per
// unit of rate. Unlike a rate it hardly moves when other jobs take CPU, so
// it compares runs on a busy machine; 2e6 / it bounds the rate on 2 cores.
func cpuPer(m map[string]float64, rate string) string {
	c, ok := m["collector-cores"]
	if !ok || m[rate] == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", 1e6*(c+m["clickhouse-cores"])/m[rate])
}

// opt formats a metric, or "-" when the benchmark did not report it.
func opt(m map[string]float64, unit, format string) string {
	v, ok := m[unit]
	if !ok {
		return "-"
	}
	return fmt.Sprintf(format, v)
}
