package builtin

import (
	"reflect"
	"testing"
)

func TestAptAutoUpdatesFromConfSets(t *testing.T) {
	tests := []struct {
		set  string
		want map[string]string
	}{
		{"ubuntu-default", map[string]string{"installed": "1", "enabled": "1", "update_package_lists": "1",
			"config_source": "/etc/apt/apt.conf.d/20auto-upgrades"}},
		{"disabled-later", map[string]string{"installed": "1", "enabled": "0", "update_package_lists": "1",
			"config_source": "/etc/apt/apt.conf.d/99-compliance-off"}},
		{"nested-comments", map[string]string{"installed": "1", "enabled": "1", "update_package_lists": "1",
			"config_source": "/etc/apt/apt.conf.d/20auto-upgrades"}},
		{"periodic-off", map[string]string{"installed": "1", "enabled": "0", "update_package_lists": "0"}},
		{"cleared", map[string]string{"installed": "1", "enabled": "0", "update_package_lists": "1", "config_source": ""}},
		{"not-installed", map[string]string{"installed": "0", "enabled": "0", "update_package_lists": "1"}},
		{"unconfigured", map[string]string{"installed": "0", "enabled": "0", "update_package_lists": "0", "config_source": ""}},
	}
	for _, tt := range tests {
		t.Run(tt.set, func(t *testing.T) {
			rows := mustQuery(t, newTestEngine(t, "testdata/apt/"+tt.set), "SELECT * FROM fleetproof_auto_updates")
			if len(rows) != 1 || rows[0]["manager"] != "apt" {
				t.Fatalf("got %v, want one apt row", rows)
			}
			assertRow(t, tt.set, rows[0], tt.want)
		})
	}
}

func TestAutoUpdatesUsesDpkgForInstalledState(t *testing.T) {
	rows := mustQuery(t, newTestEngine(t, luksRoot), "SELECT * FROM fleetproof_auto_updates")
	want := []map[string]string{{"manager": "apt", "installed": "1", "enabled": "1", "update_package_lists": "1",
		"config_source": "/etc/apt/apt.conf.d/20auto-upgrades"}}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("got %v", rows)
	}
}

func TestDnfAndYumAutoUpdates(t *testing.T) {
	const applyYes = "[commands]\napply_updates = yes\n"
	const unit = "[Timer]\nOnCalendar=daily\n"
	tests := []struct {
		name  string
		files map[string]string
		want  []map[string]string
	}{
		{"rocky9 fixture: dnf-automatic.timer with apply_updates", nil, []map[string]string{
			{"manager": "dnf", "installed": "1", "enabled": "1", "update_package_lists": "1", "config_source": "/etc/dnf/automatic.conf"}}},
		{"apply_updates without an enabled timer does nothing", map[string]string{
			"usr/bin/dnf": "", "etc/dnf/automatic.conf": applyYes,
		}, []map[string]string{{"manager": "dnf", "installed": "1", "enabled": "0", "update_package_lists": "0", "config_source": "/etc/dnf/automatic.conf"}}},
		{"timer with apply_updates = no only refreshes", map[string]string{
			"usr/bin/dnf": "", "etc/dnf/automatic.conf": "[commands]\napply_updates = no\n",
			"usr/lib/systemd/system/dnf-automatic.timer":                 unit,
			"etc/systemd/system/timers.target.wants/dnf-automatic.timer": "->/usr/lib/systemd/system/dnf-automatic.timer",
		}, []map[string]string{{"manager": "dnf", "installed": "1", "enabled": "0", "update_package_lists": "1"}}},
		{"install timer applies regardless of the config", map[string]string{
			"usr/bin/dnf": "", "etc/dnf/automatic.conf": "[commands]\n",
			"usr/lib/systemd/system/dnf-automatic-install.timer":                 unit,
			"etc/systemd/system/timers.target.wants/dnf-automatic-install.timer": "->/usr/lib/systemd/system/dnf-automatic-install.timer",
		}, []map[string]string{{"manager": "dnf", "installed": "1", "enabled": "1", "update_package_lists": "1"}}},
		{"dangling timer link enables nothing", map[string]string{
			"usr/bin/dnf": "", "etc/dnf/automatic.conf": applyYes,
			"etc/systemd/system/timers.target.wants/dnf-automatic.timer": "->/usr/lib/systemd/system/dnf-automatic.timer",
		}, []map[string]string{{"manager": "dnf", "installed": "1", "enabled": "0", "update_package_lists": "0"}}},
		{"dnf5 defaults file and timer", map[string]string{
			"usr/bin/dnf5": "", "usr/share/dnf5/dnf5-plugins/automatic.conf": "[commands]\napply_updates = false\n",
			"etc/dnf/automatic.conf":                                      "[commands]\napply_updates = True\n",
			"usr/lib/systemd/system/dnf5-automatic.timer":                 unit,
			"etc/systemd/system/timers.target.wants/dnf5-automatic.timer": "->../../../../usr/lib/systemd/system/dnf5-automatic.timer",
		}, []map[string]string{{"manager": "dnf", "installed": "1", "enabled": "1", "update_package_lists": "1", "config_source": "/etc/dnf/automatic.conf"}}},
		{"dnf without dnf-automatic", map[string]string{"usr/bin/dnf": ""},
			[]map[string]string{{"manager": "dnf", "installed": "0", "enabled": "0", "update_package_lists": "0", "config_source": ""}}},
		{"EL7 yum-cron enabled and applying", map[string]string{
			"usr/bin/yum": "", "usr/sbin/yum-cron": "", "etc/yum/yum-cron.conf": "[commands]\nupdate_cmd = default\napply_updates = yes\n",
			"usr/lib/systemd/system/yum-cron.service":                     "[Service]\n",
			"etc/systemd/system/multi-user.target.wants/yum-cron.service": "->/usr/lib/systemd/system/yum-cron.service",
		}, []map[string]string{{"manager": "yum", "installed": "1", "enabled": "1", "update_package_lists": "1", "config_source": "/etc/yum/yum-cron.conf"}}},
		{"EL7 yum-cron installed but service not enabled", map[string]string{
			"usr/bin/yum": "", "etc/yum/yum-cron.conf": "[commands]\napply_updates = yes\n",
		}, []map[string]string{{"manager": "yum", "installed": "1", "enabled": "0", "update_package_lists": "0"}}},
		{"no package manager", map[string]string{"etc/hostname": "x\n"}, []map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := rockyRoot
			if tt.files != nil {
				root = writeTree(t, tt.files)
			}
			rows := mustQuery(t, newTestEngine(t, root), "SELECT * FROM fleetproof_auto_updates")
			if len(rows) != len(tt.want) {
				t.Fatalf("got %v, want %v", rows, tt.want)
			}
			for i := range rows {
				assertRow(t, tt.name, rows[i], tt.want[i])
			}
		})
	}
}

