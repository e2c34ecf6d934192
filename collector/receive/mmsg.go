package receive

import (
	"encoding/binary"
	"net"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mmsgReader reads batches of datagrams with recvmmsg into buffers it
// owns, and gives each datagram's sender as a netip.AddrPort: nothing is
// allocated per datagram (golang.org/x/net's ReadBatch allocates the
// sender's address of each).
type mmsgReader struct {
	rc    syscall.RawConn
	hdrs  []unix.Mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet6 // large enough for either family
	bufs  [][]byte
	ctrls [][]byte // each message's control data: the UDP_GRO segment size
}

// groCmsgSpace is the control buffer of one message: one int (UDP_GRO).
var groCmsgSpace = unix.CmsgSpace(4)

func newMmsgReader(c *net.UDPConn, batch, size int) (*mmsgReader, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	m := &mmsgReader{rc: rc, hdrs: make([]unix.Mmsghdr, batch), iovs: make([]unix.Iovec, batch),
		names: make([]unix.RawSockaddrInet6, batch), bufs: make([][]byte, batch), ctrls: make([][]byte, batch)}
	ctrl := make([]byte, batch*groCmsgSpace)
	for i := range batch {
		m.ctrls[i] = ctrl[i*groCmsgSpace : (i+1)*groCmsgSpace]
		m.bufs[i] = make([]byte, size)
		m.iovs[i].Base = &m.bufs[i][0]
		m.iovs[i].SetLen(size)
	}
	return m, nil
}

// read waits for datagrams and returns how many it read.
func (m *mmsgReader) read() (int, error) {
	for i := range m.hdrs {
		h := &m.hdrs[i].Hdr
		h.Name = (*byte)(unsafe.Pointer(&m.names[i]))
		h.Namelen = uint32(unsafe.Sizeof(m.names[i]))
		h.Iov = &m.iovs[i]
		h.SetIovlen(1)
		h.Control = &m.ctrls[i][0]
		h.SetControllen(groCmsgSpace)
		m.hdrs[i].Len = 0
	}
	var n int
	var errno syscall.Errno
	err := m.rc.Read(func(fd uintptr) bool {
		r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&m.hdrs[0])), uintptr(len(m.hdrs)),
			unix.MSG_DONTWAIT, 0, 0)
		if e == unix.EAGAIN {
			return false // the runtime's poller waits until the socket is readable
		}
		n, errno = int(r), e
		return true
	})
	if err != nil {
		return 0, err
	}
	if errno != 0 {
		return 0, errno
	}
	return n, nil
}

// datagram is the i-th datagram read and its sender.
func (m *mmsgReader) datagram(i int) ([]byte, netip.AddrPort) {
	b := m.bufs[i][:m.hdrs[i].Len]
	sa := &m.names[i]
	switch sa.Family {
	case unix.AF_INET:
		a4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return b, netip.AddrPortFrom(netip.AddrFrom4(a4.Addr), port(a4.Port))
	case unix.AF_INET6:
		return b, netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), port(sa.Port))
	}
	return b, netip.AddrPort{}
}

// segmentSize is the size of each datagram the kernel coalesced into
// message i (UDP_GRO: a sender's run of equal-sized datagrams, the last
// one possibly shorter), 0 when the message is one datagram.
func (m *mmsgReader) segmentSize(i int) int {
	h := &m.hdrs[i].Hdr
	ctrl := m.ctrls[i][:min(int(h.Controllen), len(m.ctrls[i]))]
	for len(ctrl) >= unix.SizeofCmsghdr {
		c := (*unix.Cmsghdr)(unsafe.Pointer(&ctrl[0]))
		if int(c.Len) < unix.SizeofCmsghdr || int(c.Len) > len(ctrl) {
			return 0
		}
		if c.Level == unix.SOL_UDP && c.Type == unix.UDP_GRO && int(c.Len) >= unix.CmsgLen(4) {
			return int(*(*int32)(unsafe.Pointer(&ctrl[unix.CmsgLen(0)])))
		}
		ctrl = ctrl[min(unix.CmsgSpace(int(c.Len)-unix.CmsgLen(0)), len(ctrl)):]
	}
	return 0
}

// port turns a sockaddr's port (network byte order in memory) into a number.
func port(p uint16) uint16 {
	var b [2]byte
	*(*uint16)(unsafe.Pointer(&b[0])) = p
	return binary.BigEndian.Uint16(b[:])
}
