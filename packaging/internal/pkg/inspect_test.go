package pkg

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// entry is one file of a package as the package manager lists it.
type entry struct {
	mode string // ls-style: -rwxr-xr-x, drwxr-xr-x
	conf bool   // a conffile / %config(noreplace)
}

// want describes a package in terms every format shares; unitDir varies.
type wantPkg struct {
	spec    spec
	files   func(format string) map[string]entry
	scripts []string // script kinds the package must carry
}

func wantAgent(format string) map[string]entry {
	return map[string]entry{
		"/usr/bin/fleetproof-agent":                   {mode: "-rwxr-xr-x"},
		unitDir(format) + "/fleetproof-agent.service": {mode: "-rw-r--r--"},
		"/etc/fleetproof/agent.yaml.example":          {mode: "-rw-r--r--", conf: true},
	}
}

func wantCollector(format string) map[string]entry {
	return map[string]entry{
		"/usr/bin/fleetproof-collector":                   {mode: "-rwxr-xr-x"},
		unitDir(format) + "/fleetproof-collector.service": {mode: "-rw-r--r--"},
		"/etc/fleetproof/collector.yaml.example":          {mode: "-rw-r--r--", conf: true},
	}
}

var wantPkgs = []wantPkg{
	{agentSpec, wantAgent, []string{postInstall, preRemove, postRemove}},
	{collectorSpec, wantCollector, []string{preInstall, postInstall, preRemove, postRemove}},
}

// assertFiles compares the regular files of a package listing (plus
// /etc/fleetproof, which both packages own) with want.
func assertFiles(t *testing.T, got map[string]entry, want map[string]entry) {
	t.Helper()
	if d, ok := got["/etc/fleetproof"]; !ok || d.mode != "drwxr-xr-x" {
		t.Errorf("/etc/fleetproof: got %+v (present %v), want an owned drwxr-xr-x directory", d, ok)
	}
	for p, e := range got {
		if strings.HasPrefix(e.mode, "d") {
			continue
		}
		w, ok := want[p]
		switch {
		case !ok:
			t.Errorf("unexpected file %s", p)
		case e != w:
			t.Errorf("%s: got %+v, want %+v", p, e, w)
		}
	}
	for p := range want {
		if _, ok := got[p]; !ok {
			t.Errorf("missing %s", p)
		}
	}
}

func TestDeb(t *testing.T) {
	need(t, "dpkg-deb", "dpkg")
	pkgs := buildPackages(t, "v1.2.3", "deb")
	for _, w := range wantPkgs {
		t.Run(w.spec.name, func(t *testing.T) {
			deb := pkgs[w.spec.name]["deb"]
			if base := filepath.Base(deb); base != w.spec.name+"_1.2.3_amd64.deb" {
				t.Errorf("file name %s", base)
			}
			fields := map[string]string{
				"Package": w.spec.name, "Version": "1.2.3", "Architecture": "amd64", "Section": "admin",
				"Priority": "optional", "Maintainer": DefaultMaintainer, "Homepage": Homepage,
				"Recommends": strings.Join(w.spec.recommends, ", "), "Depends": "",
			}
			for f, want := range fields {
				if got := strings.TrimSpace(run(t, "dpkg-deb", "-f", deb, f)); got != want {
					t.Errorf("control %s: %q, want %q", f, got, want)
				}
			}
			if d := run(t, "dpkg-deb", "-f", deb, "Description"); !strings.Contains(d, "\n ") {
				t.Errorf("Description has no extended description:\n%s", d)
			}

			// Files and modes, from dpkg-deb's own listing.
			got := map[string]entry{}
			for _, line := range strings.Split(strings.TrimSpace(run(t, "dpkg-deb", "-c", deb)), "\n") {
				f := strings.Fields(line)
				if len(f) < 6 {
					t.Fatalf("dpkg-deb -c line %q", line)
				}
				if f[1] != "root/root" {
					t.Errorf("%s owned by %s", f[5], f[1])
				}
				p := strings.TrimSuffix(strings.TrimPrefix(f[5], "."), "/")
				if p != "" {
					got[p] = entry{mode: f[0]}
				}
			}
			ctrl := t.TempDir()
			run(t, "dpkg-deb", "-e", deb, ctrl)
			conffiles, _ := os.ReadFile(filepath.Join(ctrl, "conffiles"))
			for _, c := range strings.Fields(string(conffiles)) {
				e := got[c]
				e.conf = true
				got[c] = e
			}
			assertFiles(t, got, w.files("deb"))

			// The scripts are exactly what stageScripts assembles, and
			// nothing else is in the control archive.
			names := map[string]string{preInstall: "preinst", postInstall: "postinst", preRemove: "prerm", postRemove: "postrm"}
			staged := stagedScripts(t, w.spec, "deb")
			var ctrlFiles []string
			ents, _ := os.ReadDir(ctrl)
			for _, e := range ents {
				ctrlFiles = append(ctrlFiles, e.Name())
			}
			wantCtrl := []string{"conffiles", "control", "md5sums"}
			for _, k := range w.scripts {
				wantCtrl = append(wantCtrl, names[k])
				p := filepath.Join(ctrl, names[k])
				b, err := os.ReadFile(p)
				if err != nil {
					t.Errorf("%s: %v", names[k], err)
					continue
				}
				if string(b) != staged[k] {
					t.Errorf("%s differs from the staged %s script", names[k], k)
				}
				if st, _ := os.Stat(p); st.Mode().Perm() != 0o755 {
					t.Errorf("%s mode %v", names[k], st.Mode())
				}
				if !strings.Contains(string(b), "\npkg_format=deb\n") {
					t.Errorf("%s is not the deb variant", names[k])
				}
			}
			slices.Sort(wantCtrl)
			if !slices.Equal(ctrlFiles, wantCtrl) {
				t.Errorf("control archive %v, want %v", ctrlFiles, wantCtrl)
			}
		})
	}
}

