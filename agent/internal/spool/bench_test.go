package spool

import (
	"testing"
	"time"

	"github.com/fleetproof/fleetproof/evidence"
)

// batch20 is what one scheduler tick of the default catalog produces.
func batch20(base int, at time.Time) []evidence.Result {
	rs := make([]evidence.Result, 20)
	for i := range rs {
		rs[i] = result(base+i, at)
	}
	return rs
}

func BenchmarkAppend(b *testing.B) {
	f := open(b, Options{MaxBytes: 1 << 30})
	rs := batch20(0, t0)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := f.sp.Append(rs...); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(rs))/b.Elapsed().Seconds(), "results/s")
}

// BenchmarkSealAck measures the publisher's side per envelope of 20
// results: seal it, then ack it (publishing itself is not included).
func BenchmarkSealAck(b *testing.B) {
	f := open(b, Options{MaxBytes: 1 << 30})
	for done := 0; done < b.N; {
		var chunk []evidence.Result
		for ; done < b.N && len(chunk) < 1000; done++ {
			chunk = append(chunk, batch20(done*20, t0)...)
		}
		f.append(b, chunk...)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		batch, ok, err := f.sp.Seal(tmpl, 20, 0)
		if err != nil || !ok || batch.Results != 20 {
			b.Fatalf("Seal = %d results, %v, %v", batch.Results, ok, err)
		}
		if err := f.sp.Ack(batch.Seq); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*20)/b.Elapsed().Seconds(), "results/s")
}
