state_dir=/var/lib/fleetproof

case "$(phase "$@")" in
remove)
	daemon_reload
	;;
purge)
	daemon_reload
	# The device key, the spool and the enrollment: a purged device that is
	# installed again enrolls as a new key. agent.yaml and managed.yaml are
	# the admin's and stay.
	if [ -d "$state_dir" ]; then
		rm -rf "$state_dir"
		say "deleted $state_dir (device key, spool, enrollment)"
	fi
	;;
esac
exit 0