func TestScreenlockRowsOnDesktopRoot(t *testing.T) {
	rows := mustQuery(t, newTestEngine(t, luksRoot), "SELECT * FROM fleetproof_screenlock ORDER BY desktop, username")
	want := []map[string]string{
		// dconf local db (named by the user profile) beats the Ubuntu override;
		// the gdm db is not in the profile and is ignored.
		{"username": "", "desktop": "gnome", "lock_enabled": "1", "idle_timeout_seconds": "900", "lock_delay_seconds": "0",
			"source": "/usr/share/glib-2.0/schemas/10_ubuntu-settings.gschema.override,/etc/dconf/db/local.d/00-screensaver"},
		{"username": "", "desktop": "kde", "lock_enabled": "1", "idle_timeout_seconds": "600", "lock_delay_seconds": "0",
			"source": "/etc/xdg/kscreenlockerrc"},
		// alice's LockGrace=60 loses to the system's immutable LockGrace[$i]=0.
		{"username": "alice", "desktop": "kde", "lock_enabled": "1", "idle_timeout_seconds": "1800", "lock_delay_seconds": "0",
			"source": "/etc/xdg/kscreenlockerrc,/home/alice/.config/kscreenlockerrc"},
		{"username": "bob", "desktop": "kde", "lock_enabled": "0", "idle_timeout_seconds": "0", "lock_delay_seconds": "0",
			"source": "/etc/xdg/kscreenlockerrc,/home/bob/.config/kscreenlockerrc"},
	}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("got\n%v\nwant\n%v", rows, want)
	}
}

