//go:build linux

package exporter

import (
	"errors"
	"net"
	"unsafe"

	"golang.org/x/sys/unix"
)

// writeFlags makes sendmmsg return EAGAIN rather than wait when the socket
// buffer is full: a slow path to one collector must not hold up the sender.
const writeFlags = unix.MSG_DONTWAIT

// setDontFragment sets the Don't Fragment bit on every datagram (path MTU
// discovery "do"), as the telemetry report spec asks of IPv4 reports; a
// report larger than the path MTU then fails with EMSGSIZE, counted, rather
// than travel as fragments a collector may never reassemble.
func setDontFragment(c *net.UDPConn, v6 bool) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		if v6 {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_MTU_DISCOVER, unix.IPV6_PMTUDISC_DO)
			if serr == nil {
				serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_DONTFRAG, 1)
			}
			return
		}
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_DO)
	})
	if err != nil {
		return err
	}
	return serr
}

// gsoSupported: Linux segments UDP sends given UDP_SEGMENT (since 4.18).
const gsoSupported = true

// segmentSizeLen is the length of one UDP_SEGMENT control message.
var segmentSizeLen = unix.CmsgSpace(2)

// appendSegmentSize appends the control message asking the kernel to cut
// a send into datagrams of size bytes (UDP GSO).
func appendSegmentSize(b []byte, size int) []byte {
	at := len(b)
	b = append(b, make([]byte, segmentSizeLen)...)
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[at]))
	h.Level, h.Type = unix.SOL_UDP, unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	*(*uint16)(unsafe.Pointer(&b[at+unix.CmsgLen(0)])) = uint16(size)
	return b
}

// gsoRefused says whether err is the kernel refusing a segmented send
// (rather than the datagrams' own fate): no UDP_SEGMENT (before 4.18),
// a socket or route it cannot segment for (EINVAL without checksums,
// EIO through IPsec), or segments above the path MTU (EMSGSIZE).
func gsoRefused(err error) bool {
	return errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EIO) || errors.Is(err, unix.EMSGSIZE) ||
		errors.Is(err, unix.ENOPROTOOPT) || errors.Is(err, unix.EOPNOTSUPP)
}
