package enroll_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fleetproof/fleetproof/agent/internal/enroll"
	"github.com/fleetproof/fleetproof/evidence"
)

func request() evidence.EnrollRequest {
	return evidence.EnrollRequest{
		Schema: evidence.SchemaVersion, Secret: "s3cret", DeviceID: "d-0123456789abcdef0123",
		PublicKey: "UTESTKEY", AgentVersion: "0.1.0-test",
		Host: evidence.HostFacts{Hostname: "laptop-1", OS: "linux", Arch: "amd64"},
		Tags: map[string]string{"department": "eng"},
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func TestEnroll(t *testing.T) {
	enrolledAt := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	answer := func(deviceID string, urls ...string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, evidence.EnrollResponse{
				Schema: evidence.SchemaVersion, DeviceID: deviceID, NATSURLs: urls, EnrolledAt: enrolledAt,
			})
		}
	}
	tests := []struct {
		name         string
		handler      http.HandlerFunc
		wantErr      string // substring; "" means success
		wantRejected bool
	}{
		{
			name:    "200 for this device returns the response",
			handler: answer(request().DeviceID, "nats://127.0.0.1:4222"),
		},
		{
			name: "401 is a rejection carrying the server's message",
			handler: func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "unknown enroll secret"})
			},
			wantErr:      "unknown enroll secret",
			wantRejected: true,
		},
		{
			name: "400 with a plain-text body is a rejection quoting the body",
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "device_id is malformed", http.StatusBadRequest)
			},
			wantErr:      "device_id is malformed",
			wantRejected: true,
		},
		{
			name: "500 is an error worth retrying, not a rejection",
			handler: func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "database unavailable"})
			},
			wantErr: "database unavailable",
		},
		{
			name: "429 from a rate limiter is retryable, not a rejection",
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "slow down", http.StatusTooManyRequests)
			},
			wantErr: "slow down",
		},
		{
			name: "malformed JSON in a 200 is an error",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusOK)
				_, _ = w.Write([]byte(`{"device_id": "d-0123`))
			},
			wantErr: "malformed response",
		},
		{
			name:    "a response for another device is an error",
			handler: answer("d-someoneelse", "nats://127.0.0.1:4222"),
			wantErr: `response for device "d-someoneelse"`,
		},
		{
			name:    "a response without NATS URLs is an error",
			handler: answer(request().DeviceID),
			wantErr: "0 NATS URLs",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got evidence.EnrollRequest
			var gotMethod, gotPath, gotType string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				gotMethod, gotPath, gotType = r.Method, r.URL.Path, r.Header.Get("Content-Type")
				if err := json.NewDecoder(r.Body).Decode(&got); err != nil {
					http.Error(w, err.Error(), http.StatusBadRequest)
					return
				}
				tt.handler(w, r)
			}))
			t.Cleanup(srv.Close)

			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			// A trailing slash on the configured URL must not matter.
			resp, err := enroll.Enroll(ctx, srv.Client(), srv.URL+"/", request())

			if gotMethod != http.MethodPost || gotPath != evidence.EnrollPath || gotType != "application/json" {
				t.Errorf("request = %s %s (%s), want POST %s (application/json)", gotMethod, gotPath, gotType, evidence.EnrollPath)
			}
			if !reflect.DeepEqual(got, request()) {
				t.Errorf("server received %+v, want %+v", got, request())
			}
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Enroll: %v", err)
				}
				want := evidence.EnrollResponse{Schema: evidence.SchemaVersion, DeviceID: request().DeviceID,
					NATSURLs: []string{"nats://127.0.0.1:4222"}, EnrolledAt: enrolledAt}
				if !reflect.DeepEqual(*resp, want) {
					t.Errorf("response = %+v, want %+v", *resp, want)
				}
				return
			}
			if err == nil {
				t.Fatalf("Enroll succeeded with %+v, want an error containing %q", resp, tt.wantErr)
			}
			if resp != nil {
				t.Errorf("Enroll returned a response alongside error %v", err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
			if errors.Is(err, enroll.ErrRejected) != tt.wantRejected {
				t.Errorf("errors.Is(%v, ErrRejected) = %v, want %v", err, !tt.wantRejected, tt.wantRejected)
			}
		})
	}
}

func TestEnrollUnreachableServerIsNotARejection(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more

	_, err := enroll.Enroll(context.Background(), nil, url, request())
	if err == nil {
		t.Fatal("Enroll against a closed server succeeded")
	}
	if errors.Is(err, enroll.ErrRejected) {
		t.Errorf("connection failure %v must not be a rejection: the agent retries it", err)
	}
}

func TestStateRoundTrip(t *testing.T) {
	dir := t.TempDir()
	want := enroll.State{
		ServerURL: "https://fleetproof.example.com",
		PublicKey: "UTESTKEY",
		Response: evidence.EnrollResponse{
			Schema: 1, DeviceID: "d-1", NATSURLs: []string{"nats://127.0.0.1:4222", "nats://127.0.0.1:4223"},
			EnrolledAt: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC), UserJWT: "eyJ.jwt",
		},
	}
	if err := enroll.Save(dir, want); err != nil {
		t.Fatalf("Save: %v", err)
	}
	got, ok, err := enroll.Load(dir)
	if err != nil || !ok {
		t.Fatalf("Load = %v, %v; want ok", ok, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Load = %+v, want %+v", got, want)
	}
	fi, err := os.Stat(filepath.Join(dir, enroll.StateFile))
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("state file mode %v, want 0600 (it may hold a NATS user JWT)", perm)
	}
	if _, err := os.Stat(filepath.Join(dir, enroll.StateFile+".tmp")); !os.IsNotExist(err) {
		t.Errorf("temporary file left behind: %v", err)
	}

	// Saving again replaces the state.
	want.ServerURL = "https://other.example.com"
	if err := enroll.Save(dir, want); err != nil {
		t.Fatalf("second Save: %v", err)
	}
	if got, _, _ := enroll.Load(dir); got.ServerURL != want.ServerURL {
		t.Errorf("after second Save, server_url = %q, want %q", got.ServerURL, want.ServerURL)
	}
}

func TestLoadWithoutUsableStateReportsNone(t *testing.T) {
	tests := []struct {
		name    string
		content *string // nil: no file
	}{
		{"missing state", nil},
		{"corrupt state", ptr(`{"server_url": "https://x`)},
		{"state of the wrong shape", ptr(`["not", "an", "object"]`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.content != nil {
				if err := os.WriteFile(filepath.Join(dir, enroll.StateFile), []byte(*tt.content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			st, ok, err := enroll.Load(dir)
			if err != nil {
				t.Fatalf("Load: %v (a bad state must only cost a re-enrollment)", err)
			}
			if ok {
				t.Errorf("Load reported state %+v, want none", st)
			}
		})
	}
}

func ptr(s string) *string { return &s }
