package spool

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fleetproof/fleetproof/evidence"
)

func gap(from, to time.Time, n int, reason string) evidence.Gap {
	return evidence.Gap{From: from, To: to, Dropped: n, Reason: reason}
}

func at(i int) time.Time { return result(i, t0).ObservedAt }

func assertGaps(t *testing.T, got, want []evidence.Gap) {
	t.Helper()
	ok := len(got) == len(want)
	for i := 0; ok && i < len(got); i++ {
		g, w := got[i], want[i]
		ok = g.From.Equal(w.From) && g.To.Equal(w.To) && g.Dropped == w.Dropped && g.Reason == w.Reason
	}
	if !ok {
		t.Fatalf("gaps\n got %s\nwant %s", fmtGaps(got), fmtGaps(want))
	}
}

func fmtGaps(gs []evidence.Gap) string {
	var b strings.Builder
	for _, g := range gs {
		fmt.Fprintf(&b, "[%s %s..%s x%d] ", g.Reason, g.From.Format(time.TimeOnly), g.To.Format(time.TimeOnly), g.Dropped)
	}
	return b.String()
}

// assertCountersMatchDisk checks that the counters kept in memory equal
// what a fresh Open computes from the file.
func (f *fixture) assertCountersMatchDisk(t *testing.T) {
	t.Helper()
	before := f.sp.Stats()
	f.reopen(t)
	if after := f.sp.Stats(); after != before {
		t.Fatalf("stats drifted from disk: in memory %+v, on disk %+v", before, after)
	}
}

func TestSpoolFullDropsOldestPendingAndReportsTheGap(t *testing.T) {
	cases := []struct {
		name   string
		append func(t *testing.T, f *fixture)
	}{
		{"one result per append", func(t *testing.T, f *fixture) {
			for i := range 15 {
				f.append(t, result(i, t0))
			}
		}},
		{"one oversized batch", func(t *testing.T, f *fixture) { f.append(t, backlog(15)...) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := open(t, Options{MaxBytes: 10 * resultSize(t)})
			c.append(t, f)
			st := f.sp.Stats()
			if st.Pending != 10 || st.Dropped != 5 || st.Bytes != 10*resultSize(t) || !st.OldestPending.Equal(at(5)) {
				t.Fatalf("stats %+v", st)
			}
			if logs := f.logs.String(); !strings.Contains(logs, "level=WARN") || !strings.Contains(logs, `reason="spool full"`) {
				t.Fatalf("drop not logged at warn:\n%s", logs)
			}
			f.assertCountersMatchDisk(t)

			b, env := f.seal(t, 100, 0)
			if len(env.Results) != 10 || env.Results[0].CheckID != result(5, t0).CheckID {
				t.Fatalf("kept %d results starting at %s, want the newest 10", len(env.Results), env.Results[0].CheckID)
			}
			assertGaps(t, env.Gaps, []evidence.Gap{gap(at(0), at(4), 5, ReasonFull)})

			if err := f.sp.Ack(b.Seq); err != nil {
				t.Fatal(err)
			}
			f.append(t, result(20, t0))
			if _, env := f.seal(t, 100, 0); len(env.Gaps) != 0 {
				t.Fatalf("gap delivered twice: %s", fmtGaps(env.Gaps))
			}
		})
	}
}

func TestSpoolFullDropsSealedEnvelopesOnlyAfterPending(t *testing.T) {
	f := open(t, Options{MaxAge: time.Hour})
	old := result(99, t0.Add(-3*time.Hour)) // observed 81 minutes ago
	f.append(t, old)                        // dropped at once: the sealed envelope will carry its gap
	f.append(t, backlog(4)...)
	f.seal(t, 100, 0)
	f.append(t, result(4, t0), result(5, t0))

	// Exactly full: three more results must first evict the two pending
	// ones, then the sealed envelope.
	f.opts.MaxBytes = f.sp.Stats().Bytes
	f.reopen(t)
	f.append(t, result(6, t0), result(7, t0), result(8, t0))

	st := f.sp.Stats()
	if st.Pending != 3 || st.Sealed != 0 || st.Dropped != 1+2+4 {
		t.Fatalf("stats %+v", st)
	}
	if _, ok, _ := f.sp.Next(); ok {
		t.Fatal("the sealed envelope is still there")
	}
	_, env := f.seal(t, 100, 0)
	if len(env.Results) != 3 {
		t.Fatalf("%d results, want 3", len(env.Results))
	}
	assertGaps(t, env.Gaps, []evidence.Gap{
		gap(at(4), at(5), 2, ReasonFull),
		gap(at(0), at(3), 4, ReasonFull),
		gap(old.ObservedAt, old.ObservedAt, 1, ReasonAge), // carried by the dropped envelope
	})
}

