state_dir=/var/lib/fleetproof

# configured says whether server_url is set where the service finds it
# without flags: agent.yaml, the managed file (any spelling the agent
# accepts: server_url, ServerURL, Server-URL) or the unit's environment
# files. A service started without it would only fail and restart every 5 s.
configured() {
	for f in /etc/fleetproof/agent.yaml /etc/fleetproof/managed.yaml; do
		if [ -r "$f" ] && grep -Eiq "^[[:space:]]*[\"']?server[-_ .]?url[\"']?[[:space:]]*:[[:space:]]*[\"']?[[:alpha:]]" "$f"; then
			return 0
		fi
	done
	if [ -r /etc/fleetproof/managed.json ] && grep -Eiq "\"server[-_ .]?url\"[[:space:]]*:[[:space:]]*\"[[:alpha:]]" /etc/fleetproof/managed.json; then
		return 0
	fi
	for f in /etc/default/fleetproof-agent /etc/sysconfig/fleetproof-agent; do
		if [ -r "$f" ] && grep -Eq "^[[:space:]]*(export[[:space:]]+)?FLEETPROOF_SERVER_URL=[\"']?[[:alpha:]]" "$f"; then
			return 0
		fi
	done
	return 1
}

p=$(phase "$@")
case "$p" in
install | upgrade)
	# The agent creates it too; creating it here, 0700 whatever the umask,
	# means the device key never lands in a directory others can list.
	mkdir -p "$state_dir"
	chmod 0700 "$state_dir"
	daemon_reload
	if configured; then
		service_activate
	else
		if [ "$p" = upgrade ]; then
			service_restart_if_running
		fi
		say "not started: server_url is not set in /etc/fleetproof/agent.yaml, /etc/fleetproof/managed.yaml or FLEETPROOF_SERVER_URL."
		say "configure it (see /etc/fleetproof/agent.yaml.example), then run: systemctl enable --now $unit"
	fi
	;;
esac
exit 0
