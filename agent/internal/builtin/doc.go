// Package builtin answers osquery SQL without osqueryd.
//
// Where no osqueryd runs (bare Linux servers, CI, demos) the agent still
// has to evaluate the check catalog's osquery SQL. This engine does it in
// pure Go (no CGO): for each query it opens a private in-memory SQLite
// database (modernc.org/sqlite, the same SQL dialect osquery embeds),
// finds which known tables the SQL names (identifier tokens; string
// literals and comments are ignored), generates only those tables from the
// host, creates them with osquery's column names and declared types, and
// runs the query unchanged. SQLite does the joins, filters and functions,
// so results match osquery's for the same data.
//
// # Results
//
// Rows come back the way osquery's extension API returns them: every value
// a string, integers in decimal, reals as SQLite prints them ("%!.15g", so
// 3.0 is "3.0"), blobs as their bytes, NULL as "". SQL errors are
// *QueryError values whose text is "builtin: query: " plus SQLite's own
// message (e.g. "no such table: alf"), as osqueryd would report in
// its status. Queries respect context cancellation, including long-running
// SQL. ATTACH, DETACH and VACUUM INTO are refused so a query cannot read
// or write host files.
//
// # Tables (Linux)
//
//   - os_version: /etc/os-release (then /usr/lib/os-release), overlaid by
//     /etc/redhat-release exactly as osquery does (platform "rhel" on the
//     RHEL family, Fedora included); arch from uname.
//   - system_info: /proc/cpuinfo, /proc/meminfo, /sys/class/dmi/id/*;
//     uuid from product_uuid, else /etc/machine-id in UUID form; hostname
//     from /proc/sys/kernel/hostname or /etc/hostname.
//   - kernel_info: /proc/version (3rd token), /proc/cmdline (BOOT_IMAGE=,
//     root=).
//   - uptime: /proc/uptime.
//   - osquery_info: this engine, honestly: version "builtin-<Version>",
//     extensions "inactive", watcher -1, no config, start_time = New().
//   - mounts: /proc/mounts; device_alias is the device's realpath (resolved
//     inside Root); statfs figures only when Root is "/", else 0.
//   - block_devices: /sys/block and partitions, udev database
//     (/run/udev/data) for blkid fields, LUKS headers of dm-crypt
//     containers.
//   - disk_encryption: every block device and partition as /dev/<kname>;
//     dm-crypt mappings (/sys/block/dm-N/dm/uuid "CRYPT-<type>-…") are
//     encrypted; devices built only on encrypted devices (LVM on LUKS,
//     partitions, md) inherit.
//   - deb_packages: /var/lib/dpkg/status.
//   - processes: /proc/<pid>/{stat,status,cmdline,exe,cwd,root,io,cgroup}.
//   - users: /etc/passwd.
//   - apt_sources: /etc/apt/sources.list and sources.list.d/*.list
//     (one-line format) and *.sources (deb822), described by the Release
//     or InRelease file apt downloaded to /var/lib/apt/lists.
//   - logged_in_users: /var/run/utmp records (glibc's 384-byte struct
//     utmp), all types, as getutxent(3) returns them.
//   - rpm_packages: rpm's SQLite database (/var/lib/rpm/rpmdb.sqlite or
//     /usr/lib/sysimage/rpm/rpmdb.sqlite, rpm ≥ 4.16), opened read only;
//     the header blobs are decoded here (tags name, version, release,
//     epoch, installtime, size/longsize, vendor, group, arch, sourcerpm,
//     sha1header).
//   - iptables: legacy (x_tables) IPv4 rules of every table in
//     /proc/net/ip_tables_names, fetched from the running kernel as
//     libiptc does (raw socket, getsockopt IPT_SO_GET_INFO and
//     IPT_SO_GET_ENTRIES; root or CAP_NET_ADMIN + CAP_NET_RAW) and decoded
//     here. As in osquery: per chain, one row per rule then one row for
//     the chain (rule columns NULL); every row carries the chain's policy
//     and the policy's packet/byte counters (built-in chains; "" and 0 for
//     user chains); ports come from tcp/udp matches as "lo:hi".
//   - fleetproof_auto_updates (extension): apt (apt.conf.d layering,
//     unattended-upgrades), dnf (dnf-automatic / dnf5 automatic timers and
//     automatic.conf), yum (yum-cron).
//   - fleetproof_screenlock (extension): GNOME (gschema overrides and the
//     system dconf databases of the "user" profile) and KDE
//     (kscreenlockerrc, system and per user).
//
// ExtensionTables lists the fleetproof_* tables; Schema and Generate serve
// them to osqueryd as extension tables (see agent/internal/engine).
//
// Options.Root points every reader at another tree; tests use fake roots
// under testdata. Symlinks there are followed inside the root, as in a
// chroot.
//
// # Known gaps and approximations
//
//   - Linux only. Other platforms compile (so the agent can link the
//     package), but the tables read Linux interfaces and mean nothing there.
//   - Tables are generated whole; WHERE constraints are not pushed down,
//     and osquery's hidden/additional columns (pid_with_namespace, …) are
//     absent. Collations are SQLite's: "version" collation is not
//     emulated, so compare version parts as integers (major, minor).
//   - os_version.arch and system_info.cpu_type come from the running
//     kernel even when Root is elsewhere. hostname is not resolved to an
//     FQDN.
//   - block_devices: uuid, type and label come from udev's database, not a
//     blkid probe; without udev data they are "" (except LUKS containers,
//     read from their header). LVM parents come from sysfs slaves, not
//     liblvm. Partitions report their disk's logical block size.
//   - disk_encryption: the cipher in type (e.g. LUKS2-aes-xts-plain64) is
//     read from the LUKS header of the mapping's single backing device,
//     which needs read access to the device node (root); otherwise, and
//     for non-LUKS modes, type is just the dm-crypt mode (LUKS2, PLAIN).
//     A device counts as inherited-encrypted only if all of its backing
//     devices are encrypted (osquery looks at one parent). Unlike
//     osquery, rows are returned when not running as root.
//   - deb_packages.size is Installed-Size in KiB, as osquery passes it
//     through; packages in "config-files" state are listed (status says so).
//   - processes: memory figures are kB×1000 like osquery; start_time is
//     epoch seconds from /proc/stat btime.
//   - fleetproof_auto_updates: apt ignores APT_CONFIG, Dir::Etc and
//     #include, and assumes apt-daily-upgrade.timer is enabled (the
//     Debian/Ubuntu default); systemd units count as enabled when linked
//     under /etc/systemd/system/*.wants.
//   - apt_sources follows osquery, quirks included: a source yields a row
//     only once apt has downloaded its Release file; release, version,
//     maintainer, components and architectures come from that file, not
//     the sources line; flat repositories ("./" suites) never match a
//     cache file. Unlike osquery, "Enabled: yes" in a deb822 stanza keeps
//     it (osquery only accepts "on"), and continuation lines of a stanza
//     (embedded Signed-By keys) are never read as fields.
//   - logged_in_users: little-endian records only (x86, arm); like osquery,
//     records of pid 1 (runlevel) are left out.
//   - rpm_packages: Berkeley DB (EL8 and older) and ndb (SUSE) databases
//     are not read (no rows); text tags a header lacks are "" and a
//     missing epoch is NULL, as in osquery.
//   - iptables: nftables is not covered (as in osquery): hosts whose
//     rules live only in nf_tables (iptables-nft, firewalld, nft) have no
//     /proc/net/ip_tables_names or an empty one, and get no rows; so do
//     hosts where the query lacks CAP_NET_ADMIN, silently, and fake roots
//     (the rules are kernel state). ip6tables is not read. Unlike osquery,
//     which reads the first match's bytes whatever it is, ports come only
//     from a "tcp"/"udp" match ("" without one), and a blob this parser
//     rejects is a table error rather than no rows. Host byte order.
//   - fleetproof_screenlock: only system-wide GNOME settings are read — the
//     per-user dconf database is binary GVDB — and dconf keyfiles are
//     assumed compiled by `dconf update`. GNOME counts as present only with
//     the screensaver schema and gnome-shell or gnome-session installed.
//     KDE ignores XDG_CONFIG_HOME.
package builtin