func TestGnomeScreenlockPolicies(t *testing.T) {
	base := map[string]string{
		"usr/bin/gnome-shell": "",
		"usr/share/glib-2.0/schemas/org.gnome.desktop.screensaver.gschema.xml": "<schemalist/>",
	}
	with := func(extra map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range base {
			out[k] = v
		}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}
	profile := map[string]string{"etc/dconf/profile/user": "user-db:user\nsystem-db:local\nsystem-db:site\n"}
	tests := []struct {
		name  string
		files map[string]string
		want  map[string]string // nil: no GNOME row
	}{
		{"schema defaults", base, map[string]string{"lock_enabled": "1", "idle_timeout_seconds": "300", "lock_delay_seconds": "0", "source": "defaults"}},
		{"schema without a GNOME session is a server, not a desktop", map[string]string{
			"usr/share/glib-2.0/schemas/org.gnome.desktop.screensaver.gschema.xml": "<schemalist/>"}, nil},
		{"lockdown disables the lock screen", with(map[string]string{
			"etc/dconf/profile/user":           "system-db:local\n",
			"etc/dconf/db/local.d/90-lockdown": "[org/gnome/desktop/lockdown]\ndisable-lock-screen=true\n",
		}), map[string]string{"lock_enabled": "0", "idle_timeout_seconds": "300"}},
		{"lock-enabled=false and idle-delay 0 (never)", with(map[string]string{
			"etc/dconf/profile/user":  "system-db:local\n",
			"etc/dconf/db/local.d/00": "[/org/gnome/desktop/session/]\nidle-delay=uint32 0\n[org/gnome/desktop/screensaver]\nlock-enabled=false\nlock-delay=uint32 5\n",
		}), map[string]string{"lock_enabled": "0", "idle_timeout_seconds": "0", "lock_delay_seconds": "5"}},
		{"keyfiles without a dconf profile are not in effect", with(map[string]string{
			"etc/dconf/db/local.d/00": "[org/gnome/desktop/session]\nidle-delay=uint32 60\n",
		}), map[string]string{"idle_timeout_seconds": "300", "source": "defaults"}},
		{"first db in the profile wins; later keyfile wins within a db", with(map[string]string{
			"etc/dconf/profile/user":  profile["etc/dconf/profile/user"],
			"etc/dconf/db/site.d/00":  "[org/gnome/desktop/session]\nidle-delay=uint32 1200\n[org/gnome/desktop/screensaver]\nlock-delay=uint32 60\n",
			"etc/dconf/db/local.d/00": "[org/gnome/desktop/session]\nidle-delay=uint32 600\n",
			"etc/dconf/db/local.d/10": "[org/gnome/desktop/session]\nidle-delay=uint32 900\n",
		}), map[string]string{"idle_timeout_seconds": "900", "lock_delay_seconds": "60",
			"source": "/etc/dconf/db/site.d/00,/etc/dconf/db/local.d/00,/etc/dconf/db/local.d/10"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows := mustQuery(t, newTestEngine(t, writeTree(t, tt.files)), "SELECT * FROM fleetproof_screenlock WHERE desktop = 'gnome'")
			if tt.want == nil {
				if len(rows) != 0 {
					t.Fatalf("got %v, want no rows", rows)
				}
				return
			}
			if len(rows) != 1 {
				t.Fatalf("got %v, want one row", rows)
			}
			assertRow(t, tt.name, rows[0], tt.want)
		})
	}
}

func TestKDEScreenlockDefaultsAndClamps(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  []map[string]string
	}{
		{"greeter installed, no config: KDE defaults", map[string]string{
			"usr/lib/x86_64-linux-gnu/libexec/kscreenlocker_greet": ""},
			[]map[string]string{{"username": "", "lock_enabled": "1", "idle_timeout_seconds": "300", "lock_delay_seconds": "5", "source": "defaults"}}},
		{"out-of-range values are clamped like KConfigXT", map[string]string{
			"etc/xdg/kscreenlockerrc": "[Daemon]\nTimeout=0\nLockGrace=9999\nLock=false\n"},
			[]map[string]string{{"username": "", "lock_enabled": "0", "idle_timeout_seconds": "60", "lock_delay_seconds": "300"}}},
		{"user file without Daemon keys keeps system values", map[string]string{
			"etc/xdg/kscreenlockerrc":            "[Daemon]\nTimeout=15\n",
			"etc/passwd":                         "carol:x:1002:1002::/home/carol:/bin/bash\nnohome:x:1003:1003:::/bin/sh\n",
			"home/carol/.config/kscreenlockerrc": "[Greeter]\nTheme=x\n"},
			[]map[string]string{
				{"username": "", "idle_timeout_seconds": "900"},
				{"username": "carol", "idle_timeout_seconds": "900", "source": "/etc/xdg/kscreenlockerrc"}}},
		{"no KDE", map[string]string{"etc/passwd": "root:x:0:0::/root:/bin/sh\n"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows := mustQuery(t, newTestEngine(t, writeTree(t, tt.files)), "SELECT * FROM fleetproof_screenlock WHERE desktop = 'kde' ORDER BY username")
			if len(rows) != len(tt.want) {
				t.Fatalf("got %v, want %v", rows, tt.want)
			}
			for i := range rows {
				assertRow(t, tt.name, rows[i], tt.want[i])
			}
		})
	}
}

func TestScreenlockAbsentWithoutDesktop(t *testing.T) {
	if rows := mustQuery(t, newTestEngine(t, rockyRoot), "SELECT * FROM fleetproof_screenlock"); len(rows) != 0 {
		t.Errorf("server root: got %v", rows)
	}
}
