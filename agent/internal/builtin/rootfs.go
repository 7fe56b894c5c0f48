package builtin

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// rootFS reads host paths beneath a root directory. Every table reader
// goes through it so that tests can run against fake trees in testdata.
// Paths are host-absolute ("/etc/os-release").
type rootFS struct{ root string }

func (r rootFS) live() bool { return r.root == "/" }

func (r rootFS) abs(p string) string { return filepath.Join(r.root, filepath.FromSlash(p)) }

// resolved is the real path of p for opening. On a fake root, symlinks are
// followed inside the root, so that absolute targets (systemd wants/ links,
// /proc/<pid>/exe) cannot escape into the test machine's filesystem.
func (r rootFS) resolved(p string) string {
	if r.live() {
		return p
	}
	if rp, ok := r.realpath(p); ok {
		return r.abs(rp)
	}
	return r.abs(p)
}

// maxFileSize bounds reads; every file read here is a small text file, and
// a huge one (a corrupt dpkg database) must not exhaust the agent's memory.
const maxFileSize = 64 << 20

func (r rootFS) read(p string) ([]byte, error) {
	f, err := os.Open(r.resolved(p))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxFileSize))
}

// readString returns the trimmed file content, "" when it cannot be read;
// for optional sysfs attributes absence is normal, not an error.
func (r rootFS) readString(p string) string {
	b, err := r.read(p)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// readHead reads at most n bytes, for binary headers of block devices.
func (r rootFS) readHead(p string, n int) ([]byte, error) {
	f, err := os.Open(r.resolved(p))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, n)
	m, err := io.ReadFull(f, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return buf[:m], nil
}

func (r rootFS) exists(p string) bool {
	_, err := os.Stat(r.resolved(p))
	return err == nil
}

func (r rootFS) readlink(p string) string {
	s, err := os.Readlink(filepath.Join(r.resolved(path.Dir(p)), path.Base(p)))
	if err != nil {
		return ""
	}
	return s
}

// list returns the sorted entry names of a directory, nil if unreadable.
func (r rootFS) list(p string) []string {
	ents, err := os.ReadDir(r.resolved(p))
	if err != nil {
		return nil
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

// glob matches a host-absolute pattern and returns host-absolute paths.
func (r rootFS) glob(pattern string) []string {
	matches, _ := filepath.Glob(r.abs(pattern))
	out := make([]string, 0, len(matches))
	for _, m := range matches {
		rel, err := filepath.Rel(r.root, m)
		if err != nil {
			continue
		}
		out = append(out, "/"+filepath.ToSlash(rel))
	}
	sort.Strings(out)
	return out
}

// realpath resolves p like realpath(3) but with absolute symlink targets
// interpreted inside the root (a chroot view), so that /dev/mapper/vg-root
// -> ../dm-1 resolves the same way in a fake tree and on the live host.
// ok is false if some component does not exist.
func (r rootFS) realpath(p string) (string, bool) {
	if !strings.HasPrefix(p, "/") {
		return "", false
	}
	pending := strings.Split(strings.TrimPrefix(path.Clean(p), "/"), "/")
	resolved := "/"
	for hops := 0; len(pending) > 0; {
		comp := pending[0]
		pending = pending[1:]
		switch comp {
		case "", ".":
			continue
		case "..":
			resolved = path.Dir(resolved)
			continue
		}
		next := path.Join(resolved, comp)
		fi, err := os.Lstat(r.abs(next))
		if err != nil {
			return "", false
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			resolved = next
			continue
		}
		if hops++; hops > 40 { // ELOOP, as the kernel limits it
			return "", false
		}
		target, err := os.Readlink(r.abs(next))
		if err != nil {
			return "", false
		}
		if strings.HasPrefix(target, "/") {
			resolved = "/"
		}
		pending = append(strings.Split(target, "/"), pending...)
	}
	return resolved, true
}
