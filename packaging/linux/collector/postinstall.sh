user=fleetproof
data_dir=/var/lib/fleetproof-collector
config=/etc/fleetproof/collector.yaml

p=$(phase "$@")
case "$p" in
install | upgrade)
	# Not shipped in the package, so no package manager ever deletes the
	# evidence in it. Only the top is chowned: a recursive chown of a large
	# ClickHouse data directory on every upgrade would be slow and would
	# undo deliberate changes below it.
	mkdir -p "$data_dir"
	chown "$user:$user" "$data_dir"
	chmod 0750 "$data_dir"
	daemon_reload
	if [ -f "$config" ]; then
		service_activate
	else
		if [ "$p" = upgrade ]; then
			service_restart_if_running
		fi
		say "not started: $config does not exist."
		say "create it from /etc/fleetproof/collector.yaml.example (readable by $user), then run: systemctl enable --now $unit"
	fi
	;;
esac
exit 0
