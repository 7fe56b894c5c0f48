package builtin

import (
	"strconv"
)

// kscreenlocker_greet is what the KDE locker runs; its presence means the
// locker is installed even when no system configuration file exists.
var kdeGreeterGlobs = []string{
	"/usr/libexec/kscreenlocker_greet",
	"/usr/lib/*/libexec/kscreenlocker_greet",
	"/usr/lib/libexec/kscreenlocker_greet",
	"/usr/lib64/libexec/kscreenlocker_greet",
	"/usr/lib/kscreenlocker_greet",
}

const kdeSystemRC = "/etc/xdg/kscreenlockerrc"

// kdeLock holds [Daemon] values of kscreenlockerrc.
type kdeLock struct {
	autolock, lock bool
	timeoutMin     int64
	graceSec       int64
}

var kdeDefaults = kdeLock{autolock: true, lock: true, timeoutMin: 5, graceSec: 5}

// applyKDE overlays one kscreenlockerrc. locked reports keys the system
// file marked immutable ([$i]), which user files cannot override, as
// KConfig enforces.
func (k *kdeLock) apply(kf keyfile, locked func(key string) bool) bool {
	touched := false
	set := func(key string, fn func(string) bool) {
		if locked != nil && locked(key) {
			return
		}
		if v, ok := kf.get("Daemon", key); ok && fn(v) {
			touched = true
		}
	}
	set("Autolock", func(v string) bool { b, ok := parseBoolish(v); k.autolock = pick(ok, b, k.autolock); return ok })
	set("Lock", func(v string) bool { b, ok := parseBoolish(v); k.lock = pick(ok, b, k.lock); return ok })
	set("Timeout", func(v string) bool {
		n, err := strconv.ParseInt(v, 10, 64)
		if err == nil {
			k.timeoutMin = max(n, 1) // the KConfigXT schema's minimum
		}
		return err == nil
	})
	set("LockGrace", func(v string) bool {
		n, err := strconv.ParseInt(v, 10, 64)
		if err == nil {
			k.graceSec = min(max(n, 0), 300)
		}
		return err == nil
	})
	return touched
}

func pick[T any](ok bool, v, old T) T {
	if ok {
		return v
	}
	return old
}

// policy: the screen locks automatically when Autolock is on and locking
// is required (Lock); Timeout is minutes of idle, LockGrace the seconds
// during which it can be dismissed without a password.
func (k kdeLock) policy(sources []string) lockPolicy {
	p := lockPolicy{lockEnabled: k.autolock && k.lock, delay: k.graceSec, sources: sources}
	if k.autolock {
		p.idle = k.timeoutMin * 60
	}
	return p
}

// kdeScreenlock returns the system row (defaults overlaid with
// /etc/xdg/kscreenlockerrc) and one row per passwd user whose home has
// ~/.config/kscreenlockerrc. XDG_CONFIG_HOME overrides are not seen.
func (e *Engine) kdeScreenlock() ([]row, error) {
	present := e.fs.exists(kdeSystemRC)
	for _, g := range kdeGreeterGlobs {
		present = present || len(e.fs.glob(g)) > 0
	}
	if !present {
		return nil, nil
	}
	system := kdeDefaults
	var sysKF keyfile
	var sysSources []string
	if b, err := e.fs.read(kdeSystemRC); err == nil {
		sysKF = parseKeyfile(b)
		if system.apply(sysKF, nil) {
			sysSources = []string{kdeSystemRC}
		}
	}
	rows := []row{system.policy(sysSources).row("", "kde")}

	users, err := e.passwd()
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, u := range users {
		f := u.home + "/.config/kscreenlockerrc"
		if u.home == "" || u.home == "/" || seen[f] {
			continue
		}
		b, err := e.fs.read(f)
		if err != nil {
			continue
		}
		seen[f] = true
		k := system
		srcs := append([]string{}, sysSources...)
		if k.apply(parseKeyfile(b), func(key string) bool { return sysKF.groups != nil && sysKF.isImmutable("Daemon", key) }) {
			srcs = append(srcs, f)
		}
		rows = append(rows, k.policy(srcs).row(u.username, "kde"))
	}
	return rows, nil
}
