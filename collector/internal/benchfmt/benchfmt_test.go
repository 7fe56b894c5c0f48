package benchfmt_test

import (
	"strings"
	"testing"

	"github.com/fleetproof/fleetproof/collector/internal/benchfmt"
)

func TestParseLine(t *testing.T) {
	r, ok := benchfmt.ParseLine("BenchmarkEndToEnd/ingest/batch=500/wait=100ms/ingesters=2-2   4   262.9 RSS-MB   125580 results/s")
	if !ok || r.Name != "BenchmarkEndToEnd/ingest/batch=500/wait=100ms/ingesters=2" || r.Procs != 2 ||
		r.Metrics["results/s"] != 125580 || r.Metrics["RSS-MB"] != 262.9 {
		t.Fatalf("%+v %v", r, ok)
	}
	if r, ok := benchfmt.ParseLine("BenchmarkPostureAsOf/end-2   5   4348155540 ns/op   4065 latest-ms"); !ok ||
		r.Name != "BenchmarkPostureAsOf/end" || r.Metrics["latest-ms"] != 4065 {
		t.Fatalf("%+v %v", r, ok)
	}
	for _, bad := range []string{"BenchmarkX", "BenchmarkX-2 --- FAIL", "ok  pkg 1.0s", "BenchmarkX-2 3 12 ns/op extra"} {
		if _, ok := benchfmt.ParseLine(bad); ok {
			t.Errorf("parsed %q", bad)
		}
	}
}

func TestReadEchoesCollectsAndNoticesFailure(t *testing.T) {
	in := "goos: linux\nBenchmarkA-2   3   12 ns/op\n--- FAIL: TestB (1s)\n"
	var echo strings.Builder
	var lines int
	rs, failed, err := benchfmt.Read(strings.NewReader(in), &echo, func(string) { lines++ })
	if err != nil || !failed || len(rs) != 1 || rs[0].Name != "BenchmarkA" || echo.String() != in || lines != 3 {
		t.Errorf("results %+v, failed %v, err %v, echo %q, lines %d", rs, failed, err, echo.String(), lines)
	}
	if _, failed, _ := benchfmt.Read(strings.NewReader("PASS\nok  pkg 1s\n"), &strings.Builder{}, nil); failed {
		t.Error("a passing run reads as failed")
	}
}

func TestNum(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 999.4: "999", 1000: "1,000", 1234567.6: "1,234,568", -43147004: "-43,147,004"} {
		if got := benchfmt.Num(v); got != want {
			t.Errorf("Num(%v) = %q, want %q", v, got, want)
		}
	}
}
