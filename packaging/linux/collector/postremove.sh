data_dir=/var/lib/fleetproof-collector

case "$(phase "$@")" in
remove)
	daemon_reload
	;;
purge)
	daemon_reload
	# The data directory is the evidence store an audit period depends on;
	# a package manager must not be able to destroy it in passing. The user
	# stays too: it still owns those files.
	if [ -d "$data_dir" ]; then
		say "kept $data_dir (evidence, NATS and ClickHouse data) and the user fleetproof; remove them by hand when the evidence is no longer needed"
	fi
	;;
esac
exit 0
