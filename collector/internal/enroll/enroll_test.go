package enroll_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nkeys"

	"github.com/fleetproof/fleetproof/collector/internal/chserver"
	"github.com/fleetproof/fleetproof/collector/internal/chtest"
	"github.com/fleetproof/fleetproof/collector/internal/enroll"
	"github.com/fleetproof/fleetproof/collector/internal/sigbatch"
	"github.com/fleetproof/fleetproof/collector/internal/store"
	"github.com/fleetproof/fleetproof/evidence"
)

func TestMain(m *testing.M) { chtest.Main(m) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func openStore(t *testing.T, dsn string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), dsn, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func request(t *testing.T, secret, device string) evidence.EnrollRequest {
	kp, _ := nkeys.CreateUser()
	pub, _ := kp.PublicKey()
	return evidence.EnrollRequest{
		Schema: 1, Secret: secret, DeviceID: device, PublicKey: pub, AgentVersion: "0.1.0",
		Host: evidence.HostFacts{Hostname: "laptop-1", OS: "darwin", Serial: "C02XYZ"},
		Tags: map[string]string{"department": "eng"},
	}
}

func post(t *testing.T, h http.Handler, body any) *httptest.ResponseRecorder {
	t.Helper()
	var b []byte
	switch v := body.(type) {
	case string:
		b = []byte(v)
	default:
		b, _ = json.Marshal(v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, evidence.EnrollPath, bytes.NewReader(b)))
	return rec
}

func TestEnrollRecordsTheDeviceAndAnswersWhereToPublish(t *testing.T) {
	st := openStore(t, chtest.Database(t))
	var told []string
	t0 := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	now := t0
	h := &enroll.Handler{Secrets: []string{"old", "new"}, Devices: st, NATSURLs: []string{"nats://127.0.0.1:4222"},
		Logger: quiet, Now: func() time.Time { return now }, Enrolled: func(id string) { told = append(told, id) }}

	req := request(t, "new", "d-laptop-1")
	rec := post(t, h, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var resp evidence.EnrollResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
		t.Fatal(err)
	}
	if resp.DeviceID != "d-laptop-1" || len(resp.NATSURLs) != 1 || !resp.EnrolledAt.Equal(t0) {
		t.Errorf("response %+v", resp)
	}
	d, err := st.Device(context.Background(), "d-laptop-1")
	if err != nil {
		t.Fatal(err)
	}
	if d.PublicKey != req.PublicKey || d.OS != "darwin" || d.Serial != "C02XYZ" || d.Tags["department"] != "eng" {
		t.Errorf("stored %+v", d)
	}

	// Re-enrolling (a reinstall with a new key, during secret rotation)
	// keeps the first enrollment time and records the new key.
	now = t0.Add(time.Hour)
	again := request(t, "old", "d-laptop-1")
	if rec := post(t, h, again); rec.Code != http.StatusOK {
		t.Fatalf("re-enroll: %d %s", rec.Code, rec.Body)
	}
	d, _ = st.Device(context.Background(), "d-laptop-1")
	if d.PublicKey != again.PublicKey || !d.EnrolledAt.Equal(t0) || !d.UpdatedAt.Equal(now) {
		t.Errorf("after re-enroll %+v", d)
	}
	if strings.Join(told, ",") != "d-laptop-1,d-laptop-1" {
		t.Errorf("Enrolled callback calls: %v", told)
	}
	// Both decisions are kept as evidence, the key change named as such.
	rows, err := st.Conn().Query(context.Background(), "SELECT outcome, public_key FROM enrollment_events ORDER BY at")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var o, k string
		rows.Scan(&o, &k)
		got = append(got, o+"/"+k)
	}
	if want := "enrolled/" + req.PublicKey + ",key_changed/" + again.PublicKey; strings.Join(got, ",") != want {
		t.Errorf("enrollment events %v, want %s", got, want)
	}
}

