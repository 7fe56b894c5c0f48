package agenttest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/fleetproof/fleetproof/collector/internal/chtest"
	"github.com/fleetproof/fleetproof/evidence"
)

// outage builds a week of results every 15 minutes from the checks that
// ran on this machine (real ids, statuses and rows): 5 Linux checks × 96 ×
// 7 = 3,360 results, the size of a 20-check hourly catalog's week.
func outage(local []evidence.Result, end time.Time, results int) []evidence.Result {
	out := make([]evidence.Result, 0, results)
	step := 7 * 24 * time.Hour / time.Duration(results/len(local))
	start := end.Add(-7 * 24 * time.Hour)
	for i := 0; len(out) < results; i++ {
		for j, r := range local {
			if len(out) == results {
				break
			}
			r.ObservedAt = start.Add(time.Duration(i)*step + time.Duration(j)*time.Millisecond).UTC()
			out = append(out, r)
		}
	}
	return out
}

// TestKill9MidWriteAndMidPublish: over a large backlog, `run --once` is
// killed with SIGKILL at several points, early (checks, spool writes,
// sealing) and mid-delivery (as soon as JetStream has stored an envelope
// of this run, typically before the agent recorded the ack), then one run
// completes. ClickHouse must end with exactly the results the spool ever
// held, JetStream with exactly the envelopes the spool ever sealed, and
// any duplicate rows must collapse.
func TestKill9MidWriteAndMidPublish(t *testing.T) {
	t.Parallel()
	const backlog = 20 * 24 * 7
	dsn := chtest.Database(t)
	conn := chtest.Open(t, dsn)
	bin := buildAgent(t)
	cfg := collectorConfig(t, dsn)
	c1 := startCollector(t, cfg)
	a := agent{bin: bin, state: t.TempDir(), serverURL: c1.Info.HTTPURL}
	runOnce(t, a) // enrolls
	n := int(mustReadSpool(t, a).Appended)
	waitLogical(t, conn, uint64(n), 30*time.Second)
	stopIdle(t, c1, uint64(n))

	// The backlog: a week of outage, then two real offline cycles, each
	// killed -9 once its results are spooled (during its first, hopeless,
	// publish attempt).
	injectBacklog(t, a, outage(localResults(t, bin), time.Now().Add(-time.Hour), backlog))
	for range 2 {
		before := mustReadSpool(t, a)
		p := startProc(t, bin, nil, a.onceArgs()...)
		waitSpool(t, a, p, "the offline cycle's results in the spool", func(s spoolView) bool {
			return s.Appended >= before.Appended+uint64(n)
		})
		p.signal(syscall.SIGKILL)
		p.wait(t, 10*time.Second)
	}
	v := mustReadSpool(t, a)
	if want := n + backlog + 2*n; int(v.Appended) != want || v.Results != backlog+2*n || v.Dropped != 0 {
		t.Fatalf("backlog: spool holds %d results, %d appended, %d dropped; want %d, %d, 0", v.Results, v.Appended, v.Dropped, backlog+2*n, want)
	}
	t.Logf("backlog: %d results (%d pending, %d sealed envelopes)", v.Results, v.Pending, v.Envelopes)

	c2 := startCollector(t, cfg)
	js := watchStream(t, c2)
	seen := map[resultID]bool{}
	for id := range v.IDs {
		seen[id] = true
	}
	// Kill points: right after exec; after the k-th change of the spool
	// file (bbolt's pwrites and fsyncs of opening, Append, SetHeartbeat,
	// Seal and Ack, so mostly inside a commit); and as soon as JetStream
	// has stored an envelope of this run, usually before the agent
	// recorded the ack.
	type killAt struct {
		kind string // "start", "write" or "publish"
		k    int
	}
	plan := []killAt{
		{"start", 0}, {"publish", 0}, {"write", 1}, {"publish", 0}, {"write", 2}, {"publish", 0},
		{"write", 4}, {"publish", 0}, {"write", 8}, {"publish", 0}, {"write", 16}, {"publish", 0},
	}
	resent := 0
	for i, step := range plan {
		before := v
		base := js.msgs(t)
		stamp := fileStamp(t, a.spoolPath())
		p := startProc(t, bin, nil, a.onceArgs()...)
		what := step.kind
		switch step.kind {
		case "write":
			what = fmt.Sprintf("write #%d", step.k)
			deadline := time.Now().Add(30 * time.Second)
			for changes := 0; changes < step.k && !p.exited(); {
				if s := fileStamp(t, a.spoolPath()); s != stamp {
					stamp = s
					changes++
				}
				if time.Now().After(deadline) {
					t.Fatalf("run %d: the spool file changed only %d times in 30s\n%s", i+1, changes, p.stderr.String())
				}
			}
		case "publish":
			what = "mid-delivery"
			deadline := time.Now().Add(30 * time.Second)
			for js.msgs(t) == base && !p.exited() {
				if time.Now().After(deadline) {
					t.Fatalf("run %d: nothing reached JetStream in 30s\n%s", i+1, p.stderr.String())
				}
			}
		}
		p.signal(syscall.SIGKILL)
		err := p.wait(t, 10*time.Second)
		resent += strings.Count(p.stderr.String(), "envelope was already stored")
		after := js.msgs(t)
		// The file must open and pass bbolt's check after every kill.
		v = mustReadSpool(t, a)
		for id := range v.IDs {
			seen[id] = true
		}
		added := v.Appended - before.Appended
		killed := err != nil && strings.Contains(err.Error(), "killed")
		t.Logf("run %2d kill at %-12s: killed=%-5v, appended %d, JetStream +%d envelopes, spool %d -> %d results (%d envelopes sealed)",
			i+1, what, killed, added, after-base, before.Results, v.Results, v.Envelopes)
		if added != 0 && added != uint64(n) {
			t.Errorf("run %d appended %d results: not all-or-nothing (%d checks)", i+1, added, n)
		}
		if v.Dropped != 0 {
			t.Fatalf("the spool dropped %d results", v.Dropped)
		}
		if !killed && err != nil {
			t.Fatalf("run %d failed on its own: %v\n%s", i+1, err, p.stderr.String())
		}
	}

	out := runOnce(t, a)
	resent += strings.Count(out, "envelope was already stored")
	final := mustReadSpool(t, a)
	if final.Results != 0 || final.Dropped != 0 {
		t.Fatalf("after the final run the spool holds %d results (%d dropped)", final.Results, final.Dropped)
	}
	total := final.Appended
	waitLogical(t, conn, total, 60*time.Second)

	stored := chIDs(t, conn)
	for id := range seen {
		if stored[id] != 1 {
			t.Errorf("%s observed at %d.%09d was in the spool and is stored %d times (FINAL)", id.check, id.sec, id.ns, stored[id])
		}
	}
	logical, physical := chCounts(t, conn)
	inserted := ingested(total, c1, c2)
	envelopes := js.msgs(t)
	// Duplicates show as physical rows over logical ones until a merge
	// collapses them, and as rows ingest inserted beyond the logical count.
	t.Logf("results ever spooled %d; ClickHouse logical %d, physical %d (duplicates %d), inserted by ingest %d (duplicates %d); "+
		"envelopes ever sealed %d, in JetStream %d; re-sends de-duplicated by JetStream %d",
		total, logical, physical, int64(physical)-int64(logical), inserted, int64(inserted)-int64(logical), final.Sealed, envelopes, resent)
	if physical > logical {
		logDuplicates(t, conn)
	}
	if logical != total {
		t.Errorf("ClickHouse holds %d results (FINAL); the spool held %d", logical, total)
	}
	if envelopes != final.Sealed {
		t.Errorf("JetStream stored %d envelopes; the spool sealed %d", envelopes, final.Sealed)
	}
	if err := conn.Exec(t.Context(), "OPTIMIZE TABLE results FINAL"); err != nil {
		t.Fatal(err)
	}
	if logical, physical := chCounts(t, conn); logical != total || physical != total {
		t.Errorf("after OPTIMIZE FINAL: logical %d, physical %d; want %d", logical, physical, total)
	}
	if d := c1.Info.Ingester.Stats().DeadLetters + c2.Info.Ingester.Stats().DeadLetters; d != 0 {
		t.Errorf("%d envelopes dead-lettered", d)
	}
}

// fileStamp is what changes when a process writes a file.
func fileStamp(t testing.TB, path string) [2]int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return [2]int64{fi.ModTime().UnixNano(), fi.Size()}
}

// logDuplicates reports which stored results have more than one physical
// row, with the envelopes and receive times of the copies.
func logDuplicates(t testing.TB, conn driver.Conn) {
	t.Helper()
	rows, err := conn.Query(context.Background(), `SELECT check_id, toUInt32(observed_at), count(),
		groupArray(envelope_seq), groupArray(toUInt32(received_at))
		FROM results GROUP BY check_id, observed_at, observed_ns HAVING count() > 1
		ORDER BY check_id, observed_at LIMIT 20`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var check string
		var at uint32
		var n uint64
		var seqs []uint64
		var recv []uint32
		if err := rows.Scan(&check, &at, &n, &seqs, &recv); err != nil {
			t.Fatal(err)
		}
		t.Logf("duplicate: %s observed %s stored %d times, envelopes %v, received at %v", check, time.Unix(int64(at), 0).UTC().Format(time.RFC3339), n, seqs, recv)
	}
}
