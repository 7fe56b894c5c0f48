package store_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/fleetproof/fleetproof/collector/internal/chtest"
	"github.com/fleetproof/fleetproof/collector/internal/store"
	"github.com/fleetproof/fleetproof/evidence"
)

// TestInsertEncodedAcrossBlocks: an insert larger than one block stores
// every row once, with the right values on both sides of each block
// boundary, in one part (the server squashes the blocks of one INSERT).
func TestInsertEncodedAcrossBlocks(t *testing.T) {
	s := openStore(t, chtest.Database(t))
	base := time.Now().UTC().Truncate(time.Hour).Add(-time.Hour)
	const perEnv = 20
	n := 2*store.InsertBlockRows + 7
	var envs []store.EncodedEnvelope
	for row := 0; row < n; {
		e := &evidence.Envelope{Schema: 1, DeviceID: fmt.Sprintf("d-%d", len(envs)), AgentVersion: "0.1.0", Seq: uint64(len(envs) + 1)}
		ee := store.EncodedEnvelope{Envelope: e}
		for ; row < n && len(e.Results) < perEnv; row++ {
			e.Results = append(e.Results, evidence.Result{CheckID: fmt.Sprintf("c-%d", len(e.Results)), CheckVersion: 1,
				ObservedAt: base.Add(time.Duration(row) * time.Millisecond), Status: evidence.StatusPass, DurationMS: int64(row)})
			ee.Rows = append(ee.Rows, fmt.Sprintf(`[{"row":"%d"}]`, row))
		}
		envs = append(envs, ee)
	}
	if err := s.InsertEncoded(t.Context(), envs, base); err != nil {
		t.Fatal(err)
	}
	var count, bad uint64
	if err := s.Conn().QueryRow(t.Context(), `SELECT count(), countIf(rows != concat('[{"row":"', toString(duration_ms), '"}]')
		OR observed_ns != (duration_ms % 1000) * 1000000) FROM results`).Scan(&count, &bad); err != nil {
		t.Fatal(err)
	}
	if count != uint64(n) || bad != 0 {
		t.Errorf("stored %d rows (%d with values of another row), want %d", count, bad, n)
	}
	var parts uint64
	if err := s.Conn().QueryRow(t.Context(), `SELECT count() FROM system.parts
		WHERE database = currentDatabase() AND table = 'results' AND active`).Scan(&parts); err != nil {
		t.Fatal(err)
	}
	if parts != 1 {
		t.Errorf("one insert made %d parts", parts)
	}
}

// TestInsertEncodedRefusesMismatchedRows: rows must pair with results one
// to one; a mismatch is a caller's bug, refused before anything is sent.
func TestInsertEncodedRefusesMismatchedRows(t *testing.T) {
	s := openStore(t, chtest.Database(t))
	at := time.Now().UTC().Add(-time.Hour)
	e := &evidence.Envelope{Schema: 1, DeviceID: "d-1", Seq: 1, Results: []evidence.Result{{CheckID: "c", ObservedAt: at, Status: evidence.StatusPass}}}
	if err := s.InsertEncoded(t.Context(), []store.EncodedEnvelope{{Envelope: e}}, at); err == nil {
		t.Error("InsertEncoded accepted a result without rows")
	}
}
