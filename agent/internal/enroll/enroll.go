package enroll

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fleetproof/fleetproof/evidence"
)

// StateFile holds the last successful enrollment.
const StateFile = "enrollment.json"

// ErrRejected means the collector refused the request itself (bad secret,
// invalid request); retrying the same request will not help.
var ErrRejected = errors.New("enrollment rejected")

// Enroll sends req to the collector at serverURL.
func Enroll(ctx context.Context, client *http.Client, serverURL string, req evidence.EnrollRequest) (*evidence.EnrollResponse, error) {
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("enroll: %w", err)
	}
	url := strings.TrimRight(serverURL, "/") + evidence.EnrollPath
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("enroll: %w", err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(hreq)
	if err != nil {
		return nil, fmt.Errorf("enroll: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("enroll: read response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		_ = json.Unmarshal(data, &e)
		msg := e.Error
		if msg == "" {
			msg = strings.TrimSpace(string(data))
		}
		// 408 and 429 are the client errors that do pass with time.
		transient := resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusTooManyRequests
		if resp.StatusCode >= 400 && resp.StatusCode < 500 && !transient {
			return nil, fmt.Errorf("enroll: %w: %s: %s", ErrRejected, resp.Status, msg)
		}
		return nil, fmt.Errorf("enroll: %s: %s", resp.Status, msg)
	}
	var out evidence.EnrollResponse
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("enroll: malformed response: %w", err)
	}
	if out.DeviceID != req.DeviceID || len(out.NATSURLs) == 0 {
		return nil, fmt.Errorf("enroll: response for device %q with %d NATS URLs does not answer the request for %q", out.DeviceID, len(out.NATSURLs), req.DeviceID)
	}
	return &out, nil
}

// State is what the agent remembers of its enrollment.
type State struct {
	ServerURL string                  `json:"server_url"`
	PublicKey string                  `json:"public_key"`
	Response  evidence.EnrollResponse `json:"response"`
}

// Load reads the saved state; ok is false when there is none.
func Load(dir string) (st State, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, StateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return State{}, false, nil
	}
	if err != nil {
		return State{}, false, fmt.Errorf("enroll: load state: %w", err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		// A corrupt state file only costs a re-enrollment.
		return State{}, false, nil
	}
	return st, true, nil
}

// Save writes the state atomically.
func Save(dir string, st State) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, StateFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("enroll: save state: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, StateFile)); err != nil {
		return fmt.Errorf("enroll: save state: %w", err)
	}
	return nil
}
