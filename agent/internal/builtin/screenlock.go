package builtin

import (
	"context"
	"strconv"
	"strings"
)

// screenlockTable is a Fleetproof extension table: Linux desktop screen
// lock policy, one system-wide row per desktop (username ”) plus per-user
// rows where a user's own configuration can be read.
var screenlockTable = &tableDef{
	name: "fleetproof_screenlock",
	columns: cols("username TEXT", "desktop TEXT", "lock_enabled INTEGER", "idle_timeout_seconds INTEGER",
		"lock_delay_seconds INTEGER", "source TEXT"),
	gen: genScreenlock,
}

type lockPolicy struct {
	lockEnabled bool
	idle, delay int64
	sources     []string
}

func (p lockPolicy) row(user, desktop string) row {
	src := strings.Join(p.sources, ",")
	if src == "" {
		src = "defaults"
	}
	return row{"username": user, "desktop": desktop, "lock_enabled": boolInt(p.lockEnabled),
		"idle_timeout_seconds": p.idle, "lock_delay_seconds": p.delay, "source": src}
}

func genScreenlock(_ context.Context, e *Engine) ([]row, error) {
	var rows []row
	if r, ok := e.gnomeScreenlock(); ok {
		rows = append(rows, r)
	}
	kde, err := e.kdeScreenlock()
	if err != nil {
		return nil, err
	}
	return append(rows, kde...), nil
}

// gnomeSettings accumulates the four GSettings keys that decide locking.
type gnomeSettings struct {
	idle, delay              int64
	lockEnabled, disableLock bool
	sources                  []string
}

// apply takes the keys present in one keyfile. group maps a schema id to
// the group names that carry it in that file: schema ids, plus
// desktop-qualified variants (":ubuntu"), in gschema.override files, and
// paths ("org/gnome/desktop/session") in dconf keyfiles.
func (g *gnomeSettings) apply(kf keyfile, source string, group func(schema string) []string) {
	touched := false
	for _, grp := range group("org.gnome.desktop.session") {
		if v, ok := kf.get(grp, "idle-delay"); ok {
			if n, ok := parseGVariantInt(v); ok {
				g.idle, touched = n, true
			}
		}
	}
	for _, grp := range group("org.gnome.desktop.screensaver") {
		if v, ok := kf.get(grp, "lock-enabled"); ok {
			if b, ok := parseBoolish(v); ok {
				g.lockEnabled, touched = b, true
			}
		}
		if v, ok := kf.get(grp, "lock-delay"); ok {
			if n, ok := parseGVariantInt(v); ok {
				g.delay, touched = n, true
			}
		}
	}
	for _, grp := range group("org.gnome.desktop.lockdown") {
		if v, ok := kf.get(grp, "disable-lock-screen"); ok {
			if b, ok := parseBoolish(v); ok {
				g.disableLock, touched = b, true
			}
		}
	}
	if touched {
		g.sources = append(g.sources, source)
	}
}

// parseGVariantInt reads GVariant text integers: "900", "uint32 900".
func parseGVariantInt(v string) (int64, bool) {
	f := strings.Fields(v)
	if len(f) == 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(f[len(f)-1], 10, 64)
	return n, err == nil
}

// gnomeScreenlock reports the system-wide GNOME policy when GNOME is
// installed (the screensaver schema plus gnome-shell or gnome-session):
// schema defaults (idle-delay 300, lock-enabled true, lock-delay 0),
// vendor gschema.override files, then the system dconf databases the
// "user" dconf profile names. Per-user values live in the binary GVDB file
// ~/.config/dconf/user and are not read. Keyfiles are read as sources,
// assuming `dconf update` has compiled them.
func (e *Engine) gnomeScreenlock() (row, bool) {
	const schemas = "/usr/share/glib-2.0/schemas/"
	// The schema alone is not a desktop: gsettings-desktop-schemas is a
	// dependency of many server packages (Debian 12 minimal hosts have it),
	// and reporting a lock policy there would be false evidence.
	if !e.fs.exists(schemas+"org.gnome.desktop.screensaver.gschema.xml") ||
		!e.fs.exists("/usr/bin/gnome-shell") && !e.fs.exists("/usr/bin/gnome-session") {
		return nil, false
	}
	g := gnomeSettings{idle: 300, lockEnabled: true}
	for _, f := range e.fs.glob(schemas + "*.gschema.override") {
		b, err := e.fs.read(f)
		if err != nil {
			continue
		}
		g.apply(parseKeyfile(b), f, func(s string) []string { return []string{s, s + ":GNOME", s + ":ubuntu"} })
	}
	dbs := e.dconfSystemDBs()
	// The profile lists databases highest priority first.
	for i := len(dbs) - 1; i >= 0; i-- {
		dir := "/etc/dconf/db/" + dbs[i] + ".d"
		for _, name := range e.fs.list(dir) {
			f := dir + "/" + name
			if strings.HasPrefix(name, ".") || name == "locks" {
				continue
			}
			b, err := e.fs.read(f)
			if err != nil {
				continue
			}
			g.apply(parseKeyfile(dconfGroups(b)), f, func(s string) []string {
				return []string{strings.ReplaceAll(s, ".", "/")}
			})
		}
	}
	p := lockPolicy{lockEnabled: g.lockEnabled && !g.disableLock, idle: g.idle, delay: g.delay, sources: g.sources}
	return p.row("", "gnome"), true
}

// dconfGroups normalises "[/org/gnome/x/]" group headers to "[org/gnome/x]".
func dconfGroups(b []byte) []byte {
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, "[") && strings.HasSuffix(t, "]") {
			lines[i] = "[" + strings.Trim(t[1:len(t)-1], "/") + "]"
		}
	}
	return []byte(strings.Join(lines, "\n"))
}

// dconfSystemDBs returns the system-db names of the "user" dconf profile
// (/etc/dconf/profile/user, else /usr/share/dconf/profile/user). Without
// a profile dconf reads only the user's own database, so system keyfiles
// do not apply and none are returned.
func (e *Engine) dconfSystemDBs() []string {
	for _, p := range []string{"/etc/dconf/profile/user", "/usr/share/dconf/profile/user"} {
		b, err := e.fs.read(p)
		if err != nil {
			continue
		}
		return parseDconfProfile(b)
	}
	return nil
}

func parseDconfProfile(b []byte) []string {
	var dbs []string
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if name, ok := strings.CutPrefix(line, "system-db:"); ok && name != "" && !strings.Contains(name, "/") {
			dbs = append(dbs, name)
		}
	}
	return dbs
}
