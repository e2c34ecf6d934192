//go:build linux

package exporter

import (
	"net"

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
