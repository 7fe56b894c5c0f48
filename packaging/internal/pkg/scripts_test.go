package pkg

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Host paths the maintainer scripts touch. runScript rewrites each to live
// under a temp root, so every phase of every format can be exercised here
// without a package manager, systemd or root, and the host stays untouched.
var hostPaths = []string{
	"/run/systemd/system", "/etc/fleetproof", "/etc/default/", "/etc/sysconfig/", "/etc/init.d/",
	"/var/lib/fleetproof", "/usr/bin/fleetproof-agent", `"/etc/$1"`,
}

// scriptEnv is a fake machine for one script run.
type scriptEnv struct {
	systemd   bool              // systemd is running (/run/systemd/system exists)
	systemctl bool              // systemctl is installed
	busybox   bool              // user tools are busybox's adduser/addgroup (Alpine), not useradd/groupadd
	unitState string            // what "systemctl is-enabled" answers; "disabled" when empty
	users     bool              // the fleetproof user and group exist
	files     map[string]string // files under the root, by path relative to it
}

// stubs are the commands a script may run that would change the host or
// need a real system. They append their command line to $LOG.
var stubs = map[string]string{
	"systemctl": `echo "systemctl $*" >>"$LOG"
if [ "$1" = is-enabled ]; then
	state=$(cat "$ROOT/.unit-state" 2>/dev/null || echo disabled)
	echo "$state"
	[ "$state" = enabled ]
	exit
fi
exit 0`,
	"getent":   `grep -q "^$2:" "$ROOT/etc/$1"`,
	"groupadd": `echo "groupadd $*" >>"$LOG"; eval "g=\${$#}"; echo "$g:x:999:" >>"$ROOT/etc/group"`,
	"useradd":  `echo "useradd $*" >>"$LOG"; eval "u=\${$#}"; echo "$u:x:999:999::/:/bin/false" >>"$ROOT/etc/passwd"`,
	"addgroup": `echo "addgroup $*" >>"$LOG"; eval "g=\${$#}"; echo "$g:x:999:" >>"$ROOT/etc/group"`,
	"adduser":  `echo "adduser $*" >>"$LOG"; eval "u=\${$#}"; echo "$u:x:999:999::/:/bin/false" >>"$ROOT/etc/passwd"`,
	"chown":    `echo "chown $*" >>"$LOG"`,
}

// realTools are the only host programs on the scripts' PATH.
var realTools = []string{"sh", "grep", "mkdir", "chmod", "rm", "rmdir", "cat"}

type scriptResult struct {
	root  string
	calls []string // stub invocations, $ROOT written for the root
	out   string
	err   error
}

// runScript runs the script of kind from s's format variant with args on
// a fake machine described by e.
func runScript(t *testing.T, s spec, format, kind string, args []string, e scriptEnv) scriptResult {
	t.Helper()
	body, ok := stagedScripts(t, s, format)[kind]
	if !ok {
		t.Fatalf("%s has no %s %s script", s.name, format, kind)
	}
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	bin := filepath.Join(dir, "bin")
	logFile := filepath.Join(dir, "calls")
	for _, d := range []string{root + "/etc", bin} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(p, body string, mode os.FileMode) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
	}
	passwd, group := "root:x:0:0::/root:/bin/sh\n", "root:x:0:\n"
	if e.users {
		passwd += "fleetproof:x:999:999::/:/bin/false\n"
		group += "fleetproof:x:999:\n"
	}
	write(root+"/etc/passwd", passwd, 0o644)
	write(root+"/etc/group", group, 0o644)
	if e.systemd {
		if err := os.MkdirAll(root+"/run/systemd/system", 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if e.unitState != "" {
		write(root+"/.unit-state", e.unitState+"\n", 0o644)
	}
	for p, b := range e.files {
		write(filepath.Join(root, p), b, 0o644)
	}
	// What "fleetproof-agent uninstall" would be on this machine.
	write(root+"/usr/bin/fleetproof-agent", "#!/bin/sh\necho \"fleetproof-agent $*\" >>\"$LOG\"\n", 0o755)

	for _, tool := range realTools {
		p, err := exec.LookPath(tool)
		if err != nil {
			t.Skipf("%s not found", tool)
		}
		if err := os.Symlink(p, filepath.Join(bin, tool)); err != nil {
			t.Fatal(err)
		}
	}
	for name, stub := range stubs {
		switch {
		case name == "systemctl" && !e.systemctl,
			(name == "useradd" || name == "groupadd") && e.busybox,
			(name == "adduser" || name == "addgroup") && !e.busybox:
			continue
		}
		write(filepath.Join(bin, name), "#!/bin/sh\n"+stub+"\n", 0o755)
	}

	for _, p := range hostPaths {
		rp := strings.Replace(p, "/", root+"/", 1)
		body = strings.ReplaceAll(body, p, rp)
		if strings.Contains(strings.ReplaceAll(body, rp, ""), p) {
			t.Fatalf("%s still names %s outside the test root", kind, p)
		}
	}
	script := filepath.Join(dir, kind)
	write(script, body, 0o755)

	cmd := exec.Command(filepath.Join(bin, "sh"), append([]string{script}, args...)...)
	cmd.Env = []string{"PATH=" + bin, "ROOT=" + root, "LOG=" + logFile, "LC_ALL=C"}
	out, err := cmd.CombinedOutput()
	r := scriptResult{root: root, out: string(out), err: err}
	if b, _ := os.ReadFile(logFile); len(b) > 0 {
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			r.calls = append(r.calls, strings.ReplaceAll(l, root, "$ROOT"))
		}
	}
	return r
}