func TestMaxAgeDropsOldResultsWithTheirOwnGap(t *testing.T) {
	now := t0.Add(2 * time.Hour)
	fresh := func(i int) evidence.Result { return result(i, now.Add(-30*time.Minute)) }
	cases := []struct {
		name        string
		append      []evidence.Result
		advance     time.Duration
		wantPending int // right after Append
		wantResults int
		wantGaps    []evidence.Gap
	}{
		{"old results are dropped on append", []evidence.Result{result(0, t0), result(1, t0), result(2, t0), fresh(3)},
			0, 1, 1, []evidence.Gap{gap(at(0), at(2), 3, ReasonAge)}},
		{"an old result behind a young one is dropped on seal", []evidence.Result{fresh(0), result(1, t0), fresh(2)},
			0, 3, 2, []evidence.Gap{gap(at(1), at(1), 1, ReasonAge)}},
		{"results that age out while waiting", []evidence.Result{fresh(0), fresh(1)},
			2 * time.Hour, 2, 0, []evidence.Gap{gap(fresh(0).ObservedAt, fresh(1).ObservedAt, 2, ReasonAge)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := open(t, Options{MaxAge: time.Hour})
			f.clock.Set(now)
			for _, r := range c.append {
				f.append(t, r)
			}
			if st := f.sp.Stats(); st.Pending != c.wantPending {
				t.Fatalf("pending %d after append, want %d", st.Pending, c.wantPending)
			}
			f.clock.Set(now.Add(c.advance))
			b, env := f.seal(t, 100, 0)
			if len(env.Results) != c.wantResults {
				t.Fatalf("%d results, want %d", len(env.Results), c.wantResults)
			}
			if c.wantResults == 0 && !strings.HasSuffix(b.Subject, ".heartbeat") {
				t.Fatalf("subject %s for a gaps-only envelope", b.Subject)
			}
			assertGaps(t, env.Gaps, c.wantGaps)
			if !strings.Contains(f.logs.String(), `reason="older than max age"`) {
				t.Fatalf("age drop not logged:\n%s", f.logs)
			}
		})
	}
}

func TestGapsMergeOnlyWhenAdjacent(t *testing.T) {
	f := open(t, Options{MaxBytes: 2 * resultSize(t), MaxAge: time.Hour})
	f.clock.Set(t0.Add(10 * time.Hour))
	fresh := func(i int) evidence.Result { return result(i, t0.Add(8*time.Hour)) } // 20-ish minutes old

	f.append(t, result(0, t0)) // too old: gap A
	f.append(t, result(1, t0)) // too old and adjacent: extends gap A
	f.append(t, fresh(100))
	f.append(t, fresh(101))
	f.append(t, fresh(102))    // full: drops 100, gap B
	f.append(t, result(2, t0)) // full: drops 101, extends B; this old one waits behind 102
	f.assertCountersMatchDisk(t)
	// Seal keeps 102, then drops the old one: 102 lies between, so not A.
	_, env := f.seal(t, 100, 0)
	if len(env.Results) != 1 || env.Results[0].CheckID != fresh(102).CheckID {
		t.Fatalf("results %+v", env.Results)
	}
	assertGaps(t, env.Gaps, []evidence.Gap{
		gap(at(0), at(1), 2, ReasonAge),
		gap(fresh(100).ObservedAt, fresh(101).ObservedAt, 2, ReasonFull),
		gap(at(2), at(2), 1, ReasonAge),
	})
	if st := f.sp.Stats(); st.Dropped != 5 {
		t.Fatalf("dropped %d, want 5", st.Dropped)
	}
}

func TestCorruptPendingRecordIsSkippedAsAGap(t *testing.T) {
	cases := []struct{ name, value string }{
		{"not json", `{nope`},
		{"wrong json type", `{"check_id":"x","observed_at":5}`},
		{"no observed time", `{"check_id":"x","status":"pass"}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := open(t, Options{})
			f.append(t, result(0, t0), result(1, t0))
			if err := f.sp.Close(); err != nil {
				t.Fatal(err)
			}
			putRaw(t, f.path, bucketPending, 0, []byte(c.value))
			f.reopen(t)
			f.append(t, result(2, t0))
			found := t0.Add(time.Hour)
			f.clock.Set(found)

			_, env := f.seal(t, 100, 0)
			if len(env.Results) != 3 || env.Results[2].CheckID != result(2, t0).CheckID {
				t.Fatalf("results %+v", env.Results)
			}
			assertGaps(t, env.Gaps, []evidence.Gap{gap(found, found, 1, ReasonCorrupt)})
			if st := f.sp.Stats(); st.Pending != 0 || st.Dropped != 1 {
				t.Fatalf("stats %+v", st)
			}
			if !strings.Contains(f.logs.String(), `reason="corrupt spool record"`) {
				t.Fatalf("corruption not logged:\n%s", f.logs)
			}
			f.assertCountersMatchDisk(t)
		})
	}
}

func TestCorruptSealedEnvelopeDoesNotBlockDelivery(t *testing.T) {
	f := open(t, Options{})
	f.append(t, backlog(4)...)
	f.seal(t, 2, 0)
	f.seal(t, 2, 0)
	if err := f.sp.Close(); err != nil {
		t.Fatal(err)
	}
	putRaw(t, f.path, bucketOutbox, 1, []byte("\x07garbage"))
	f.reopen(t)

	b, ok, err := f.sp.Next()
	if err != nil || !ok || b.Seq != 2 {
		t.Fatalf("Next = seq %d, %v, %v; want the readable envelope 2", b.Seq, ok, err)
	}
	if err := f.sp.Ack(b.Seq); err != nil {
		t.Fatal(err)
	}
	_, env := f.seal(t, 100, 0)
	assertGaps(t, env.Gaps, []evidence.Gap{gap(t0, t0, 1, ReasonCorrupt)})
	f.assertCountersMatchDisk(t)
}
