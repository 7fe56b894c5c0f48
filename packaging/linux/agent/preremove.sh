case "$(phase "$@")" in
remove)
	service_deactivate
	# Without systemd, "fleetproof-agent install" registers a SysV script
	# that would keep running the deleted binary and fail at every boot;
	# the agent removes what it installed.
	if ! systemd_running && [ -f /etc/init.d/fleetproof-agent ] &&
		grep -q 'Written by "fleetproof-agent install"' /etc/init.d/fleetproof-agent; then
		/usr/bin/fleetproof-agent uninstall || warn "fleetproof-agent uninstall failed; remove /etc/init.d/fleetproof-agent by hand"
	fi
	;;
esac
exit 0
