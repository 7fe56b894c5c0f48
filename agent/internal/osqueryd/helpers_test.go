package osqueryd

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestFlags(t *testing.T) {
	l := NewLayout("linux", "/var/lib/fleetproof", "/var/run", "/tmp")
	got := Flags("linux", l, Limits{MemoryMB: 150, CPUPercent: 7})
	want := []string{
		"--pidfile=/var/lib/fleetproof/osquery/osqueryd.pid",
		"--database_path=/var/lib/fleetproof/osquery/osquery.db",
		"--extensions_socket=/var/lib/fleetproof/osquery.em",
		"--extensions_autoload=/var/lib/fleetproof/osquery/extensions.load",
		"--disable_extensions=false",
		"--extensions_timeout=10",
		"--extensions_interval=3",
		"--config_plugin=filesystem",
		"--config_path=/var/lib/fleetproof/osquery/osquery.conf",
		"--disable_events",
		"--disable_distributed",
		"--logger_plugin=filesystem",
		"--logger_path=/var/lib/fleetproof/osquery-logs",
		"--host_identifier=uuid",
		"--force",
		"--watchdog_memory_limit=150",
		"--watchdog_utilization_limit=7",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Flags =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	win := Flags("windows", NewLayout("windows", `C:\ProgramData\Fleetproof\state`, "", `C:\Temp`), Limits{MemoryMB: 200, CPUPercent: 10})
	if win[len(win)-1] != "--allow_unsafe" {
		t.Errorf("windows flags end %q, want --allow_unsafe", win[len(win)-1])
	}
	if !strings.HasPrefix(win[2], `--extensions_socket=\\.\pipe\fleetproof-osquery-`) {
		t.Errorf("windows socket flag %q", win[2])
	}
	if Env("darwin")[0] != "SYSTEM_VERSION_COMPAT=0" || Env("linux") != nil {
		t.Errorf("Env: darwin %v linux %v", Env("darwin"), Env("linux"))
	}
}

func TestSocketPath(t *testing.T) {
	long := "/srv/" + strings.Repeat("very-long-directory-name/", 4) + "fleetproof-state"
	tests := []struct {
		name, goos, state, run, tmp, want string
	}{
		{"short state dir", "linux", "/var/lib/fleetproof", "/var/run", "/tmp", "/var/lib/fleetproof/osquery.em"},
		{"macOS state dir fits", "darwin", "/Library/Application Support/Fleetproof/state", "/var/run", "/tmp",
			"/Library/Application Support/Fleetproof/state/osquery.em"},
		{"too long: /var/run", "linux", long, "/var/run", "/tmp", "/var/run/fleetproof-" + hash12(long) + ".em"},
		{"too long, no run dir: temp dir", "linux", long, "", "/tmp", "/tmp/fleetproof-" + hash12(long) + ".em"},
		{"windows: named pipe", "windows", `C:\ProgramData\Fleetproof\state`, "", `C:\Temp`,
			`\\.\pipe\fleetproof-osquery-` + hash12(`C:\ProgramData\Fleetproof\state`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := SocketPath(tt.goos, tt.state, tt.run, tt.tmp)
			if got != tt.want {
				t.Errorf("SocketPath = %q, want %q", got, tt.want)
			}
			if tt.goos != "windows" && len(got) > MaxSocketPath {
				t.Errorf("%q is %d characters", got, len(got))
			}
		})
	}
	if SocketPath("linux", long, "/var/run", "/tmp") == SocketPath("linux", long+"2", "/var/run", "/tmp") {
		t.Error("two state directories share a fallback socket")
	}
}

func hash12(s string) string {
	p := SocketPath("windows", s, "", "")
	return p[strings.LastIndexByte(p, '-')+1:]
}

func TestFind(t *testing.T) {
	notOnPath := func(string) (string, error) { return "", errors.New("not found") }
	onPath := func(name string) (string, error) { return "/home/u/bin/" + name, nil }
	has := func(paths ...string) func(string) bool {
		return func(p string) bool {
			for _, q := range paths {
				if p == q {
					return true
				}
			}
			return false
		}
	}
	tests := []struct {
		name, configured, goos string
		look                   func(string) (string, error)
		usable                 func(string) bool
		want                   string
		wantErr                string
	}{
		{"configured wins", "/custom/osqueryd", "linux", onPath, has("/custom/osqueryd", "/home/u/bin/osqueryd"), "/custom/osqueryd", ""},
		{"configured but missing is an error", "/custom/osqueryd", "linux", onPath, has("/home/u/bin/osqueryd"), "", "not an executable"},
		{"PATH before defaults", "", "linux", onPath, has("/home/u/bin/osqueryd", "/opt/osquery/bin/osqueryd"), "/home/u/bin/osqueryd", ""},
		{"linux default order", "", "linux", notOnPath, has("/usr/local/bin/osqueryd", "/usr/bin/osqueryd"), "/usr/bin/osqueryd", ""},
		{"opt first", "", "linux", notOnPath, has("/usr/bin/osqueryd", "/opt/osquery/bin/osqueryd"), "/opt/osquery/bin/osqueryd", ""},
		{"macOS app bundle", "", "darwin", notOnPath, has("/opt/osquery/lib/osquery.app/Contents/MacOS/osqueryd"),
			"/opt/osquery/lib/osquery.app/Contents/MacOS/osqueryd", ""},
		{"windows program files", "", "windows", notOnPath, has(`C:\Program Files\osquery\osqueryd\osqueryd.exe`),
			`C:\Program Files\osquery\osqueryd\osqueryd.exe`, ""},
		{"windows looks up osqueryd.exe", "", "windows", onPath, has("/home/u/bin/osqueryd.exe"), "/home/u/bin/osqueryd.exe", ""},
		{"nowhere", "", "linux", notOnPath, has(), "", ErrNotFound.Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := find(tt.configured, tt.goos, tt.look, tt.usable)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("find = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	if defaultSocket("linux") != "/var/osquery/osquery.em" || defaultSocket("darwin") != "/var/osquery/osquery.em" ||
		defaultSocket("windows") != `\\.\pipe\osquery.em` || defaultSocket("freebsd") != "/var/run/osquery.em" {
		t.Error("defaultSocket differs from osqueryd's --extensions_socket defaults")
	}
}

func TestHostLayoutKeepsTheSocketShort(t *testing.T) {
	long := "/srv/" + strings.Repeat("very-long-directory-name/", 4) + "state"
	l := HostLayout(long)
	if len(l.Socket) > MaxSocketPath || strings.HasPrefix(l.Socket, long) {
		t.Errorf("socket %q for state dir %q", l.Socket, long)
	}
	if l.Pidfile != long+"/osquery/osqueryd.pid" && !strings.HasSuffix(l.Pidfile, `osqueryd.pid`) {
		t.Errorf("pidfile %q", l.Pidfile)
	}
}
