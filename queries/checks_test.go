package queries

import "testing"

// Representative host states for each check: the rows are inserted into the
// osquery schema, the check's SQL runs, and the pass rule decides. This proves
// the SQL's logic, not just its syntax.
func TestChecksOnRepresentativeHosts(t *testing.T) {
	const (
		daysAgo5  = `CAST(strftime('%s','now') AS INTEGER) - 5*86400`
		daysAgo40 = `CAST(strftime('%s','now') AS INTEGER) - 40*86400`
		suPlist   = `'/Library/Preferences/com.apple.SoftwareUpdate.plist'`
		user      = `HKEY_USERS\S-1-5-21-111-222-333-1001`
		userDesk  = user + `\Control Panel\Desktop`
		userPol   = user + `\Software\Policies\Microsoft\Windows\Control Panel\Desktop`
		fwLocal   = `HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services\SharedAccess\Parameters\FirewallPolicy\`
	)
	reg := func(key, name, data string) string {
		return `INSERT INTO registry (key, path, name, data) VALUES ('` + key + `', '` + key + `\` + name + `', '` + name + `', '` + data + `')`
	}
	macSU := func(name, value string) string {
		return `INSERT INTO managed_policies (domain, name, value, username) VALUES ('com.apple.SoftwareUpdate', '` + name + `', '` + value + `', '')`
	}
	allMacSU := []string{macSU("AutomaticCheckEnabled", "1"), macSU("AutomaticDownload", "true"),
		macSU("AutomaticallyInstallMacOSUpdates", "1"), macSU("CriticalUpdateInstall", "1"), macSU("ConfigDataInstall", "1")}
	saver := func(name, value string) string {
		return `INSERT INTO managed_policies (domain, name, value, username) VALUES ('com.apple.screensaver', '` + name + `', '` + value + `', '')`
	}
	goodSaver := []string{saver("idleTime", "600"), saver("askForPassword", "1"), saver("askForPasswordDelay", "0")}

	tests := []struct {
		name, check, goos string
		setup             []string
		want              Outcome
	}{
		{"linux root on LUKS passes", "disk_encryption", "linux", []string{
			`INSERT INTO mounts (device, device_alias, path) VALUES ('/dev/mapper/vg-root', '/dev/dm-1', '/')`,
			`INSERT INTO disk_encryption (name, encrypted, type) VALUES ('/dev/dm-1', 1, 'LUKS2-aes-xts-plain64')`,
		}, Pass},
		{"linux plain root fails", "disk_encryption", "linux", []string{
			`INSERT INTO mounts (device, device_alias, path) VALUES ('/dev/sda2', '/dev/sda2', '/')`,
			`INSERT INTO mounts (device, device_alias, path) VALUES ('/dev/dm-1', '/dev/dm-1', '/home')`,
			`INSERT INTO disk_encryption (name, encrypted, type) VALUES ('/dev/dm-1', 1, 'LUKS2')`,
		}, Fail},
		{"mac FileVault on passes", "disk_encryption", "darwin", []string{
			`INSERT INTO disk_encryption (name, encrypted, filevault_status, user_uuid) VALUES ('/dev/disk3s5', 1, 'on', 'ABC')`,
		}, Pass},
		{"mac APFS encrypted without FileVault fails", "disk_encryption", "darwin", []string{
			`INSERT INTO disk_encryption (name, encrypted, filevault_status, user_uuid) VALUES ('/dev/disk3s5', 1, 'off', '')`,
		}, Fail},
		{"windows BitLocker on passes", "disk_encryption", "windows", []string{
			`INSERT INTO bitlocker_info (drive_letter, protection_status, conversion_status) VALUES ('C:', 1, 1)`,
		}, Pass},
		{"windows BitLocker suspended fails", "disk_encryption", "windows", []string{
			`INSERT INTO bitlocker_info (drive_letter, protection_status, conversion_status) VALUES ('C:', 0, 1)`,
		}, Fail},

		{"mac all update settings managed on passes", "os_auto_updates", "darwin", allMacSU, Pass},
		{"mac conflicting profile fails", "os_auto_updates", "darwin",
			append([]string{macSU("AutomaticDownload", "false")}, allMacSU...), Fail},
		{"mac local plist settings pass", "os_auto_updates", "darwin", []string{
			`INSERT INTO plist (path, key, value) VALUES (` + suPlist + `, 'AutomaticCheckEnabled', 'true'), (` + suPlist + `, 'AutomaticDownload', 'true'),
			(` + suPlist + `, 'AutomaticallyInstallMacOSUpdates', 'true'), (` + suPlist + `, 'CriticalUpdateInstall', 'true'), (` + suPlist + `, 'ConfigDataInstall', 'true')`,
		}, Pass},
		{"mac unset settings fail", "os_auto_updates", "darwin", nil, Fail},
		{"windows security center good passes", "os_auto_updates", "windows", []string{
			`INSERT INTO windows_security_center (autoupdate) VALUES ('Good')`,
		}, Pass},
		{"windows NoAutoUpdate policy fails", "os_auto_updates", "windows", []string{
			`INSERT INTO windows_security_center (autoupdate) VALUES ('Good')`,
			reg(`HKEY_LOCAL_MACHINE\SOFTWARE\Policies\Microsoft\Windows\WindowsUpdate\AU`, "NoAutoUpdate", "1"),
		}, Fail},
		{"windows server with AUOptions 4 passes", "os_auto_updates", "windows", []string{
			reg(`HKEY_LOCAL_MACHINE\SOFTWARE\Policies\Microsoft\Windows\WindowsUpdate\AU`, "AUOptions", "4"),
		}, Pass},
		{"linux apt unattended upgrades passes", "os_auto_updates", "linux", []string{
			`INSERT INTO fleetproof_auto_updates VALUES ('apt', 1, 1, 1, '/etc/apt/apt.conf.d/20auto-upgrades')`,
		}, Pass},
		{"linux dnf-automatic download only fails", "os_auto_updates", "linux", []string{
			`INSERT INTO fleetproof_auto_updates VALUES ('dnf', 1, 0, 1, '/etc/dnf/automatic.conf')`,
		}, Fail},
		{"linux without package manager fails", "os_auto_updates", "linux", nil, Fail},

		{"mac managed screensaver passes", "screen_lock", "darwin", goodSaver, Pass},
		{"mac 20 minute idle fails", "screen_lock", "darwin",
			append([]string{saver("idleTime", "1200")}, goodSaver...), Fail},
		{"windows machine inactivity limit passes", "screen_lock", "windows", []string{
			reg(`HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System`, "InactivityTimeoutSecs", "600"),
		}, Pass},
		{"windows nobody signed in and no policy fails", "screen_lock", "windows", nil, Fail},
		{"windows user secure screensaver passes", "screen_lock", "windows", []string{
			reg(userDesk, "ScreenSaveActive", "1"), reg(userDesk, "ScreenSaverIsSecure", "1"), reg(userDesk, "ScreenSaveTimeOut", "600"),
			reg(`HKEY_USERS\.DEFAULT\Control Panel\Desktop`, "ScreenSaveActive", "0"),
		}, Pass},
		{"windows group policy overrides user value", "screen_lock", "windows", []string{
			reg(userDesk, "ScreenSaveActive", "1"), reg(userDesk, "ScreenSaverIsSecure", "1"), reg(userDesk, "ScreenSaveTimeOut", "600"),
			reg(userPol, "ScreenSaveTimeOut", "3600"),
		}, Fail},
		{"linux headless server is not applicable", "screen_lock", "linux", nil, NotApplicable},
		{"linux gnome defaults pass", "screen_lock", "linux", []string{
			`INSERT INTO fleetproof_screenlock VALUES ('', 'gnome', 1, 300, 0, '/etc/dconf/db/local.d/00-screensaver')`,
		}, Pass},
		{"linux user who disabled idle lock fails", "screen_lock", "linux", []string{
			`INSERT INTO fleetproof_screenlock VALUES ('', 'gnome', 1, 300, 0, 'defaults')`,
			`INSERT INTO fleetproof_screenlock VALUES ('alice', 'gnome', 1, 0, 0, 'gsettings')`,
		}, Fail},

		{"mac firewall on passes", "firewall", "darwin", []string{`INSERT INTO alf (global_state) VALUES (1)`}, Pass},
		{"mac firewall off fails", "firewall", "darwin", []string{`INSERT INTO alf (global_state) VALUES (0)`}, Fail},
		{"windows all profiles on passes", "firewall", "windows", []string{
			reg(fwLocal+"DomainProfile", "EnableFirewall", "1"), reg(fwLocal+"StandardProfile", "EnableFirewall", "1"),
			reg(fwLocal+"PublicProfile", "EnableFirewall", "1"),
		}, Pass},
		{"windows policy turning public profile off fails", "firewall", "windows", []string{
			reg(fwLocal+"DomainProfile", "EnableFirewall", "1"), reg(fwLocal+"StandardProfile", "EnableFirewall", "1"),
			reg(fwLocal+"PublicProfile", "EnableFirewall", "1"),
			reg(`HKEY_LOCAL_MACHINE\SOFTWARE\Policies\Microsoft\WindowsFirewall\PublicProfile`, "EnableFirewall", "0"),
		}, Fail},
		{"linux INPUT policy DROP passes", "firewall", "linux", []string{
			`INSERT INTO iptables (filter_name, chain, policy, target) VALUES ('filter', 'INPUT', 'DROP', 'ufw-before-input')`,
		}, Pass},
		{"linux accept-all fails", "firewall", "linux", []string{
			`INSERT INTO iptables (filter_name, chain, policy, target) VALUES ('filter', 'INPUT', 'ACCEPT', 'ACCEPT')`,
		}, Fail},

		{"mac XProtect with automatic definitions passes", "malware_protection", "darwin", []string{
			`INSERT INTO plist (path, key, value) VALUES ('/Library/Apple/System/Library/CoreServices/XProtect.bundle/Contents/Info.plist', 'CFBundleShortVersionString', '5290')`,
			macSU("ConfigDataInstall", "true"),
		}, Pass},
		{"mac definitions updates off fails", "malware_protection", "darwin", []string{
			`INSERT INTO plist (path, key, value) VALUES ('/Library/Apple/System/Library/CoreServices/XProtect.bundle/Contents/Info.plist', 'CFBundleShortVersionString', '5290')`,
			`INSERT INTO plist (path, key, value) VALUES (` + suPlist + `, 'ConfigDataInstall', 'false')`,
		}, Fail},
		{"windows passive Defender beside active EDR passes", "malware_protection", "windows", []string{
			`INSERT INTO windows_security_products (type, name, state, signatures_up_to_date) VALUES
			  ('Antivirus', 'Microsoft Defender Antivirus', 'Off', 1), ('Antivirus', 'CrowdStrike Falcon', 'On', 1),
			  ('Firewall', 'Windows Firewall', 'Off', 0)`,
		}, Pass},
		{"windows stale signatures fail", "malware_protection", "windows", []string{
			`INSERT INTO windows_security_products (type, name, state, signatures_up_to_date) VALUES ('Antivirus', 'Microsoft Defender Antivirus', 'On', 0)`,
		}, Fail},
		{"linux falcon sensor passes", "malware_protection", "linux", []string{
			`INSERT INTO processes (pid, name) VALUES (1, 'systemd'), (812, 'falcon-sensor')`,
		}, Pass},
		{"linux clamd without freshclam fails", "malware_protection", "linux", []string{
			`INSERT INTO processes (pid, name) VALUES (1, 'systemd'), (900, 'clamd')`,
		}, Fail},

		{"mac recent update run passes", "os_patch_currency", "darwin", []string{
			`INSERT INTO plist (path, key, value) VALUES (` + suPlist + `, 'LastFullSuccessfulDate', CAST(` + daysAgo5 + ` AS TEXT))`,
		}, Pass},
		{"mac update run 40 days ago fails", "os_patch_currency", "darwin", []string{
			`INSERT INTO plist (path, key, value) VALUES (` + suPlist + `, 'LastFullSuccessfulDate', CAST(` + daysAgo40 + ` AS TEXT))`,
		}, Fail},
		{"windows recent cumulative update passes", "os_patch_currency", "windows", []string{
			`INSERT INTO windows_update_history (date, operation, result_code, title) VALUES (` + daysAgo5 + `, 'Installation', 'Succeeded', '2026-11 Cumulative Update for Windows 11')`,
		}, Pass},
		{"windows only definition updates recently fails", "os_patch_currency", "windows", []string{
			`INSERT INTO windows_update_history (date, operation, result_code, title) VALUES (` + daysAgo40 + `, 'Installation', 'Succeeded', 'Cumulative Update')`,
			`INSERT INTO windows_update_history (date, operation, result_code, title) VALUES (` + daysAgo5 + `, 'Installation', 'Succeeded', 'Security Intelligence Update for Microsoft Defender Antivirus - KB2267602')`,
			`INSERT INTO windows_update_history (date, operation, result_code, title) VALUES (` + daysAgo5 + `, 'Installation', 'Failed', 'Cumulative Update')`,
		}, Fail},

		{"gatekeeper on passes", "macos_gatekeeper", "darwin", []string{`INSERT INTO gatekeeper (assessments_enabled) VALUES (1)`}, Pass},
		{"SIP disabled fails", "macos_sip", "darwin", []string{`INSERT INTO sip_config VALUES ('sip', 0, 0)`}, Fail},
	}
	cat, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, ok := cat.Check(tt.check)
			if !ok {
				t.Fatalf("no check %s", tt.check)
			}
			c, ok = c.On(tt.goos)
			if !ok {
				t.Fatalf("%s has no %s query", tt.check, tt.goos)
			}
			db := openPlatformDB(t, tt.goos, nil)
			for _, s := range tt.setup {
				if _, err := db.Exec(s); err != nil {
					t.Fatalf("%s: %v", s, err)
				}
			}
			_, rows, err := queryRows(db, c.Platforms[tt.goos].SQL)
			if err != nil {
				t.Fatal(err)
			}
			if ev := c.Evaluate(rows); ev.Outcome != tt.want {
				t.Errorf("outcome %s (%s), want %s; rows %v", ev.Outcome, ev.Reason, tt.want, rows)
			}
		})
	}
}
