package podveth

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// One RTM_GETLINK request and its answer, on a netlink socket of the
// caller's: what Find and Verify need of an interface, and no more. A
// general netlink library decodes every attribute of the answer (stats,
// queues, ...) and opens a socket per request; ADD pays that in a freshly
// started process (issue 15).

// link is what podint reads of an interface.
type link struct {
	index int
	name  string
	kind  string // IFLA_INFO_KIND: "veth", "macvlan", ...; "" for a plain device
	peer  int    // IFLA_LINK: a veth's peer ifindex, in the peer's namespace; 0 when it has none
	mac   string
}

// typ names the interface's kind as errors tell it.
func (l link) typ() string {
	if l.kind == "" {
		return "device"
	}
	return l.kind
}

// rtnl is a NETLINK_ROUTE socket; it answers about the network namespace
// it was opened in.
type rtnl struct{ fd int }

var seq atomic.Uint32

func openRtnl() (rtnl, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return rtnl{}, fmt.Errorf("open a netlink socket: %w", err)
	}
	return rtnl{fd}, nil
}

// openRtnlIn opens a NETLINK_ROUTE socket inside the network namespace at
// path, from an OS thread of its own that goes back to the caller's
// namespace once the socket exists (a socket stays in the namespace it was
// made in).
func openRtnlIn(path string) (rtnl, error) {
	target, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return rtnl{}, fmt.Errorf("pod netns %q cannot be opened: %w", path, err)
	}
	defer unix.Close(target)
	type result struct {
		s   rtnl
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		home, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{err: fmt.Errorf("open the caller's network namespace: %w", err)}
			return
		}
		defer unix.Close(home)
		if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			done <- result{err: fmt.Errorf("pod netns %q cannot be entered: %w", path, err)}
			return
		}
		s, err := openRtnl()
		// A thread that cannot go back stays locked and ends with this
		// goroutine: no other goroutine may run in the pod's namespace.
		if unix.Setns(home, unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		done <- result{s, err}
	}()
	r := <-done
	return r.s, r.err
}

func (s rtnl) close() { unix.Close(s.fd) }

// errNoLink is the kernel's answer for an interface that does not exist.
var errNoLink = unix.ENODEV

// get asks for the interface with ifindex, or, when ifindex is 0, the one
// called name.
func (s rtnl) get(ifindex int, name string) (link, error) {
	n := seq.Add(1)
	req := make([]byte, unix.SizeofNlMsghdr+unix.SizeofIfInfomsg, 64)
	binary.NativeEndian.PutUint16(req[4:], unix.RTM_GETLINK)
	binary.NativeEndian.PutUint16(req[6:], unix.NLM_F_REQUEST)
	binary.NativeEndian.PutUint32(req[8:], n)
	req[unix.SizeofNlMsghdr] = unix.AF_UNSPEC
	binary.NativeEndian.PutUint32(req[unix.SizeofNlMsghdr+4:], uint32(int32(ifindex)))
	if ifindex == 0 {
		req = appendAttr(req, unix.IFLA_IFNAME, append([]byte(name), 0))
	}
	binary.NativeEndian.PutUint32(req[0:], uint32(len(req)))
	if err := unix.Sendto(s.fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return link{}, fmt.Errorf("netlink RTM_GETLINK: %w", err)
	}
	buf := make([]byte, 1<<15)
	for {
		nr, _, err := unix.Recvfrom(s.fd, buf, 0)
		if err != nil {
			return link{}, fmt.Errorf("netlink RTM_GETLINK: %w", err)
		}
		for b := buf[:nr]; len(b) >= unix.SizeofNlMsghdr; {
			mlen := int(binary.NativeEndian.Uint32(b))
			if mlen < unix.SizeofNlMsghdr || mlen > len(b) {
				return link{}, errors.New("netlink RTM_GETLINK answer: malformed message")
			}
			typ, mseq, data := binary.NativeEndian.Uint16(b[4:]), binary.NativeEndian.Uint32(b[8:]), b[unix.SizeofNlMsghdr:mlen]
			b = b[min(len(b), align(mlen)):]
			if mseq != n {
				continue // an answer to an earlier request
			}
			switch typ {
			case unix.NLMSG_ERROR:
				if len(data) < 4 {
					return link{}, errors.New("netlink RTM_GETLINK: short error")
				}
				if errno := -int32(binary.NativeEndian.Uint32(data)); errno != 0 {
					return link{}, unix.Errno(errno)
				}
			case unix.RTM_NEWLINK:
				return parseLink(data)
			}
		}
	}
}

func align(n int) int { return (n + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1) }

func appendAttr(b []byte, typ uint16, v []byte) []byte {
	l := unix.SizeofRtAttr + len(v)
	b = binary.NativeEndian.AppendUint16(b, uint16(l))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, v...)
	for len(b)%unix.NLMSG_ALIGNTO != 0 {
		b = append(b, 0)
	}
	return b
}

// parseLink reads an RTM_NEWLINK message's body: struct ifinfomsg and its
// attributes.
func parseLink(data []byte) (link, error) {
	if len(data) < unix.SizeofIfInfomsg {
		return link{}, errors.New("netlink RTM_NEWLINK: short message")
	}
	l := link{index: int(int32(binary.NativeEndian.Uint32(data[4:]))), peer: -1}
	for b := data[unix.SizeofIfInfomsg:]; len(b) >= unix.SizeofRtAttr; {
		n := int(binary.NativeEndian.Uint16(b))
		if n < unix.SizeofRtAttr || n > len(b) {
			return link{}, errors.New("netlink RTM_NEWLINK: malformed attribute")
		}
		v := b[unix.SizeofRtAttr:n]
		switch binary.NativeEndian.Uint16(b[2:]) &^ unix.NLA_F_NESTED {
		case unix.IFLA_IFNAME:
			l.name = cString(v)
		case unix.IFLA_ADDRESS:
			l.mac = net.HardwareAddr(v).String()
		case unix.IFLA_LINK:
			if len(v) >= 4 {
				l.peer = int(int32(binary.NativeEndian.Uint32(v)))
			}
		case unix.IFLA_LINKINFO:
			l.kind = infoKind(v)
		}
		b = b[min(len(b), align(n)):]
	}
	if l.peer == -1 {
		// The kernel leaves IFLA_LINK out when it equals the ifindex: a
		// veth whose peer has the same ifindex in its own namespace (the
		// first pod of a node often does).
		l.peer = l.index
	}
	return l, nil
}

// infoKind finds IFLA_INFO_KIND among the attributes nested in
// IFLA_LINKINFO.
func infoKind(b []byte) string {
	for len(b) >= unix.SizeofRtAttr {
		n := int(binary.NativeEndian.Uint16(b))
		typ := binary.NativeEndian.Uint16(b[2:])
		if n < unix.SizeofRtAttr || n > len(b) {
			return ""
		}
		if typ == unix.IFLA_INFO_KIND {
			return cString(b[unix.SizeofRtAttr:n])
		}
		b = b[min(len(b), align(n)):]
	}
	return ""
}

func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}
