package builtin

import (
	"context"
	"path"
	"strings"
)

// autoUpdatesTable is a Fleetproof extension table (osquery has none):
// whether the host's package manager installs updates unattended.
var autoUpdatesTable = &tableDef{
	name: "fleetproof_auto_updates",
	columns: cols("manager TEXT", "installed INTEGER", "enabled INTEGER", "update_package_lists INTEGER",
		"config_source TEXT"),
	gen: genAutoUpdates,
}

func genAutoUpdates(_ context.Context, e *Engine) ([]row, error) {
	var rows []row
	for _, gen := range []func() (row, bool){e.aptAutoUpdates, e.dnfAutoUpdates, e.yumAutoUpdates} {
		if r, ok := gen(); ok {
			rows = append(rows, r)
		}
	}
	return rows, nil
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

type aptValue struct{ value, source string }

// aptConfig layers apt's configuration the way apt reads it: the parts in
// /etc/apt/apt.conf.d in lexical order, then /etc/apt/apt.conf; later
// assignments win. APT_CONFIG and Dir::Etc overrides are not honoured.
func (e *Engine) aptConfig() map[string]aptValue {
	cfg := map[string]aptValue{}
	var files []string
	for _, name := range e.fs.list("/etc/apt/apt.conf.d") {
		if aptConfPartValid(name) {
			files = append(files, "/etc/apt/apt.conf.d/"+name)
		}
	}
	files = append(files, "/etc/apt/apt.conf")
	for _, f := range files {
		b, err := e.fs.read(f)
		if err != nil {
			continue
		}
		for _, s := range parseAptConf(b) {
			if s.clear {
				for k := range cfg {
					if k == s.key || strings.HasPrefix(k, s.key+"::") {
						delete(cfg, k)
					}
				}
				continue
			}
			cfg[s.key] = aptValue{value: s.value, source: f}
		}
	}
	return cfg
}

// aptAutoUpdates: unattended-upgrades runs from apt-daily-upgrade.timer
// when APT::Periodic::Unattended-Upgrade is a non-zero interval (and
// APT::Periodic::Enable is not "0", which apt.systemd.daily honours).
// The timer itself is enabled by default on Debian/Ubuntu and not checked.
func (e *Engine) aptAutoUpdates() (row, bool) {
	if !e.fs.exists("/usr/bin/apt-get") && !e.fs.exists("/etc/apt") {
		return nil, false
	}
	installed := e.debInstalled("unattended-upgrades") || e.fs.exists("/usr/bin/unattended-upgrade")
	cfg := e.aptConfig()
	on := func(key string) bool {
		v, ok := cfg[key]
		return ok && strings.TrimSpace(v.value) != "" && strings.TrimSpace(v.value) != "0"
	}
	periodic := cfg["apt::periodic::enable"].value != "0"
	uu := cfg["apt::periodic::unattended-upgrade"]
	return row{
		"manager": "apt", "installed": boolInt(installed),
		"enabled":              boolInt(installed && periodic && on("apt::periodic::unattended-upgrade")),
		"update_package_lists": boolInt(periodic && on("apt::periodic::update-package-lists")),
		"config_source":        uu.source,
	}, true
}

const timerWants = "/etc/systemd/system/timers.target.wants/"

// dnfAutoUpdates: dnf-automatic applies updates when dnf-automatic.timer
// (dnf5: dnf5-automatic.timer) is enabled and [commands] apply_updates is
// true, or when dnf-automatic-install.timer is enabled regardless of it.
// The download/notify-only timers refresh metadata without installing.
// "Enabled" means linked into timers.target.wants under /etc.
func (e *Engine) dnfAutoUpdates() (row, bool) {
	if !e.fs.exists("/usr/bin/dnf") && !e.fs.exists("/usr/bin/dnf5") && !e.fs.exists("/etc/dnf") {
		return nil, false
	}
	const conf, dnf5Defaults = "/etc/dnf/automatic.conf", "/usr/share/dnf5/dnf5-plugins/automatic.conf"
	installed := e.fs.exists(conf) || e.fs.exists("/usr/bin/dnf-automatic") ||
		e.fs.exists("/usr/lib/systemd/system/dnf-automatic.timer") ||
		e.fs.exists("/usr/lib/systemd/system/dnf5-automatic.timer")
	apply, source := false, ""
	for _, f := range []string{dnf5Defaults, conf} {
		b, err := e.fs.read(f)
		if err != nil {
			continue
		}
		source = f
		if v, ok := parseKeyfile(b).getFold("commands", "apply_updates"); ok {
			apply, _ = parseBoolish(v)
		}
	}
	var anyTimer, applyTimer bool
	for _, t := range e.fs.glob(timerWants + "dnf*-automatic*.timer") {
		if !e.fs.exists(t) {
			continue // a dangling link enables nothing
		}
		anyTimer = true
		switch path.Base(t) {
		case "dnf-automatic-install.timer":
			applyTimer = true
		case "dnf-automatic.timer", "dnf5-automatic.timer":
			applyTimer = applyTimer || apply
		}
	}
	return row{
		"manager": "dnf", "installed": boolInt(installed),
		"enabled":              boolInt(installed && applyTimer),
		"update_package_lists": boolInt(installed && anyTimer),
		"config_source":        source,
	}, true
}

// yumAutoUpdates covers EL7's yum-cron: apply_updates in
// /etc/yum/yum-cron.conf, and the yum-cron service enabled (its daily cron
// job does nothing unless the service has been started). Hosts where yum
// is dnf in disguise (EL8+) get a dnf row instead.
func (e *Engine) yumAutoUpdates() (row, bool) {
	const conf = "/etc/yum/yum-cron.conf"
	hasConf := e.fs.exists(conf)
	if !hasConf && (!e.fs.exists("/usr/bin/yum") || e.fs.exists("/usr/bin/dnf")) {
		return nil, false
	}
	installed := hasConf || e.fs.exists("/usr/sbin/yum-cron")
	apply, source := false, ""
	if b, err := e.fs.read(conf); err == nil {
		source = conf
		if v, ok := parseKeyfile(b).getFold("commands", "apply_updates"); ok {
			apply, _ = parseBoolish(v)
		}
	}
	service := e.fs.exists("/etc/systemd/system/multi-user.target.wants/yum-cron.service")
	return row{
		"manager": "yum", "installed": boolInt(installed),
		"enabled":              boolInt(installed && apply && service),
		"update_package_lists": boolInt(installed && service),
		"config_source":        source,
	}, true
}
