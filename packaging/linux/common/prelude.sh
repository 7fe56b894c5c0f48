#!/bin/sh
# @PACKAGE@ @SCRIPT@ (@FORMAT@ package). Assembled by fleetproof-package from
# packaging/linux/common/prelude.sh and packaging/linux/@DIR@/@BODY@.
#
# MDM and configuration management install packages unattended, so these
# scripts never prompt and never fail the package over the service: the files
# are in place either way, and systemd keeps retrying a unit that fails.
set -e

pkg_name=@PACKAGE@
pkg_format=@FORMAT@
pkg_script=@SCRIPT@
unit=$pkg_name.service

# phase reduces each package manager's arguments to what the script must do:
#   install  first installation (deb: also after "remove" left the conffiles)
#   upgrade  another version replaces this one, dpkg re-configures it, or
#            dpkg rolls back a failed step to the installed version
#   remove   the package goes away; configuration and state stay
#   purge    the package goes away for good: its state goes too
#   skip     nothing to do
# deb names the action in $1 (and the old version in $2). rpm passes the
# number of versions of the package left installed after the transaction:
# on upgrade the new version's %pre/%post see 2 and the old version's
# %preun/%postun see 1, on erase %preun/%postun see 0. rpm has no purge, so
# erase is the final removal. apk runs separate pre/post-upgrade scripts.
phase() {
	case "$pkg_format" in
	deb)
		case "$pkg_script:$1" in
		preinstall:install) echo install ;;
		preinstall:upgrade) echo upgrade ;;
		postinstall:configure) if [ -n "$2" ]; then echo upgrade; else echo install; fi ;;
		postinstall:abort-upgrade | postinstall:abort-remove | postinstall:abort-deconfigure) echo upgrade ;;
		preremove:remove | preremove:deconfigure) echo remove ;;
		preremove:upgrade | preremove:failed-upgrade) echo upgrade ;;
		postremove:remove) echo remove ;;
		postremove:purge) echo purge ;;
		*) echo skip ;;
		esac
		;;
	rpm)
		case "$pkg_script" in
		preinstall | postinstall) if [ "${1:-1}" -ge 2 ] 2>/dev/null; then echo upgrade; else echo install; fi ;;
		preremove) if [ "${1:-0}" -ge 1 ] 2>/dev/null; then echo upgrade; else echo remove; fi ;;
		postremove) if [ "${1:-0}" -ge 1 ] 2>/dev/null; then echo upgrade; else echo purge; fi ;;
		*) echo skip ;;
		esac
		;;
	apk)
		case "$pkg_script" in
		preinstall | postinstall) echo install ;;
		preupgrade | postupgrade) echo upgrade ;;
		preremove | postremove) echo remove ;;
		*) echo skip ;;
		esac
		;;
	*) echo skip ;;
	esac
}

say() { echo "$pkg_name: $*"; }
warn() { echo "$pkg_name: warning: $*" >&2; }

# A booted systemd creates /run/systemd/system; this is the test
# deb-systemd-invoke and the rpm systemd macros use. In a container or a
# chroot (image builds) systemctl exists but cannot start anything.
systemd_running() { [ -d /run/systemd/system ]; }
have_systemctl() { command -v systemctl >/dev/null 2>&1; }

daemon_reload() {
	if have_systemctl && systemd_running; then
		systemctl daemon-reload || warn "systemctl daemon-reload failed"
	fi
}

# service_activate enables the unit and, when systemd runs, (re)starts it so
# an upgrade runs the new binary. Enabling works without a running systemd
# (an image build), so the service starts at the next boot. A masked unit is
# how an admin keeps the service off across upgrades; it is left alone.
service_activate() {
	if ! have_systemctl; then
		say "no systemd: start the service with this machine's init system"
		return 0
	fi
	if [ "$(systemctl is-enabled "$unit" 2>/dev/null)" = masked ]; then
		say "$unit is masked; leaving it as it is"
		return 0
	fi
	systemctl enable "$unit" >/dev/null 2>&1 || warn "systemctl enable $unit failed"
	if systemd_running; then
		if systemctl restart "$unit"; then
			say "started $unit"
		else
			warn "starting $unit failed; see: journalctl -u $unit"
		fi
	else
		say "systemd is not running: enabled $unit for the next boot"
	fi
}

# service_restart_if_running restarts a running service onto the new binary
# without enabling or starting anything.
service_restart_if_running() {
	if have_systemctl && systemd_running; then
		systemctl try-restart "$unit" || warn "restarting $unit failed; see: journalctl -u $unit"
	fi
}

# service_deactivate stops and disables the unit on removal.
service_deactivate() {
	have_systemctl || return 0
	if systemd_running; then
		systemctl stop "$unit" >/dev/null 2>&1 || warn "systemctl stop $unit failed"
	fi
	systemctl disable "$unit" >/dev/null 2>&1 || true
}

