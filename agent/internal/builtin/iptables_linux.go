//go:build linux

package builtin

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	iptSoGetInfo    = 64 // IPT_SO_GET_INFO (IPT_BASE_CTL)
	iptSoGetEntries = 65 // IPT_SO_GET_ENTRIES
)

// iptGetEntriesHeader is sizeof(struct ipt_get_entries) without its
// entries: name[32] and size, padded to the alignment of the u64 counters
// in the entries that follow (8 on 64-bit, 4 on i386).
var iptGetEntriesHeader = alignUp(iptTableMaxName+4, int(unsafe.Alignof(uint64(0))))

func alignUp(n, a int) int { return (n + a - 1) / a * a }

// readIPTable fetches and decodes one table's ipt_getinfo and its entry
// blob from the running kernel.
func readIPTable(name string) (iptInfo, []byte, error) {
	raw, blob, err := readIPTableRaw(name)
	if err != nil {
		return iptInfo{}, nil, err
	}
	info, err := parseIPTInfo(raw)
	return info, blob, err
}

// readIPTableRaw returns the kernel's ipt_getinfo bytes and entry blob for
// one table, obtained as libiptc's iptc_init does: a raw IPv4 socket
// (CAP_NET_RAW) and two getsockopt calls (CAP_NET_ADMIN). A table changed
// between the calls makes the kernel answer EAGAIN; that is retried.
func readIPTableRaw(name string) (info, blob []byte, err error) {
	if len(name) >= iptTableMaxName {
		return nil, nil, fmt.Errorf("iptables: table name %q too long", name)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
	if err != nil {
		return nil, nil, err
	}
	defer unix.Close(fd)
	for range 5 {
		ib := make([]byte, iptGetinfoSize)
		copy(ib, name)
		if err := iptGetsockopt(fd, iptSoGetInfo, ib); err != nil {
			return nil, nil, err
		}
		parsed, err := parseIPTInfo(ib)
		if err != nil {
			return nil, nil, err
		}
		buf := make([]byte, iptGetEntriesHeader+int(parsed.size))
		copy(buf, name)
		binary.NativeEndian.PutUint32(buf[iptTableMaxName:], parsed.size)
		err = iptGetsockopt(fd, iptSoGetEntries, buf)
		if errors.Is(err, unix.EAGAIN) {
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		return ib, buf[iptGetEntriesHeader:], nil
	}
	return nil, nil, unix.EAGAIN
}

// iptGetsockopt is getsockopt(fd, SOL_IP, opt, buf, len(buf)); x/sys/unix
// has no wrapper for arbitrary buffers.
func iptGetsockopt(fd, opt int, buf []byte) error {
	l := uint32(len(buf))
	_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_IP, uintptr(opt),
		uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&l)), 0)
	if errno != 0 {
		return errno
	}
	return nil
}
