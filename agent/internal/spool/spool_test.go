package spool

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleetproof/fleetproof/evidence"
)

func TestAppendSealNextAckRoundTrip(t *testing.T) {
	f := open(t, Options{})
	f.append(t, result(0, t0), result(1, t0), result(2, t0))
	if st := f.sp.Stats(); st.Pending != 3 || st.Sealed != 0 || !st.OldestPending.Equal(t0) || st.Bytes != 3*resultSize(t) {
		t.Fatalf("stats after append: %+v", st)
	}

	b, env := f.seal(t, 10, 0)
	want := Batch{Seq: 1, MsgID: device + "-1", Subject: "evidence.v1." + device + ".results", Results: 3}
	if b.Seq != want.Seq || b.MsgID != want.MsgID || b.Subject != want.Subject || b.Results != want.Results {
		t.Fatalf("batch = %+v, want %+v", b, want)
	}
	if env.MsgID() != b.MsgID || env.AgentVersion != tmpl.AgentVersion || env.Schema != evidence.SchemaVersion || !env.SentAt.Equal(t0) {
		t.Fatalf("envelope header %+v", env)
	}
	for i, r := range env.Results {
		if r.CheckID != result(i, t0).CheckID {
			t.Fatalf("result %d is %s: arrival order lost", i, r.CheckID)
		}
	}
	if st := f.sp.Stats(); st.Pending != 0 || st.Sealed != 1 || !st.OldestPending.IsZero() {
		t.Fatalf("stats after seal: %+v", st)
	}

	for attempt := range 3 {
		n, ok, err := f.sp.Next()
		if err != nil || !ok || n.Seq != b.Seq || n.MsgID != b.MsgID || !bytes.Equal(n.Body, b.Body) {
			t.Fatalf("Next attempt %d = %+v %v %v: a retry must resend identical bytes", attempt, n.Seq, ok, err)
		}
	}
	if err := f.sp.Ack(b.Seq); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := f.sp.Next(); ok || err != nil {
		t.Fatalf("Next after ack = %v, %v", ok, err)
	}
	if st := f.sp.Stats(); st != (Stats{}) {
		t.Fatalf("stats after ack: %+v", st)
	}
}

func TestSealWithNothingPendingReturnsNotOK(t *testing.T) {
	cases := []struct {
		name  string
		setup func(t *testing.T, f *fixture)
	}{
		{"new spool", func(*testing.T, *fixture) {}},
		{"everything already sealed", func(t *testing.T, f *fixture) {
			f.append(t, result(0, t0))
			f.seal(t, 10, 0)
		}},
		{"everything acked", func(t *testing.T, f *fixture) {
			f.append(t, result(0, t0))
			b, _ := f.seal(t, 10, 0)
			if err := f.sp.Ack(b.Seq); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := open(t, Options{})
			c.setup(t, f)
			before := f.sp.Stats()
			if b, ok, err := f.sp.Seal(tmpl, 10, 0); ok || err != nil {
				t.Fatalf("Seal = %+v, %v, %v", b, ok, err)
			}
			if after := f.sp.Stats(); after != before {
				t.Fatalf("empty Seal changed the spool: %+v -> %+v", before, after)
			}
		})
	}
}

