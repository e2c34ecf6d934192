package harness

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Holder is an NFQUEUE handler that holds every packet of its queue for a
// fixed delay before accepting it: a known extra time between a packet's
// ingress and egress ports, as a busy switch pipeline would add. The packet
// is the same sk_buff when it is reinjected.
type Holder struct {
	fd    int
	queue uint16
	delay time.Duration

	mu     sync.Mutex
	held   int
	closed bool
}

// nfnetlink constants (linux/netfilter/nfnetlink_queue.h).
const (
	nfnlSubsysQueue  = 3
	nfqnlMsgPacket   = 0
	nfqnlMsgVerdict  = 1
	nfqnlMsgConfig   = 2
	nfqaCfgCmd       = 1
	nfqaCfgParams    = 2
	nfqaPacketHdr    = 1
	nfqaVerdictHdr   = 2
	nfqnlCfgCmdBind  = 1
	nfqnlCopyMeta    = 1
	nfAccept         = 1
	netlinkNetfilter = 12
	nfgenmsgLen      = 4
)

// NewHolder binds NFQUEUE queue inside ns; packets sent to it (nftables
// `queue num N`) are accepted after delay.
func NewHolder(ns *NetNS, queue uint16, delay time.Duration) (*Holder, error) {
	h := &Holder{queue: queue, delay: delay, fd: -1}
	err := ns.Do(func() (err error) {
		h.fd, err = unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, netlinkNetfilter)
		if err != nil {
			return err
		}
		// A receive timeout lets serve notice Close.
		tv := unix.Timeval{Usec: 200000}
		if err := unix.SetsockoptTimeval(h.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return err
		}
		return unix.Bind(h.fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
	})
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("nfqueue socket: %w", err)
	}
	bind := attr(nfqaCfgCmd, []byte{nfqnlCfgCmdBind, 0, 0, 0})
	params := make([]byte, 5)
	binary.BigEndian.PutUint32(params, 0xffff)
	params[4] = nfqnlCopyMeta
	for _, a := range [][]byte{bind, attr(nfqaCfgParams, params)} {
		if err := h.send(nfqnlMsgConfig, a, unix.NLM_F_ACK); err != nil {
			h.Close()
			return nil, fmt.Errorf("nfqueue %d config: %w", queue, err)
		}
		if err := h.readAck(); err != nil {
			h.Close()
			return nil, fmt.Errorf("nfqueue %d config: %w", queue, err)
		}
	}
	go h.serve()
	return h, nil
}

func attr(typ uint16, data []byte) []byte {
	n := 4 + len(data)
	b := make([]byte, (n+3)&^3)
	binary.LittleEndian.PutUint16(b[0:], uint16(n))
	binary.LittleEndian.PutUint16(b[2:], typ)
	copy(b[4:], data)
	return b
}

func (h *Holder) send(msg uint16, attrs []byte, flags uint16) error {
	b := make([]byte, unix.NLMSG_HDRLEN+nfgenmsgLen+len(attrs))
	binary.LittleEndian.PutUint32(b[0:], uint32(len(b)))
	binary.LittleEndian.PutUint16(b[4:], nfnlSubsysQueue<<8|msg)
	binary.LittleEndian.PutUint16(b[6:], unix.NLM_F_REQUEST|flags)
	b[unix.NLMSG_HDRLEN] = unix.AF_UNSPEC
	binary.BigEndian.PutUint16(b[unix.NLMSG_HDRLEN+2:], h.queue)
	copy(b[unix.NLMSG_HDRLEN+nfgenmsgLen:], attrs)
	return unix.Sendto(h.fd, b, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
}

func (h *Holder) readAck() error {
	buf := make([]byte, 4096)
	n, _, err := unix.Recvfrom(h.fd, buf, 0)
	if err != nil {
		return err
	}
	msgs, err := syscall.ParseNetlinkMessage(buf[:n])
	if err != nil {
		return err
	}
	for _, m := range msgs {
		if m.Header.Type == unix.NLMSG_ERROR && len(m.Data) >= 4 {
			if code := int32(binary.LittleEndian.Uint32(m.Data)); code != 0 {
				return syscall.Errno(-code)
			}
		}
	}
	return nil
}

func (h *Holder) serve() {
	buf := make([]byte, 1<<16)
	for {
		h.mu.Lock()
		closed := h.closed
		h.mu.Unlock()
		if closed {
			return
		}
		n, _, err := unix.Recvfrom(h.fd, buf, 0)
		if err != nil {
			if errors.Is(err, unix.EINTR) || errors.Is(err, unix.ENOBUFS) || errors.Is(err, unix.EAGAIN) {
				continue
			}
			return
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			continue
		}
		for _, m := range msgs {
			if m.Header.Type != nfnlSubsysQueue<<8|nfqnlMsgPacket {
				continue
			}
			if id, ok := packetID(m.Data); ok {
				h.mu.Lock()
				h.held++
				h.mu.Unlock()
				time.AfterFunc(h.delay, func() { h.accept(id) })
			}
		}
	}
}

// packetID finds NFQA_PACKET_HDR in a packet message.
func packetID(b []byte) (uint32, bool) {
	b = b[min(nfgenmsgLen, len(b)):]
	for len(b) >= 4 {
		l := int(binary.LittleEndian.Uint16(b))
		typ := binary.LittleEndian.Uint16(b[2:]) & 0x7fff
		if l < 4 || l > len(b) {
			return 0, false
		}
		if typ == nfqaPacketHdr && l >= 8 {
			return binary.BigEndian.Uint32(b[4:]), true
		}
		b = b[min((l+3)&^3, len(b)):]
	}
	return 0, false
}

func (h *Holder) accept(id uint32) {
	v := make([]byte, 8)
	binary.BigEndian.PutUint32(v, nfAccept)
	binary.BigEndian.PutUint32(v[4:], id)
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.closed {
		_ = h.send(nfqnlMsgVerdict, attr(nfqaVerdictHdr, v), 0)
	}
}

// Held counts the packets the holder has received.
func (h *Holder) Held() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.held
}

// Close unbinds the queue; packets still held are dropped by the kernel.
func (h *Holder) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	if h.fd >= 0 {
		err := unix.Close(h.fd)
		h.fd = -1
		return err
	}
	return nil
}