const (
	agentUnit     = "fleetproof-agent.service"
	collectorUnit = "fleetproof-collector.service"
)

// activate is what enabling and (re)starting a unit looks like.
func activate(unit string) []string {
	return []string{"systemctl daemon-reload", "systemctl is-enabled " + unit, "systemctl enable " + unit, "systemctl restart " + unit}
}

func TestMaintainerScripts(t *testing.T) {
	const url = "https://fleetproof.example.com"
	configured := map[string]string{"etc/fleetproof/agent.yaml": "server_url: " + url + "\n"}
	sd := scriptEnv{systemd: true, systemctl: true}
	with := func(e scriptEnv, files map[string]string) scriptEnv { e.files = files; return e }

	for _, tc := range []struct {
		name   string
		spec   spec
		format string
		kind   string
		args   []string
		env    scriptEnv
		calls  []string
		out    string // substring of the output
		// state: "" unchecked; "created": the state directory exists with
		// its mode; "kept"/"gone": it existed with a file before the run.
		state string
	}{
		// Agent, deb: the service starts only when it has somewhere to report.
		{name: "fresh install, unconfigured", spec: agentSpec, format: "deb", kind: postInstall, args: []string{"configure", ""},
			env: sd, calls: []string{"systemctl daemon-reload"}, out: "not started: server_url is not set", state: "created"},
		{name: "fresh install, agent.yaml", spec: agentSpec, format: "deb", kind: postInstall, args: []string{"configure", ""},
			env: with(sd, configured), calls: activate(agentUnit), out: "started " + agentUnit, state: "created"},
		{name: "fresh install, managed.yaml in MDM spelling", spec: agentSpec, format: "deb", kind: postInstall, args: []string{"configure", ""},
			env: with(sd, map[string]string{"etc/fleetproof/managed.yaml": "ServerURL: '" + url + "'\nEnrollSecret: x\n"}), calls: activate(agentUnit)},
		{name: "fresh install, managed.json", spec: agentSpec, format: "deb", kind: postInstall, args: []string{"configure", ""},
			env: with(sd, map[string]string{"etc/fleetproof/managed.json": `{"enroll_secret": "x", "server_url": "` + url + `"}`}), calls: activate(agentUnit)},
		{name: "fresh install, environment file", spec: agentSpec, format: "deb", kind: postInstall, args: []string{"configure", ""},
			env: with(sd, map[string]string{"etc/default/fleetproof-agent": "FLEETPROOF_SERVER_URL=" + url + "\n"}), calls: activate(agentUnit)},
		{name: "fresh install, empty server_url", spec: agentSpec, format: "deb", kind: postInstall, args: []string{"configure", ""},
			env: with(sd, map[string]string{"etc/fleetproof/agent.yaml": "server_url: \"\"\n"}), calls: []string{"systemctl daemon-reload"}, out: "not started"},
		{name: "fresh install, commented server_url", spec: agentSpec, format: "deb", kind: postInstall, args: []string{"configure", ""},
			env: with(sd, map[string]string{"etc/fleetproof/agent.yaml": "# server_url: " + url + "\n"}), calls: []string{"systemctl daemon-reload"}, out: "not started"},
		{name: "fresh install, configured, systemd not running (image build)", spec: agentSpec, format: "deb", kind: postInstall, args: []string{"configure", ""},
			env: scriptEnv{systemctl: true, files: configured}, calls: []string{"systemctl is-enabled " + agentUnit, "systemctl enable " + agentUnit}, out: "enabled " + agentUnit + " for the next boot"},
		{name: "fresh install, configured, masked", spec: agentSpec, format: "deb", kind: postInstall, args: []string{"configure", ""},
			env: scriptEnv{systemd: true, systemctl: true, unitState: "masked", files: configured}, calls: []string{"systemctl daemon-reload", "systemctl is-enabled " + agentUnit}, out: "masked"},
		{name: "fresh install, configured, no systemctl", spec: agentSpec, format: "deb", kind: postInstall, args: []string{"configure", ""},
			env: scriptEnv{files: configured}, out: "no systemd", state: "created"},
		{name: "upgrade, unconfigured", spec: agentSpec, format: "deb", kind: postInstall, args: []string{"configure", "1.0.0"},
			env: sd, calls: []string{"systemctl daemon-reload", "systemctl try-restart " + agentUnit}, state: "kept"},
		{name: "upgrade, configured", spec: agentSpec, format: "deb", kind: postInstall, args: []string{"configure", "1.0.0"},
			env: with(sd, configured), calls: activate(agentUnit), state: "kept"},
		{name: "abort-upgrade restarts the old version", spec: agentSpec, format: "deb", kind: postInstall, args: []string{"abort-upgrade", "1.1.0"},
			env: with(sd, configured), calls: activate(agentUnit)},
		{name: "prerm remove", spec: agentSpec, format: "deb", kind: preRemove, args: []string{"remove"},
			env: sd, calls: []string{"systemctl stop " + agentUnit, "systemctl disable " + agentUnit}},
		{name: "prerm upgrade leaves the service to postinst", spec: agentSpec, format: "deb", kind: preRemove, args: []string{"upgrade", "1.1.0"},
			env: sd},
		{name: "prerm remove, SysV service from fleetproof-agent install", spec: agentSpec, format: "deb", kind: preRemove, args: []string{"remove"},
			env:   scriptEnv{systemctl: true, files: map[string]string{"etc/init.d/fleetproof-agent": "#!/bin/sh\n# Written by \"fleetproof-agent install\"; ...\n"}},
			calls: []string{"systemctl disable " + agentUnit, "fleetproof-agent uninstall"}},
		{name: "postrm remove keeps state", spec: agentSpec, format: "deb", kind: postRemove, args: []string{"remove"},
			env: sd, calls: []string{"systemctl daemon-reload"}, state: "kept"},
		{name: "postrm purge deletes state", spec: agentSpec, format: "deb", kind: postRemove, args: []string{"purge"},
			env: sd, calls: []string{"systemctl daemon-reload"}, out: "deleted", state: "gone"},
		{name: "postrm purge without systemd", spec: agentSpec, format: "deb", kind: postRemove, args: []string{"purge"},
			env: scriptEnv{}, state: "gone"},
		{name: "postrm upgrade keeps state", spec: agentSpec, format: "deb", kind: postRemove, args: []string{"upgrade", "1.1.0"},
			env: sd, state: "kept"},
		{name: "postrm failed-upgrade keeps state", spec: agentSpec, format: "deb", kind: postRemove, args: []string{"failed-upgrade", "1.1.0"},
			env: sd, state: "kept"},

		// Agent, rpm: $1 counts the versions left installed.
		{name: "rpm %post install", spec: agentSpec, format: "rpm", kind: postInstall, args: []string{"1"},
			env: with(sd, configured), calls: activate(agentUnit), state: "created"},
		{name: "rpm %post upgrade, unconfigured", spec: agentSpec, format: "rpm", kind: postInstall, args: []string{"2"},
			env: sd, calls: []string{"systemctl daemon-reload", "systemctl try-restart " + agentUnit}, state: "kept"},
		{name: "rpm %preun of the old version on upgrade", spec: agentSpec, format: "rpm", kind: preRemove, args: []string{"1"},
			env: sd},
		{name: "rpm %preun erase", spec: agentSpec, format: "rpm", kind: preRemove, args: []string{"0"},
			env: sd, calls: []string{"systemctl stop " + agentUnit, "systemctl disable " + agentUnit}},
		{name: "rpm %postun of the old version on upgrade keeps state", spec: agentSpec, format: "rpm", kind: postRemove, args: []string{"1"},
			env: sd, state: "kept"},
		{name: "rpm %postun erase deletes state", spec: agentSpec, format: "rpm", kind: postRemove, args: []string{"0"},
			env: sd, calls: []string{"systemctl daemon-reload"}, state: "gone"},

		// Agent, apk: separate upgrade scripts, no purge.
		{name: "apk post-upgrade", spec: agentSpec, format: "apk", kind: postUpgrade,
			env: sd, calls: []string{"systemctl daemon-reload", "systemctl try-restart " + agentUnit}, state: "kept"},
		{name: "apk post-deinstall keeps state", spec: agentSpec, format: "apk", kind: postRemove,
			env: scriptEnv{}, state: "kept"},

		// Collector: its own user, its data directory, never deleted.
		{name: "collector preinst creates the user", spec: collectorSpec, format: "deb", kind: preInstall, args: []string{"install"},
			env: sd, calls: []string{"groupadd --system fleetproof", "useradd --system --gid fleetproof --home-dir $ROOT/var/lib/fleetproof-collector --no-create-home --shell " + nologin() + " --comment Fleetproof collector fleetproof"},
			out: "created system user fleetproof"},
		{name: "collector preinst, user exists", spec: collectorSpec, format: "deb", kind: preInstall, args: []string{"upgrade", "1.0.0"},
			env: scriptEnv{systemd: true, systemctl: true, users: true}},
		{name: "collector apk pre-install with busybox", spec: collectorSpec, format: "apk", kind: preInstall,
			env: scriptEnv{busybox: true}, calls: []string{"addgroup -S fleetproof", "adduser -S -D -H -h $ROOT/var/lib/fleetproof-collector -s " + nologin() + " -G fleetproof -g Fleetproof collector fleetproof"}},
		{name: "collector postinst, unconfigured", spec: collectorSpec, format: "deb", kind: postInstall, args: []string{"configure", ""},
			env:   scriptEnv{systemd: true, systemctl: true, users: true},
			calls: []string{"chown fleetproof:fleetproof $ROOT/var/lib/fleetproof-collector", "systemctl daemon-reload"}, out: "not started", state: "created"},
		{name: "collector postinst, configured", spec: collectorSpec, format: "deb", kind: postInstall, args: []string{"configure", ""},
			env:   scriptEnv{systemd: true, systemctl: true, users: true, files: map[string]string{"etc/fleetproof/collector.yaml": "enroll_secrets: x\n"}},
			calls: append([]string{"chown fleetproof:fleetproof $ROOT/var/lib/fleetproof-collector"}, activate(collectorUnit)...)},
		{name: "collector prerm remove", spec: collectorSpec, format: "deb", kind: preRemove, args: []string{"remove"},
			env: sd, calls: []string{"systemctl stop " + collectorUnit, "systemctl disable " + collectorUnit}},
		{name: "collector postrm purge keeps the evidence", spec: collectorSpec, format: "deb", kind: postRemove, args: []string{"purge"},
			env: sd, calls: []string{"systemctl daemon-reload"}, out: "kept", state: "kept"},
		{name: "collector rpm %postun erase keeps the evidence", spec: collectorSpec, format: "rpm", kind: postRemove, args: []string{"0"},
			env: sd, calls: []string{"systemctl daemon-reload"}, state: "kept"},
	} {
		t.Run(tc.format+" "+tc.spec.name+" "+tc.name, func(t *testing.T) {
			stateDir, stateMode := "var/lib/fleetproof", os.FileMode(0o700)
			if tc.spec.name == CollectorPackage {
				stateDir, stateMode = "var/lib/fleetproof-collector", 0o750
			}
			if tc.state == "kept" || tc.state == "gone" {
				if tc.env.files == nil {
					tc.env.files = map[string]string{}
				}
				tc.env.files[stateDir+"/device.key"] = "secret"
			}
			r := runScript(t, tc.spec, tc.format, tc.kind, tc.args, tc.env)
			if r.err != nil {
				t.Fatalf("script failed: %v\n%s", r.err, r.out)
			}
			if !slices.Equal(r.calls, tc.calls) {
				t.Errorf("calls:\n  %s\nwant:\n  %s\noutput:\n%s", strings.Join(r.calls, "\n  "), strings.Join(tc.calls, "\n  "), r.out)
			}
			if !strings.Contains(r.out, tc.out) {
				t.Errorf("output lacks %q:\n%s", tc.out, r.out)
			}
			st, err := os.Stat(filepath.Join(r.root, stateDir))
			switch tc.state {
			case "created":
				if err != nil || st.Mode().Perm() != stateMode {
					t.Errorf("state directory: %v, mode %v; want %v", err, st.Mode().Perm(), stateMode)
				}
			case "kept":
				if _, err := os.Stat(filepath.Join(r.root, stateDir, "device.key")); err != nil {
					t.Errorf("state not kept: %v", err)
				}
			case "gone":
				if err == nil {
					t.Errorf("state directory still exists")
				}
			}
		})
	}
}

// nologin is the shell the collector's user gets on this machine.
func nologin() string {
	for _, s := range []string{"/usr/sbin/nologin", "/sbin/nologin"} {
		if st, err := os.Stat(s); err == nil && st.Mode()&0o111 != 0 {
			return s
		}
	}
	return "/bin/false"
}
