package chserver

import (
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// layout names every path the server uses, all under Options.Dir, so one
// directory is the whole state: copy it to move the data, delete it to reset.
type layout struct {
	dir, config, users, data, tmp, log, userFiles, formatSchemas string
	errLog, mainLog, stderrLog                                   string
}

func newLayout(dir string) layout {
	j := func(p ...string) string { return filepath.Join(append([]string{dir}, p...)...) }
	return layout{
		dir:           dir,
		config:        j("config.xml"),
		users:         j("users.xml"),
		data:          j("data"),
		tmp:           j("tmp"),
		log:           j("log"),
		userFiles:     j("user_files"),
		formatSchemas: j("format_schemas"),
		errLog:        j("log", "clickhouse-server.err.log"),
		mainLog:       j("log", "clickhouse-server.log"),
		stderrLog:     j("log", "stderr.log"),
	}
}

func (l layout) mkdirs() error {
	for _, d := range []string{l.dir, l.data, l.tmp, l.log, l.userFiles, l.formatSchemas} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	return nil
}

// writeConfig writes config.xml and users.xml. It is redone on every launch
// so a Restart picks up the (same) ports even if someone edited the files.
//
// The root element is <yandex>: 18.16 requires it and current versions still
// accept it. Settings 18.16 doesn't know (max_server_memory_usage, ...) are
// left out rather than guessed at; current versions default them sensibly.
// No interserver, MySQL, PostgreSQL or HTTPS ports are configured, so the
// server only listens on the two loopback ports we chose.
func (l layout) writeConfig(host string, tcpPort, httpPort int) error {
	// The data/tmp paths must end in a slash: 18.16 concatenates file names
	// onto them.
	cfg := fmt.Sprintf(`<?xml version="1.0"?>
<!-- Written by fleetproof chserver on every start; edits are overwritten. -->
<yandex>
    <logger>
        <level>warning</level>
        <log>%s</log>
        <errorlog>%s</errorlog>
        <size>100M</size>
        <count>3</count>
        <console>false</console>
    </logger>
    <listen_host>%s</listen_host>
    <tcp_port>%d</tcp_port>
    <http_port>%d</http_port>
    <path>%s/</path>
    <tmp_path>%s/</tmp_path>
    <user_files_path>%s/</user_files_path>
    <format_schema_path>%s/</format_schema_path>
    <users_config>%s</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <!-- Fleet data is compared across hosts; a host's local zone must not
         change how DateTime is partitioned or printed. -->
    <timezone>UTC</timezone>
    <!-- Defaults assume a dedicated database host (5 GiB / 8 GiB); this one
         shares the machine with the collector. -->
    <mark_cache_size>268435456</mark_cache_size>
    <uncompressed_cache_size>268435456</uncompressed_cache_size>
    <max_concurrent_queries>100</max_concurrent_queries>
    <mlock_executable>false</mlock_executable>
</yandex>
`, x(l.mainLog), x(l.errLog), x(host), tcpPort, httpPort,
		x(l.data), x(l.tmp), x(l.userFiles), x(l.formatSchemas), x(l.users))

	// Passwordless access is acceptable only because the server listens on
	// loopback and the user is restricted to loopback sources as well.
	users := `<?xml version="1.0"?>
<!-- Written by fleetproof chserver on every start; edits are overwritten. -->
<yandex>
    <profiles>
        <default>
            <max_memory_usage>4000000000</max_memory_usage>
            <load_balancing>random</load_balancing>
            <!-- An idle native connection notices shutdown only between
                 polls; the default of 10 s made every SIGTERM with a
                 client pool open run into Stop's kill deadline. -->
            <poll_interval>1</poll_interval>
        </default>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks>
                <ip>127.0.0.1</ip>
                <ip>::1</ip>
            </networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
`
	if err := os.WriteFile(l.users, []byte(users), 0o600); err != nil {
		return err
	}
	return os.WriteFile(l.config, []byte(cfg), 0o600)
}

func x(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
