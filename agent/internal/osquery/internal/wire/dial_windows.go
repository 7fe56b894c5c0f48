//go:build windows

package wire

import (
	"context"
	"net"
	"strings"

	"github.com/Microsoft/go-winio"
)

// osqueryd on Windows serves named pipes (\\.\pipe\osquery.em); its pipe
// ACL admits only SYSTEM, Administrators and its own SID, so the agent must
// run elevated. Anything else is treated as an AF_UNIX path.
func isPipe(path string) bool { return strings.HasPrefix(path, `\\.\pipe\`) }

func dial(ctx context.Context, path string) (net.Conn, error) {
	if isPipe(path) {
		return winio.DialPipeContext(ctx, path)
	}
	var d net.Dialer
	return d.DialContext(ctx, "unix", path)
}

// Listen listens on a named pipe or a unix socket.
func Listen(path string) (net.Listener, error) {
	if isPipe(path) {
		return winio.ListenPipe(path, nil)
	}
	return net.Listen("unix", path)
}
