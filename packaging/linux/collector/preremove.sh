case "$(phase "$@")" in
remove)
	service_deactivate
	;;
esac
exit 0
