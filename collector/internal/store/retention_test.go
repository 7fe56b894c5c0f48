package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/fleetproof/fleetproof/collector/internal/store"
	"github.com/fleetproof/fleetproof/evidence"
)

func TestRetentionDropsOnlyWholeMonthsBeforeTheCutoff(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, freshDSN(t))
	months := []time.Time{
		time.Date(2024, 1, 15, 9, 0, 0, 0, time.UTC),
		time.Date(2024, 2, 29, 23, 59, 59, 0, time.UTC),
		time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2024, 4, 10, 9, 0, 0, 0, time.UTC),
	}
	var envs []*evidence.Envelope
	for i, at := range months {
		e := envelope("dev-a", uint64(i+1), result("disk_encryption", at, evidence.StatusPass))
		e.Gaps = []evidence.Gap{{From: at, To: at, Dropped: 1, Reason: "spool full"}}
		envs = append(envs, e)
	}
	if err := st.InsertEnvelopes(ctx, envs, time.Now()); err != nil {
		t.Fatal(err)
	}
	// Cutoff mid-March: January and February end before it and go; March
	// holds data younger than the cutoff and stays whole.
	dropped, err := st.DropPartitionsBefore(ctx, time.Date(2024, 3, 20, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(dropped, ","); got != "results/202401,results/202402,results_daily/202401,results_daily/202402,results_by_time/202401,results_by_time/202402,gaps/202401,gaps/202402" {
		t.Errorf("dropped %s", got)
	}
	got := column(t, st.Conn(), "SELECT toString(observed_at) FROM results ORDER BY observed_at")
	if strings.Join(got, ",") != "2024-03-01 00:00:00,2024-04-10 09:00:00" {
		t.Errorf("results left: %v", got)
	}
	again, err := st.DropPartitionsBefore(ctx, time.Date(2024, 3, 20, 0, 0, 0, 0, time.UTC))
	if err != nil || len(again) != 0 {
		t.Errorf("second run dropped %v, %v", again, err)
	}
}

func TestRecordEnrollment(t *testing.T) {
	st := openStore(t, freshDSN(t))
	at := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	for _, outcome := range []string{"enrolled", "key_changed", "refused_revoked"} {
		if err := st.RecordEnrollment(context.Background(), store.EnrollmentEvent{At: at, DeviceID: "dev-a", PublicKey: "UKEY",
			Outcome: outcome, Hostname: "a", AgentVersion: "0.1.0", RemoteAddr: "127.0.0.1:1"}); err != nil {
			t.Fatal(err)
		}
	}
	got := column(t, st.Conn(), "SELECT outcome FROM enrollment_events ORDER BY outcome")
	if strings.Join(got, ",") != "enrolled,key_changed,refused_revoked" {
		t.Errorf("events %v", got)
	}
}

func TestDeviceKeysLooksUpManyDevicesAtOnce(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, freshDSN(t))
	now := time.Now().UTC().Truncate(time.Second)
	for _, d := range []store.Device{
		{DeviceID: "dev-a", PublicKey: "UA1", EnrolledAt: now, UpdatedAt: now},
		{DeviceID: "dev-a", PublicKey: "UA2", EnrolledAt: now, UpdatedAt: now.Add(time.Minute)},
		{DeviceID: "dev-b", PublicKey: "UB", EnrolledAt: now, UpdatedAt: now},
	} {
		if err := st.UpsertDevice(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Revoke(ctx, store.Revocation{DeviceID: "dev-b", PublicKey: "UB", RevokedAt: now}); err != nil {
		t.Fatal(err)
	}
	keys, revoked, err := st.DeviceKeys(ctx, []string{"dev-a", "dev-b", "dev-unknown"})
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys["dev-a"] != "UA2" || keys["dev-b"] != "UB" {
		t.Errorf("keys %v: want the newest key of each known device", keys)
	}
	if len(revoked) != 1 || !revoked["dev-b"] {
		t.Errorf("revoked %v", revoked)
	}
}
