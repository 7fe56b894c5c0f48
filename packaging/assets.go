package packaging

import "embed"

// Linux is the linux/ tree: common/prelude.sh (prepended to every
// maintainer script), and per package (agent/, collector/) the systemd
// unit, the example configuration and the script bodies.
//
//go:embed linux
var Linux embed.FS