func TestAckOfUnknownOrAckedSeqIsNotAnError(t *testing.T) {
	f := open(t, Options{})
	f.append(t, result(0, t0))
	b, _ := f.seal(t, 10, 0)
	for _, seq := range []uint64{0, 999, b.Seq, b.Seq} {
		if err := f.sp.Ack(seq); err != nil {
			t.Fatalf("Ack(%d): %v", seq, err)
		}
	}
	if st := f.sp.Stats(); st.Sealed != 0 || st.Bytes != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestSeqIncreasesAndIsNeverReusedAcrossRestarts(t *testing.T) {
	f := open(t, Options{})
	var seqs []uint64
	for round := range 3 {
		f.append(t, result(round, t0))
		b, _ := f.seal(t, 10, 0)
		seqs = append(seqs, b.Seq)
		// Emptying the spool and restarting must not reset the counter:
		// a reused seq would be a reused MsgID, and JetStream would drop
		// new evidence as a duplicate.
		if err := f.sp.Ack(b.Seq); err != nil {
			t.Fatal(err)
		}
		f.reopen(t)
	}
	if seqs[0] != 1 || seqs[1] != 2 || seqs[2] != 3 {
		t.Fatalf("seqs = %v, want 1 2 3", seqs)
	}
}

func TestNextDeliversOldestFirstAcrossRestarts(t *testing.T) {
	f := open(t, Options{})
	for i := range 10 {
		f.append(t, result(i, t0))
	}
	for range 4 {
		f.seal(t, 3, 0)
	}
	f.reopen(t)
	var order []string
	for want := uint64(1); want <= 4; want++ {
		b, ok, err := f.sp.Next()
		if err != nil || !ok || b.Seq != want {
			t.Fatalf("Next = seq %d ok %v err %v, want seq %d", b.Seq, ok, err, want)
		}
		for _, r := range decode(t, b.Body, t0).Results {
			order = append(order, r.CheckID)
		}
		if err := f.sp.Ack(b.Seq); err != nil {
			t.Fatal(err)
		}
	}
	for i, id := range order {
		if id != result(i, t0).CheckID {
			t.Fatalf("delivery order %v", order)
		}
	}
	if len(order) != 10 {
		t.Fatalf("delivered %d results, want 10", len(order))
	}
}

func TestSealSplitsALargeBacklog(t *testing.T) {
	size := int(resultSize(t))
	big := result(0, t0)
	big.Rows = []map[string]string{{"blob": strings.Repeat("x", 5000)}}
	cases := []struct {
		name        string
		results     []evidence.Result
		maxResults  int
		maxBytes    int
		wantBatches []int // results per envelope
	}{
		{"by count", backlog(10), 4, 0, []int{4, 4, 2}},
		{"by bytes", backlog(10), 100, 200 + 3*size, []int{3, 3, 3, 1}},
		{"count tighter than bytes", backlog(5), 2, 1 << 20, []int{2, 2, 1}},
		{"oversized result is sealed alone", []evidence.Result{big, result(1, t0)}, 100, 2000, []int{1, 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := open(t, Options{})
			f.append(t, c.results...)
			var got []int
			for {
				b, ok, err := f.sp.Seal(tmpl, c.maxResults, c.maxBytes)
				if err != nil {
					t.Fatal(err)
				}
				if !ok {
					break
				}
				got = append(got, b.Results)
				if b.Results > 1 && len(b.Body) > c.maxBytes && c.maxBytes > 0 {
					t.Errorf("envelope %d is %d bytes, cap %d", b.Seq, len(b.Body), c.maxBytes)
				}
			}
			if !slicesEqual(got, c.wantBatches) {
				t.Fatalf("batches %v, want %v", got, c.wantBatches)
			}
		})
	}
}

func backlog(n int) []evidence.Result {
	rs := make([]evidence.Result, n)
	for i := range rs {
		rs[i] = result(i, t0)
	}
	return rs
}

func slicesEqual(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestHeartbeatRidesInTheNextEnvelope(t *testing.T) {
	hb := func(depth int) evidence.Heartbeat {
		return evidence.Heartbeat{ObservedAt: t0, Hostname: "host", SpoolDepth: depth}
	}
	cases := []struct {
		name        string
		results     int
		wantSubject string
	}{
		{"heartbeat only", 0, "evidence.v1." + device + ".heartbeat"},
		{"with results", 2, "evidence.v1." + device + ".results"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := open(t, Options{})
			f.append(t, backlog(c.results)...)
			for depth := 1; depth <= 3; depth++ {
				if err := f.sp.SetHeartbeat(hb(depth)); err != nil {
					t.Fatal(err)
				}
			}
			f.reopen(t) // the heartbeat is durable too
			b, env := f.seal(t, 10, 0)
			if b.Subject != c.wantSubject || b.Results != c.results || len(env.Results) != c.results {
				t.Fatalf("batch %+v", b)
			}
			if env.Heartbeat == nil || env.Heartbeat.SpoolDepth != 3 {
				t.Fatalf("heartbeat %+v, want only the latest (depth 3)", env.Heartbeat)
			}
			if _, ok, _ := f.sp.Seal(tmpl, 10, 0); ok {
				t.Fatal("the heartbeat was sealed twice")
			}
		})
	}
}

func TestSetHeartbeatRejectsAHeartbeatWithoutTime(t *testing.T) {
	f := open(t, Options{})
	if err := f.sp.SetHeartbeat(evidence.Heartbeat{Hostname: "h"}); err == nil || !strings.HasPrefix(err.Error(), "spool: heartbeat:") {
		t.Fatalf("err = %v", err)
	}
	if _, ok, _ := f.sp.Seal(tmpl, 10, 0); ok {
		t.Fatal("an invalid heartbeat was sealed")
	}
}

func TestSealRejectsAnInvalidDeviceID(t *testing.T) {
	f := open(t, Options{})
	f.append(t, result(0, t0))
	if _, _, err := f.sp.Seal(evidence.Envelope{DeviceID: "a.b"}, 10, 0); err == nil || !strings.HasPrefix(err.Error(), "spool: seal:") {
		t.Fatalf("err = %v", err)
	}
	if st := f.sp.Stats(); st.Pending != 1 {
		t.Fatalf("a rejected Seal consumed results: %+v", st)
	}
}

func TestAppendRejectsResultsTheCollectorWouldReject(t *testing.T) {
	cases := []struct {
		name string
		edit func(r *evidence.Result)
	}{
		{"no check id", func(r *evidence.Result) { r.CheckID = "" }},
		{"no observed time", func(r *evidence.Result) { r.ObservedAt = time.Time{} }},
		{"unknown status", func(r *evidence.Result) { r.Status = "meh" }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := open(t, Options{})
			bad := result(1, t0)
			c.edit(&bad)
			err := f.sp.Append(result(0, t0), bad)
			if err == nil || !strings.HasPrefix(err.Error(), "spool: append:") {
				t.Fatalf("err = %v", err)
			}
			if st := f.sp.Stats(); st.Pending != 0 {
				t.Fatalf("a rejected batch was partly stored: %+v", st)
			}
		})
	}
}

