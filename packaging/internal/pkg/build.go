package pkg

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/apk" // registers the apk packager
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the deb packager
	"github.com/goreleaser/nfpm/v2/files"
	_ "github.com/goreleaser/nfpm/v2/rpm" // registers the rpm packager

	"github.com/fleetproof/fleetproof/packaging"
)

// Formats are the package formats Run builds when Options.Formats is empty.
var Formats = []string{"deb", "rpm", "apk"}

// Options select what Run builds.
type Options struct {
	// Version is a tag, git describe output or commit; see ParseVersion.
	Version string
	// Arch is the Go architecture the binaries were built for (amd64,
	// arm64); nFPM translates it per format (rpm: x86_64, aarch64).
	Arch string
	// AgentBinary and CollectorBinary are the linux binaries to package;
	// an empty path skips that package.
	AgentBinary     string
	CollectorBinary string
	// OutDir receives the packages; created if missing.
	OutDir string
	// Formats to build; Formats when empty.
	Formats []string
	// Maintainer is the Maintainer/Packager field; DefaultMaintainer when empty.
	Maintainer string
	// MTime stamps every file; when zero nFPM uses SOURCE_DATE_EPOCH, or now.
	MTime time.Time
}

// DefaultMaintainer is used when Options.Maintainer is empty.
const DefaultMaintainer = "Fleetproof <packaging@fleetproof.dev>"

// Homepage is the package homepage field.
const Homepage = "https://github.com/fleetproof/fleetproof"

// Artifact is one package Run wrote.
type Artifact struct {
	Package string // fleetproof-agent, fleetproof-collector
	Format  string // deb, rpm, apk
	Path    string
	Size    int64
}

// Run builds every requested package and returns what it wrote. A package
// is written under a temporary name and renamed, so OutDir never holds a
// truncated package that looks finished.
func Run(o Options) ([]Artifact, error) {
	v, err := ParseVersion(o.Version)
	if err != nil {
		return nil, err
	}
	if o.Arch == "" {
		return nil, errors.New("arch is required (amd64, arm64)")
	}
	if o.OutDir == "" {
		return nil, errors.New("an output directory is required")
	}
	formats := o.Formats
	if len(formats) == 0 {
		formats = Formats
	}
	for _, f := range formats {
		if !slices.Contains(Formats, f) {
			return nil, fmt.Errorf("format %q: want one of %s", f, strings.Join(Formats, ", "))
		}
	}
	type job struct {
		spec   spec
		binary string
	}
	var jobs []job
	if o.AgentBinary != "" {
		jobs = append(jobs, job{agentSpec, o.AgentBinary})
	}
	if o.CollectorBinary != "" {
		jobs = append(jobs, job{collectorSpec, o.CollectorBinary})
	}
	if len(jobs) == 0 {
		return nil, errors.New("no binary given: nothing to package")
	}
	for _, j := range jobs {
		// nFPM would only say "no such file" deep inside the packager.
		if st, err := os.Stat(j.binary); err != nil {
			return nil, fmt.Errorf("%s binary: %w", j.spec.name, err)
		} else if !st.Mode().IsRegular() {
			return nil, fmt.Errorf("%s binary %s is not a regular file", j.spec.name, j.binary)
		}
	}
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return nil, err
	}
	stage, err := os.MkdirTemp("", "fleetproof-package-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(stage)

	var out []Artifact
	for _, j := range jobs {
		for _, format := range formats {
			a, err := build(o, v, j.spec, j.binary, format, filepath.Join(stage, j.spec.name, format))
			if err != nil {
				return out, fmt.Errorf("%s %s: %w", j.spec.name, format, err)
			}
			out = append(out, a)
		}
	}
	return out, nil
}

// unitDir is where each distribution family expects packaged units:
// Debian still uses /lib (bookworm and earlier are not /usr-merged by
// policy), Fedora and RHEL /usr/lib.
func unitDir(format string) string {
	if format == "deb" {
		return "/lib/systemd/system"
	}
	return "/usr/lib/systemd/system"
}

// FileName is the package file name: name_version_arch.ext, with the
// version as that format writes it and the Go architecture name.
func FileName(name, format string, v Version, arch string) string {
	ver := v.String()
	if format == "apk" {
		ver = v.Base
		if s := v.apkSuffix(); s != "" {
			ver += "_" + s
		}
	}
	return fmt.Sprintf("%s_%s_%s.%s", name, ver, arch, format)
}