func TestRPM(t *testing.T) {
	need(t, "rpm", "rpm")
	pkgs := buildPackages(t, "v1.2.3-4-gabc1234", "rpm")
	for _, w := range wantPkgs {
		t.Run(w.spec.name, func(t *testing.T) {
			file := pkgs[w.spec.name]["rpm"]
			if base := filepath.Base(file); base != w.spec.name+"_1.2.3+git4.abc1234_amd64.rpm" {
				t.Errorf("file name %s", base)
			}
			q := func(format string) string {
				return run(t, "rpm", "-qp", "--nosignature", "--qf", format, file)
			}
			if got, want := q("%{NAME} %{VERSION} %{RELEASE} %{ARCH} %{VENDOR} %{URL}"), w.spec.name+" 1.2.3+git4.abc1234 1 x86_64 Fleetproof "+Homepage; got != want {
				t.Errorf("header %q, want %q", got, want)
			}
			if got := strings.TrimSpace(q("[%{RECOMMENDNAME}\n]")); got != strings.Join(w.spec.recommends, "\n") {
				t.Errorf("Recommends %q, want %v", got, w.spec.recommends)
			}
			info := run(t, "rpm", "-qip", "--nosignature", file)
			if !strings.Contains(info, "Summary     : "+strings.SplitN(w.spec.description, "\n", 2)[0]) {
				t.Errorf("rpm -qip summary:\n%s", info)
			}

			// Files, modes and config flags ("cn": %config(noreplace)).
			got := map[string]entry{}
			for _, line := range strings.Split(strings.TrimSpace(q("[%{FILEMODES:perms} %{FILEUSERNAME}:%{FILEGROUPNAME} %{FILEFLAGS:fflags} %{FILENAMES}\n]")), "\n") {
				f := strings.Fields(line)
				flags := ""
				if len(f) == 4 {
					flags = f[2]
				}
				p := f[len(f)-1]
				if f[1] != "root:root" {
					t.Errorf("%s owned by %s", p, f[1])
				}
				got[p] = entry{mode: f[0], conf: flags == "cn"}
				if flags != "" && flags != "cn" {
					t.Errorf("%s has file flags %q", p, flags)
				}
			}
			assertFiles(t, got, w.files("rpm"))
			if l := run(t, "rpm", "-qlp", "--nosignature", file); strings.Contains(l, "/usr/bin\n") || strings.Contains(l, "/etc\n") {
				t.Errorf("the package claims a system directory:\n%s", l)
			}

			// Every scriptlet is the staged rpm script, run by /bin/sh.
			tags := map[string]string{preInstall: "PREIN", postInstall: "POSTIN", preRemove: "PREUN", postRemove: "POSTUN"}
			staged := stagedScripts(t, w.spec, "rpm")
			for kind, tag := range tags {
				body := q("%{" + tag + "}")
				if !slices.Contains(w.scripts, kind) {
					if body != "(none)" {
						t.Errorf("unexpected %s scriptlet", tag)
					}
					continue
				}
				if body != staged[kind] {
					t.Errorf("%s differs from the staged %s script:\n%s", tag, kind, body)
				}
				if prog := q("%{" + tag + "PROG}"); prog != "/bin/sh" {
					t.Errorf("%s runs with %q", tag, prog)
				}
			}
			if s := run(t, "rpm", "-qp", "--nosignature", "--scripts", file); !strings.Contains(s, "pkg_format=rpm") {
				t.Errorf("rpm --scripts shows no rpm variant:\n%s", s)
			}
		})
	}
}

// apkRe is the version grammar of apk-tools (number, optional letter,
// fixed suffixes, optional -rN), which rejects what deb and rpm accept.
var apkRe = regexp.MustCompile(`^\d+(\.\d+)*[a-z]?(_(alpha|beta|pre|rc|cvs|svn|git|hg|p)\d*)*(-r\d+)?$`)

