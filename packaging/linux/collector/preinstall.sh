user=fleetproof
data_dir=/var/lib/fleetproof-collector

exists() { getent "$1" "$2" >/dev/null 2>&1 || grep -q "^$2:" "/etc/$1" 2>/dev/null; }

case "$(phase "$@")" in
install | upgrade)
	# The collector runs unprivileged as a system user of its own: it
	# listens on the network and holds the evidence database.
	if ! exists group "$user"; then
		if command -v groupadd >/dev/null 2>&1; then
			groupadd --system "$user"
		else
			addgroup -S "$user" # busybox (Alpine)
		fi
	fi
	if ! exists passwd "$user"; then
		shell=/bin/false
		for s in /usr/sbin/nologin /sbin/nologin; do
			if [ -x "$s" ]; then
				shell=$s
				break
			fi
		done
		if command -v useradd >/dev/null 2>&1; then
			useradd --system --gid "$user" --home-dir "$data_dir" --no-create-home \
				--shell "$shell" --comment "Fleetproof collector" "$user"
		else
			adduser -S -D -H -h "$data_dir" -s "$shell" -G "$user" -g "Fleetproof collector" "$user"
		fi
		say "created system user $user"
	fi
	;;
esac
exit 0