func TestOpenFailsWithAClearError(t *testing.T) {
	dir := t.TempDir()
	held := filepath.Join(dir, "held.db")
	sp, err := Open(Options{Path: held})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	file := filepath.Join(dir, "a-file")
	notSpool := filepath.Join(dir, "not-a-spool.db")
	for _, p := range []string{file, notSpool} {
		if err := os.WriteFile(p, bytes.Repeat([]byte("garbage!"), 2048), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	readOnly := filepath.Join(dir, "ro")
	if err := os.Mkdir(readOnly, 0o500); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, path, want string
		skip             bool
	}{
		{"second open of an open spool", held, "locked by another process", false},
		{"directory missing", filepath.Join(dir, "missing", "spool.db"), "no such file or directory", false},
		{"parent is a file", filepath.Join(file, "spool.db"), "not a directory", false},
		{"unwritable directory", filepath.Join(readOnly, "spool.db"), "permission denied", os.Geteuid() == 0},
		{"not a spool file", notSpool, "invalid", false},
		{"no path", "", "no path", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.skip {
				t.Skip("root can write anywhere")
			}
			sp, err := Open(Options{Path: c.path})
			if err == nil {
				sp.Close()
				t.Fatal("Open succeeded")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "spool: open: ") || !strings.Contains(msg, c.want) || !strings.Contains(msg, c.path) {
				t.Fatalf("error %q should start with \"spool: open: \" and name %q and %q", msg, c.path, c.want)
			}
		})
	}
}
