#!/usr/bin/env bash
# Installs the non-Go dependencies of the tests and the demo when missing.
# Needs root (or sudo) and Debian's apt; elsewhere it says what to install.
set -euo pipefail

have_clickhouse() {
	command -v clickhouse-server >/dev/null 2>&1 || [ -x /usr/sbin/clickhouse-server ] || command -v clickhouse >/dev/null 2>&1
}

# LibreOffice opens the auditor's CSV/XLSX extracts in a test, as a person
# would; the demo does not need it.
need=()
have_clickhouse || need+=(clickhouse-server clickhouse-client)
command -v soffice >/dev/null 2>&1 || need+=(libreoffice-calc)
# rpm reads and installs the rpm packages in packaging/'s tests.
command -v rpm >/dev/null 2>&1 || need+=(rpm)
if [ ${#need[@]} -eq 0 ]; then
	exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
	echo "deps: missing ${need[*]} and apt-get is not available; install ClickHouse (clickhouse-server or clickhouse on PATH) and LibreOffice (soffice)" >&2
	exit 1
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
	SUDO="sudo"
fi
echo "deps: installing ${need[*]} (Debian packages)" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# The package's own service is not used: the collector and the tests run
# the server binary themselves with their own config.
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
have_clickhouse
