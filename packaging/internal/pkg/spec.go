package pkg

// spec describes one package independently of the format.
type spec struct {
	name        string
	dir         string // under packaging/linux
	description string
	binary      string // installed as /usr/bin/<binary>
	unit        string // file in dir, installed in the systemd unit directory
	example     string // file in dir, installed in /etc/fleetproof as a conffile
	scripts     []string
	recommends  []string
}

// Script kinds, as the prelude's phase function knows them. apk runs
// preupgrade/postupgrade instead of preinstall/postinstall on upgrade; they
// reuse the install bodies.
const (
	preInstall  = "preinstall"
	postInstall = "postinstall"
	preRemove   = "preremove"
	postRemove  = "postremove"
	preUpgrade  = "preupgrade"
	postUpgrade = "postupgrade"
)

const (
	// AgentPackage and CollectorPackage are the package names.
	AgentPackage     = "fleetproof-agent"
	CollectorPackage = "fleetproof-collector"
)

var agentSpec = spec{
	name: AgentPackage,
	dir:  "agent",
	description: "Fleetproof agent: compliance evidence for SOC 2 endpoint controls\n" +
		"Runs compliance checks (disk encryption, OS patching, screen lock and more)\n" +
		"on this device as a service and delivers signed evidence to a Fleetproof\n" +
		"collector. Configure server_url and the enroll secret in\n" +
		"/etc/fleetproof/agent.yaml or /etc/fleetproof/managed.yaml.",
	binary:  "fleetproof-agent",
	unit:    "fleetproof-agent.service",
	example: "agent.yaml.example",
	// No preinstall: the agent runs as root and needs no user.
	scripts: []string{postInstall, preRemove, postRemove},
}

var collectorSpec = spec{
	name: CollectorPackage,
	dir:  "collector",
	description: "Fleetproof collector: stores the compliance evidence of agents\n" +
		"Enrolls Fleetproof agents, receives their signed evidence over NATS\n" +
		"JetStream and stores it in ClickHouse for posture queries and auditor\n" +
		"extracts. Runs as the system user fleetproof; configure\n" +
		"/etc/fleetproof/collector.yaml.",
	binary:  "fleetproof-collector",
	unit:    "fleetproof-collector.service",
	example: "collector.yaml.example",
	scripts: []string{preInstall, postInstall, preRemove, postRemove},
	// It runs a local clickhouse-server when no DSN is configured; an
	// external ClickHouse works without it, so not a hard dependency.
	recommends: []string{"clickhouse-server"},
}