func build(o Options, v Version, s spec, binary, format, stage string) (Artifact, error) {
	if err := os.MkdirAll(stage, 0o755); err != nil {
		return Artifact{}, err
	}
	staged := func(name string) (string, error) {
		b, err := fs.ReadFile(packaging.Linux, path.Join("linux", s.dir, name))
		if err != nil {
			return "", err
		}
		p := filepath.Join(stage, name)
		return p, os.WriteFile(p, b, 0o644)
	}
	unit, err := staged(s.unit)
	if err != nil {
		return Artifact{}, err
	}
	example, err := staged(s.example)
	if err != nil {
		return Artifact{}, err
	}
	scripts, err := stageScripts(s, format, stage)
	if err != nil {
		return Artifact{}, err
	}

	maintainer := o.Maintainer
	if maintainer == "" {
		maintainer = DefaultMaintainer
	}
	info := &nfpm.Info{
		Name:          s.name,
		Arch:          o.Arch,
		Platform:      "linux",
		Version:       v.Base,
		VersionSchema: "none", // ParseVersion already split it
		Prerelease:    v.Pre,
		Section:       "admin",
		Priority:      "optional",
		Maintainer:    maintainer,
		Vendor:        "Fleetproof",
		Homepage:      Homepage,
		Description:   s.description,
		MTime:         o.MTime,
		Overridables: nfpm.Overridables{
			Recommends: s.recommends,
			Contents: files.Contents{
				{Source: binary, Destination: "/usr/bin/" + s.binary, FileInfo: &files.ContentFileInfo{Mode: 0o755}},
				{Source: unit, Destination: unitDir(format) + "/" + s.unit, FileInfo: &files.ContentFileInfo{Mode: 0o644}},
				// Owned by both packages (dpkg and rpm allow a shared
				// directory), so it goes only when both are gone and it is empty.
				{Destination: "/etc/fleetproof", Type: files.TypeDir, FileInfo: &files.ContentFileInfo{Mode: 0o755}},
				{Source: example, Destination: "/etc/fleetproof/" + s.example, Type: files.TypeConfigNoReplace, FileInfo: &files.ContentFileInfo{Mode: 0o644}},
			},
			Scripts: nfpm.Scripts{
				PreInstall:  scripts[preInstall],
				PostInstall: scripts[postInstall],
				PreRemove:   scripts[preRemove],
				PostRemove:  scripts[postRemove],
			},
			RPM: nfpm.RPM{Group: "System Environment/Daemons", Packager: maintainer},
			APK: nfpm.APK{Scripts: nfpm.APKScripts{PreUpgrade: scripts[preUpgrade], PostUpgrade: scripts[postUpgrade]}},
		},
	}
	if format == "apk" {
		info.Prerelease = v.apkSuffix()
		// .PKGINFO has one line per field; apk-tools rejects continuation
		// lines, so only the summary goes in.
		info.Description, _, _ = strings.Cut(s.description, "\n")
	} else {
		info.VersionMetadata = v.metadata()
	}
	info = nfpm.WithDefaults(info)
	packager, err := nfpm.Get(format)
	if err != nil {
		return Artifact{}, err
	}

	dst := filepath.Join(o.OutDir, FileName(s.name, format, v, o.Arch))
	f, err := os.CreateTemp(o.OutDir, ".tmp-"+filepath.Base(dst)+"-")
	if err != nil {
		return Artifact{}, err
	}
	defer os.Remove(f.Name()) // no-op after the rename
	if err := packager.Package(info, f); err != nil {
		f.Close()
		return Artifact{}, err
	}
	if err := f.Close(); err != nil {
		return Artifact{}, err
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return Artifact{}, err
	}
	if err := os.Rename(f.Name(), dst); err != nil {
		return Artifact{}, err
	}
	st, err := os.Stat(dst)
	if err != nil {
		return Artifact{}, err
	}
	return Artifact{Package: s.name, Format: format, Path: dst, Size: st.Size()}, nil
}

// stageScripts writes the maintainer scripts of s for format: the shared
// prelude, told which package, format and script it is, followed by the
// body. apk gets the install bodies a second time as its upgrade scripts.
func stageScripts(s spec, format, stage string) (map[string]string, error) {
	prelude, err := fs.ReadFile(packaging.Linux, "linux/common/prelude.sh")
	if err != nil {
		return nil, err
	}
	kinds := map[string]string{} // script kind -> body file
	for _, k := range s.scripts {
		kinds[k] = k + ".sh"
		if format == "apk" {
			switch k {
			case preInstall:
				kinds[preUpgrade] = k + ".sh"
			case postInstall:
				kinds[postUpgrade] = k + ".sh"
			}
		}
	}
	out := map[string]string{}
	for kind, bodyName := range kinds {
		body, err := fs.ReadFile(packaging.Linux, path.Join("linux", s.dir, bodyName))
		if err != nil {
			return nil, err
		}
		script := strings.NewReplacer(
			"@PACKAGE@", s.name,
			"@FORMAT@", format,
			"@SCRIPT@", kind,
			"@DIR@", s.dir,
			"@BODY@", bodyName,
		).Replace(string(prelude)) + string(body)
		p := filepath.Join(stage, kind)
		if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
			return nil, err
		}
		out[kind] = p
	}
	return out, nil
}
