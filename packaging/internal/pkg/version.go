package pkg

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Version is a build version split the way package managers compare
// versions. Make passes "git describe --tags --always --dirty", so besides
// release tags (v1.2.3, v1.2.3-rc.1) it must order builds between tags
// (v1.2.3-4-gabc123, after 1.2.3) and untagged ones (abc123-dirty, before
// any release).
type Version struct {
	Base    string // 1.2.3
	Pre     string // prerelease: "rc.1", "dev"; sorts before Base
	Commits int    // commits after the tag; sorts after Base
	Hash    string // abbreviated commit
	Dirty   bool   // built from a modified tree
}

var (
	// v1.2.3-4-gabc1234[-dirty], and v1.2.3-rc.1-4-gabc1234[-dirty]
	describeRe = regexp.MustCompile(`^(\d+\.\d+\.\d+)(?:-([0-9A-Za-z.]+))?-(\d+)-g([0-9a-f]{4,40})(-dirty)?$`)
	// 1.2.3, 1.2.3-rc.1, 1.2.3+build.5, 1.2.3-dirty
	semverRe = regexp.MustCompile(`^(\d+\.\d+\.\d+)(?:-([0-9A-Za-z.-]+))?(?:\+([0-9A-Za-z.-]+))?$`)
	// abc1234[-dirty]: no tag reachable
	hashRe   = regexp.MustCompile(`^([0-9a-f]{4,40})(-dirty)?$`)
	unsafeRe = regexp.MustCompile(`[^0-9A-Za-z.]+`)
)

// ParseVersion reads a release tag, a git describe string or a bare commit.
// Anything else ("dev", "") is an unreleased 0.0.0 build.
func ParseVersion(s string) (Version, error) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "v")
	if m := describeRe.FindStringSubmatch(s); m != nil {
		n, err := strconv.Atoi(m[3])
		if err != nil {
			return Version{}, fmt.Errorf("version %q: %w", s, err)
		}
		return Version{Base: m[1], Pre: m[2], Commits: n, Hash: m[4], Dirty: m[5] != ""}, nil
	}
	if m := semverRe.FindStringSubmatch(s); m != nil {
		v := Version{Base: m[1], Pre: m[2]}
		if strings.HasSuffix(v.Pre, "dirty") {
			v.Dirty = true
			v.Pre = strings.TrimSuffix(strings.TrimSuffix(v.Pre, "dirty"), "-")
		}
		v.Pre = sanitize(v.Pre)
		if m[3] != "" {
			// Build metadata does not order; keep it as the "hash" so it
			// stays visible in the deb/rpm version.
			v.Hash = sanitize(m[3])
		}
		return v, nil
	}
	if m := hashRe.FindStringSubmatch(s); m != nil {
		return Version{Base: "0.0.0", Pre: "dev", Hash: m[1], Dirty: m[2] != ""}, nil
	}
	if s == "" || strings.Contains(s, "dev") {
		return Version{Base: "0.0.0", Pre: "dev"}, nil
	}
	return Version{}, fmt.Errorf("version %q: want a tag (1.2.3, v1.2.3-rc.1), git describe output (v1.2.3-4-gabc1234-dirty) or a commit hash", s)
}

// sanitize keeps the characters every format accepts in a version part.
// A '-' would end the upstream version in deb and rpm versions.
func sanitize(s string) string {
	return strings.Trim(unsafeRe.ReplaceAllString(s, "."), ".")
}

// metadata is the part after '+' in deb and rpm versions: "git4.abc1234",
// ".dirty" appended. Both formats sort "1.2.3+git4..." after "1.2.3".
func (v Version) metadata() string {
	var parts []string
	if v.Commits > 0 || (v.Hash != "" && v.Pre == "dev") {
		parts = append(parts, "git"+strconv.Itoa(v.Commits))
	}
	if v.Hash != "" {
		parts = append(parts, v.Hash)
	}
	if v.Dirty {
		parts = append(parts, "dirty")
	}
	return strings.Join(parts, ".")
}

// String is the deb and rpm version: 1.2.3, 1.2.3~rc.1, 1.2.3+git4.abc1234,
// 0.0.0~dev+git0.abc1234.dirty. '~' sorts before anything in both.
func (v Version) String() string {
	s := v.Base
	if v.Pre != "" {
		s += "~" + v.Pre
	}
	if m := v.metadata(); m != "" {
		s += "+" + m
	}
	return s
}

var apkPreRe = regexp.MustCompile(`^(alpha|beta|pre|rc)\.?(\d*)$`)

// apkSuffix is the version suffix apk-tools accepts, which is a fixed
// vocabulary: _alpha/_beta/_pre/_rc before the release, _p (patch level)
// after it. Commit hashes have no place in it and are dropped; anything
// else unreleased becomes _pre0.
func (v Version) apkSuffix() string {
	var parts []string
	if v.Pre != "" {
		if m := apkPreRe.FindStringSubmatch(v.Pre); m != nil {
			parts = append(parts, m[1]+m[2])
		} else {
			parts = append(parts, "pre0")
		}
	}
	if v.Commits > 0 {
		parts = append(parts, "p"+strconv.Itoa(v.Commits))
	}
	return strings.Join(parts, "_")
}