// TestAPK reads the apk (concatenated gzip tar streams: control, then
// data) with the standard library; apk-tools is not on Debian.
func TestAPK(t *testing.T) {
	pkgs := buildPackages(t, "v1.2.3-rc.1-4-gabc1234", "apk")
	for _, w := range wantPkgs {
		t.Run(w.spec.name, func(t *testing.T) {
			file := pkgs[w.spec.name]["apk"]
			f, err := os.Open(file)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			zr, err := gzip.NewReader(f) // multistream: reads every segment
			if err != nil {
				t.Fatal(err)
			}
			tr := tar.NewReader(zr)
			got := map[string]entry{}
			control := map[string]string{}
			for {
				h, err := tr.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if strings.HasPrefix(h.Name, ".") {
					b, _ := io.ReadAll(tr)
					control[h.Name] = string(b)
					continue
				}
				got["/"+strings.TrimSuffix(h.Name, "/")] = entry{mode: h.FileInfo().Mode().String()}
			}
			want := w.files("apk")
			for p, e := range want {
				e.conf = false // apk has no conffile marker; it keeps edited files as .apk-new
				want[p] = e
			}
			assertFiles(t, got, want)

			info := control[".PKGINFO"]
			fields := map[string]string{}
			for _, line := range strings.Split(strings.TrimSpace(info), "\n") {
				k, v, ok := strings.Cut(line, " = ")
				if !ok {
					t.Errorf(".PKGINFO line %q is not key = value", line)
				}
				fields[k] = v
			}
			if v := fields["pkgver"]; v != "1.2.3_rc1_p4" || !apkRe.MatchString(v) {
				t.Errorf("pkgver %q", v)
			}
			if fields["arch"] != "x86_64" || fields["pkgname"] != w.spec.name {
				t.Errorf(".PKGINFO:\n%s", info)
			}
			staged := stagedScripts(t, w.spec, "apk")
			names := map[string]string{
				preInstall: ".pre-install", postInstall: ".post-install", preRemove: ".pre-deinstall",
				postRemove: ".post-deinstall", preUpgrade: ".pre-upgrade", postUpgrade: ".post-upgrade",
			}
			for kind, body := range staged {
				if control[names[kind]] != body {
					t.Errorf("%s differs from the staged %s script", names[kind], kind)
				}
			}
			if _, ok := staged[postUpgrade]; !ok {
				t.Error("no post-upgrade script: apk would run none on upgrade")
			}
		})
	}
}

// TestScriptsParse checks every assembled script with the shells package
// managers use: dash (Debian's /bin/sh) and, when present, bash --posix and
// busybox sh (Alpine).
func TestScriptsParse(t *testing.T) {
	var shells [][]string
	for _, sh := range [][]string{{"dash", "-n"}, {"bash", "--posix", "-n"}, {"busybox", "sh", "-n"}} {
		if _, err := exec.LookPath(sh[0]); err == nil {
			shells = append(shells, sh)
		}
	}
	if len(shells) == 0 {
		t.Skip("no POSIX shell to check with")
	}
	for _, s := range []spec{agentSpec, collectorSpec} {
		for _, format := range Formats {
			for kind, body := range stagedScripts(t, s, format) {
				for _, sh := range shells {
					cmd := exec.Command(sh[0], sh[1:]...)
					cmd.Stdin = strings.NewReader(body)
					if out, err := cmd.CombinedOutput(); err != nil {
						t.Errorf("%s %s %s: %s: %v\n%s", s.name, format, kind, strings.Join(sh, " "), err, out)
					}
				}
				if strings.Contains(body, "@") && regexp.MustCompile(`@[A-Z]+@`).MatchString(body) {
					t.Errorf("%s %s %s: unreplaced placeholder", s.name, format, kind)
				}
			}
		}
	}
}

// lintianKnown are lintian errors accepted on purpose, with the reason.
var lintianKnown = map[string]string{
	// CGO_ENABLED=0 builds, so the binaries run on any distribution.
	"statically-linked-binary": "",
	// Native packages built from the repository, not from Debian sources;
	// the project has not chosen a license to put in a copyright file.
	"no-copyright-file": "",
	"no-changelog":      "",
}

// TestLintian runs Debian's package checker when it is installed. It fails
// on errors (E:) other than lintianKnown; warnings are logged.
func TestLintian(t *testing.T) {
	lintian, err := exec.LookPath("lintian")
	if err != nil {
		t.Skip("lintian is not installed; not required (apt-get install lintian to run it)")
	}
	pkgs := buildPackages(t, "v1.2.3", "deb")
	for name, byFormat := range pkgs {
		out, _ := exec.Command(lintian, "--tag-display-limit", "0", byFormat["deb"]).CombinedOutput()
		for _, line := range strings.Split(string(out), "\n") {
			f := strings.Fields(line)
			if len(f) < 3 {
				continue
			}
			switch f[0] {
			case "E:":
				if _, ok := lintianKnown[f[2]]; !ok {
					t.Errorf("%s: lintian: %s", name, line)
				}
			case "W:":
				t.Logf("%s: lintian: %s", name, line)
			}
		}
	}
}
