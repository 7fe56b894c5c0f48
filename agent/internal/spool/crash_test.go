package spool

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fleetproof/fleetproof/evidence"
)

// These tests kill a real process with SIGKILL in the middle of spool
// operations. The child is this test binary re-executed with SPOOL_CHILD=1;
// it reports on stdout each operation after the call returned, so every
// reported operation is one the spool promised was durable.

const childLimit = 200_000 // a child that outlives its parent still stops

// runChild starts the named test as a child on the spool at path, kills it
// with SIGKILL once enough(line) has been true `after` times, and returns
// every line it printed, including those still in the pipe at the kill.
func runChild(t *testing.T, test, path, mode string, after int, enough func(string) bool) (lines []string, killed bool) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.timeout=2m")
	cmd.Env = append(os.Environ(), "SPOOL_CHILD=1", "SPOOL_PATH="+path, "SPOOL_MODE="+mode)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		lines = append(lines, line)
		if !killed && enough(line) {
			if after--; after == 0 {
				if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				killed = true
			}
		}
	}
	err = cmd.Wait()
	if killed {
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("child did not die of SIGKILL: %v\n%s", err, stderr.String())
		}
	} else if err != nil {
		t.Fatalf("child failed: %v\n%s", err, stderr.String())
	}
	return lines, killed
}

func childSpool() *Spool {
	sp, err := Open(Options{Path: os.Getenv("SPOOL_PATH")})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	return sp
}

func childFail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(4)
}

func TestKill9DuringAppendLosesNothing(t *testing.T) {
	if os.Getenv("SPOOL_CHILD") == "1" {
		sp := childSpool()
		now := time.Now()
		for i := range childLimit {
			if err := sp.Append(result(i, now.Add(-time.Duration(i)*time.Minute))); err != nil {
				childFail(err)
			}
			fmt.Printf("appended %d\n", i)
		}
		return
	}
	path := filepath.Join(t.TempDir(), "spool.db")
	lines, killed := runChild(t, "TestKill9DuringAppendLosesNothing", path, "append", 300,
		func(string) bool { return true })
	if !killed {
		t.Fatal("child finished before it could be killed")
	}
	last := -1
	for _, l := range lines {
		i, err := strconv.Atoi(strings.TrimPrefix(l, "appended "))
		if err != nil || i != last+1 {
			t.Fatalf("unexpected child output %q after %d", l, last)
		}
		last = i
	}

	sp, err := Open(Options{Path: path})
	if err != nil {
		t.Fatalf("spool does not reopen after kill -9: %v", err)
	}
	defer sp.Close()
	checkFile(t, sp)
	seen, _ := drain(t, sp, time.Now())
	for i := 0; i <= last; i++ {
		if n := seen[result(i, t0).CheckID]; n != 1 {
			t.Errorf("reported result %d present %d times, want exactly once", i, n)
		}
	}
	// The kill may land after an Append committed but before it was
	// reported: that one result may be there, nothing beyond it.
	extra := len(seen) - (last + 1)
	if extra > 1 || (extra == 1 && seen[result(last+1, t0).CheckID] != 1) {
		t.Errorf("%d results stored beyond the last reported %d", extra, last)
	}
	t.Logf("killed after %d reported appends; %d stored", last+1, len(seen))
}

func TestKill9DuringSealAndAckLosesAndDuplicatesNothing(t *testing.T) {
	if os.Getenv("SPOOL_CHILD") == "1" {
		sp := childSpool()
		for i := range childLimit {
			// Two seals per ack so the outbox holds several envelopes and
			// kills land in every kind of transaction.
			for range 2 {
				if _, _, err := sp.Seal(tmpl, 1+i%7, 0); err != nil {
					childFail(err)
				}
			}
			b, ok, err := sp.Next()
			if err != nil {
				childFail(err)
			}
			if !ok {
				fmt.Println("done")
				return
			}
			var env evidence.Envelope
			if err := json.Unmarshal(b.Body, &env); err != nil {
				childFail(err)
			}
			ids := make([]string, len(env.Results))
			for j, r := range env.Results {
				ids[j] = r.CheckID
			}
			fmt.Printf("acking %d %s\n", b.Seq, strings.Join(ids, ","))
			if err := sp.Ack(b.Seq); err != nil {
				childFail(err)
			}
			fmt.Printf("acked %d\n", b.Seq)
		}
		return
	}
	const n = 3000
	path := filepath.Join(t.TempDir(), "spool.db")
	sp, err := Open(Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	rs := make([]evidence.Result, n)
	for i := range rs {
		rs[i] = result(i, time.Now().Add(-n*time.Minute)) // real time: the child seals with a real clock
	}
	if err := sp.Append(rs...); err != nil {
		t.Fatal(err)
	}
	sp.Close()

	lines, killed := runChild(t, "TestKill9DuringSealAndAckLosesAndDuplicatesNothing", path, "seal", 100,
		func(l string) bool { return strings.HasPrefix(l, "acked ") })
	if !killed {
		t.Log("child finished before the kill; checking the end state only")
	}
	acking := map[string][]string{} // seq -> ids
	acked := map[string]bool{}
	for _, l := range lines {
		f := strings.Fields(l)
		switch {
		case len(f) >= 2 && f[0] == "acking":
			acking[f[1]] = nil
			if len(f) == 3 {
				acking[f[1]] = strings.Split(f[2], ",")
			}
		case len(f) == 2 && f[0] == "acked":
			acked[f[1]] = true
		case l == "done":
		default:
			t.Fatalf("unexpected child output %q", l)
		}
	}

	sp, err = Open(Options{Path: path})
	if err != nil {
		t.Fatalf("spool does not reopen after kill -9: %v", err)
	}
	defer sp.Close()
	checkFile(t, sp)
	seen, _ := drain(t, sp, time.Now())
	// An envelope whose ack was reported is gone; one killed mid-ack is
	// either gone whole (count it delivered) or still whole in the outbox.
	for seq, ids := range acking {
		inSpool := 0
		for _, id := range ids {
			inSpool += seen[id]
		}
		switch {
		case acked[seq] && inSpool > 0:
			t.Errorf("acked envelope %s came back: %v", seq, ids)
		case !acked[seq] && inSpool != 0 && inSpool != len(ids):
			t.Errorf("envelope %s killed mid-ack was half removed: %d of %v left", seq, inSpool, ids)
		}
		if inSpool == 0 {
			for _, id := range ids {
				seen[id]++
			}
		}
	}
	for i := range n {
		if c := seen[result(i, t0).CheckID]; c != 1 {
			t.Errorf("result %d delivered %d times, want exactly once", i, c)
		}
	}
	if len(seen) != n {
		t.Errorf("%d distinct results, want %d", len(seen), n)
	}
	t.Logf("killed=%v after %d acks", killed, len(acked))
}
