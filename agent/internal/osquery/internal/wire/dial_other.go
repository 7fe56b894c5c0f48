//go:build !windows

package wire

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
)

func dial(ctx context.Context, path string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "unix", path)
}

// Listen listens on a unix socket. A leftover socket file nobody answers on
// (a crashed extension, a killed test) is removed first, as osqueryd does
// for its own sockets; a live one is left alone and reported.
func Listen(path string) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSocket != 0 {
		c, err := net.Dial("unix", path)
		if err == nil {
			c.Close()
			return nil, fmt.Errorf("listen %s: another process is serving on it", path)
		}
		if errors.Is(err, syscall.ECONNREFUSED) {
			_ = os.Remove(path)
		}
	}
	return net.Listen("unix", path)
}
