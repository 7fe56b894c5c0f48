package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fleetproof/fleetproof/agent/internal/builtin"
	"github.com/fleetproof/fleetproof/agent/internal/osquery"
	"github.com/fleetproof/fleetproof/agent/internal/osquery/osquerytest"
)

// isolated returns flags that keep a command off this machine's config
// file, state directory and osqueryd.
func isolated(t *testing.T) []string {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "agent.yaml")
	body := "state_dir: " + filepath.Join(dir, "state") + "\nosqueryd_path: " + filepath.Join(dir, "no-osqueryd") + "\n"
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return []string{"-config", cfg}
}

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := Run(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestQueryPrintsRowsLikeOsqueryiJSON(t *testing.T) {
	tests := []struct {
		sql, want string
	}{
		{"SELECT 2 AS b, 'x<y&z' AS a UNION ALL SELECT 1, NULL ORDER BY b DESC",
			"[\n  {\"a\":\"x<y&z\",\"b\":\"2\"},\n  {\"a\":\"\",\"b\":\"1\"}\n]\n"},
		{"SELECT 1 WHERE 0", "[\n\n]\n"},
	}
	for _, tt := range tests {
		code, out, errOut := runCLI(t, append(append([]string{"query"}, isolated(t)...), "--engine", "builtin", tt.sql)...)
		if code != 0 || out != tt.want {
			t.Errorf("%s: exit %d stdout %q stderr %q; want %q", tt.sql, code, out, errOut, tt.want)
		}
	}
}

func TestQueryErrorsExitNonZero(t *testing.T) {
	code, out, errOut := runCLI(t, append(append([]string{"query"}, isolated(t)...), "--engine", "builtin", "SELECT * FROM no_such_table")...)
	if code == 0 || out != "" || !strings.Contains(errOut, "no such table: no_such_table") {
		t.Errorf("exit %d stdout %q stderr %q", code, out, errOut)
	}
	code, _, errOut = runCLI(t, append(append([]string{"query"}, isolated(t)...), "--engine", "builtin")...)
	if code == 0 || !strings.Contains(errOut, "no SQL given") {
		t.Errorf("no SQL: exit %d stderr %q", code, errOut)
	}
	// osquery mode and a socket nobody serves: the engine's error.
	dead := filepath.Join(t.TempDir(), "dead.em")
	code, _, errOut = runCLI(t, append(append([]string{"query"}, isolated(t)...), "--engine", "osquery", "--socket", dead, "SELECT 1")...)
	if code == 0 || !strings.Contains(errOut, dead) {
		t.Errorf("dead socket: exit %d stderr %q", code, errOut)
	}
}

// Against the stand-in osqueryd: the SQL runs there, and the agent's own
// tables, registered for the duration of the command, answer through it.
func TestQueryThroughOsqueryd(t *testing.T) {
	s := osquerytest.New(t, osquerytest.WithPingInterval(200*time.Millisecond))
	if err := s.Exec(`CREATE TABLE os_version (name TEXT, major INTEGER); INSERT INTO os_version VALUES ('Stand-in OS', 7)`); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, append(append([]string{"query"}, isolated(t)...), "--engine", "osquery", "--socket", s.Path(),
		"SELECT name, major FROM os_version")...)
	if code != 0 || out != "[\n  {\"major\":\"7\",\"name\":\"Stand-in OS\"}\n]\n" {
		t.Fatalf("exit %d stdout %q stderr %q", code, out, errOut)
	}

	const sql = "SELECT * FROM fleetproof_auto_updates"
	code, out, errOut = runCLI(t, append(append([]string{"query"}, isolated(t)...), "--socket", s.Path(), sql)...)
	if code != 0 {
		t.Fatalf("exit %d stderr %q", code, errOut)
	}
	var got []map[string]string
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v: %q", err, out)
	}
	want, err := builtin.New(builtin.Options{}).Query(context.Background(), sql)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("through osqueryd %v, built-in %v", got, want)
	}
	// The command deregistered its tables on exit.
	if err := s.Wait(t.Context(), func(st osquerytest.State) bool { return len(st.Extensions) == 0 }); err != nil {
		t.Fatal(err)
	}
}

type extensionRun struct {
	code   int
	stderr bytes.Buffer
	done   chan struct{}
}

func startExtension(t *testing.T, args ...string) *extensionRun {
	t.Helper()
	r := &extensionRun{done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		defer close(r.done)
		var stdout bytes.Buffer
		r.code = Run(ctx, append([]string{"extension"}, args...), &stdout, &r.stderr)
	}()
	t.Cleanup(func() {
		cancel()
		<-r.done
	})
	return r
}

func (r *extensionRun) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-r.done:
		return r.code
	case <-time.After(30 * time.Second):
		t.Fatal("extension did not exit")
		return -1
	}
}

// `extension` as osqueryd autoloads it: registers, answers generate calls
// and exits when osqueryd shuts down or disappears.
func TestExtensionServesTablesUntilOsquerydGoes(t *testing.T) {
	for _, end := range []string{"shutdown", "crash"} {
		t.Run(end, func(t *testing.T) {
			s := osquerytest.New(t, osquerytest.WithPingInterval(100*time.Millisecond))
			r := startExtension(t, "--verbose", "--socket", s.Path(), "--timeout", "3", "--interval", "0.2")
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if _, err := s.WaitRegistered(ctx, "fleetproof"); err != nil {
				t.Fatal(err)
			}
			c, err := osquery.Dial(ctx, s.Path(), 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			// Registered comes just before the extension listens on its
			// socket; osqueryd would retry within --extensions_timeout.
			var rows []map[string]string
			for {
				rows, err = c.Query(ctx, "SELECT count(*) AS n FROM fleetproof_screenlock")
				if err == nil || ctx.Err() != nil {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			if err != nil || len(rows) != 1 {
				t.Fatalf("screenlock through the extension: %v %v", rows, err)
			}
			if end == "shutdown" {
				s.Close()
			} else {
				s.Kill()
			}
			if code := r.wait(t); code != 0 {
				t.Errorf("exit %d: %s", code, r.stderr.String())
			}
			if !strings.Contains(r.stderr.String(), "serving agent tables") {
				t.Errorf("stderr %q", r.stderr.String())
			}
		})
	}
}

func TestExtensionWithoutOsqueryd(t *testing.T) {
	dead := filepath.Join(t.TempDir(), "osquery.em")
	code, _, errOut := runCLI(t, "extension", "--socket", dead, "--timeout", "0.3", "--interval", "1")
	if code == 0 || !strings.Contains(errOut, "no osqueryd answering on "+dead) {
		t.Errorf("exit %d stderr %q", code, errOut)
	}
	code, _, errOut = runCLI(t, "extension", "--timeout", "1")
	if code == 0 || !strings.Contains(errOut, "--socket is required") {
		t.Errorf("exit %d stderr %q", code, errOut)
	}
}