func TestEnrollRefusesBadRequests(t *testing.T) {
	st := openStore(t, chtest.Database(t))
	h := &enroll.Handler{Secrets: []string{"s3cret"}, Devices: st, NATSURLs: []string{"nats://127.0.0.1:4222"}, Logger: quiet}
	mut := func(f func(*evidence.EnrollRequest)) evidence.EnrollRequest {
		r := request(t, "s3cret", "d-ok")
		f(&r)
		return r
	}
	cases := []struct {
		name string
		body any
		code int
		msg  string
	}{
		{"wrong secret", mut(func(r *evidence.EnrollRequest) { r.Secret = "guess" }), 401, "secret"},
		{"empty secret", mut(func(r *evidence.EnrollRequest) { r.Secret = "" }), 401, "secret"},
		{"not json", "{", 400, "malformed"},
		{"device id with a subject wildcard", mut(func(r *evidence.EnrollRequest) { r.DeviceID = "a.>" }), 400, "device_id"},
		{"not a user nkey", mut(func(r *evidence.EnrollRequest) { r.PublicKey = "AB12" }), 400, "public_key"},
		{"a key of small order", mut(func(r *evidence.EnrollRequest) { r.PublicKey = userNKey(t, []byte{1}) }), 400, "public_key"},
		{"a key that is no curve point", mut(func(r *evidence.EnrollRequest) { r.PublicKey = notAPointKey(t) }), 400, "not a usable ed25519 key"},
		{"unknown schema", mut(func(r *evidence.EnrollRequest) { r.Schema = 7 }), 400, "schema"},
		{"no os", mut(func(r *evidence.EnrollRequest) { r.Host.OS = "" }), 400, "host.os"},
		{"oversized body", `{"secret":"` + strings.Repeat("x", 100<<10) + `"}`, 400, "malformed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := post(t, h, c.body)
			if rec.Code != c.code || !strings.Contains(rec.Body.String(), c.msg) {
				t.Errorf("got %d %s, want %d mentioning %q", rec.Code, rec.Body, c.code, c.msg)
			}
		})
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, evidence.EnrollPath, nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", rec.Code)
	}
	if _, err := st.Device(context.Background(), "d-ok"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a refused request stored a device: %v", err)
	}
}

func TestEnrollWithClickHouseDownAsksTheAgentToRetry(t *testing.T) {
	chtest.Server(t)
	ch, err := chserver.Start(context.Background(), chserver.Options{Dir: t.TempDir(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ch.Stop(context.Background()) })
	st := openStore(t, "clickhouse://"+ch.Addr()+"/enroll_down")
	if err := ch.Kill(); err != nil {
		t.Fatal(err)
	}
	<-ch.Done()
	h := &enroll.Handler{Secrets: []string{"s"}, Devices: st, NATSURLs: []string{"nats://127.0.0.1:4222"}, Logger: quiet}
	rec := post(t, h, request(t, "s", "d-x"))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "retry") {
		t.Errorf("got %d %s, want 503 asking to retry", rec.Code, rec.Body)
	}
}

// userNKey is the user nkey of the 32 bytes that begin with prefix and
// are otherwise zero ({1}: the curve's neutral element).
func userNKey(t *testing.T, prefix []byte) string {
	t.Helper()
	raw := make([]byte, 32)
	copy(raw, prefix)
	k, err := nkeys.Encode(nkeys.PrefixByteUser, raw)
	if err != nil {
		t.Fatal(err)
	}
	return string(k)
}

// notAPointKey is a well-formed user nkey whose 32 bytes decode to no
// point of the curve (y = 2, 3, ...: about half of all y are not).
func notAPointKey(t *testing.T) string {
	t.Helper()
	for y := 2; y < 1000; y++ {
		k := userNKey(t, []byte{byte(y), byte(y >> 8)})
		raw, _ := nkeys.Decode(nkeys.PrefixByteUser, []byte(k))
		if _, err := sigbatch.ParseKey(raw); err != nil && nkeys.IsValidPublicUserKey(k) {
			return k
		}
	}
	t.Fatal("no small y is off the curve")
	return ""
}
