package collect

import (
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"sync"
	"time"
)

// Classic pcap (what every Wireshark and tcpdump reads): a 24-byte global
// header, then per packet a 16-byte record header and the packet.
const (
	pcapMagicMicro  = 0xa1b2c3d4
	pcapSnapLen     = 65535 + 14 + 40 + 8 // the largest datagram with its synthesized headers
	linkTypeEther   = 1
	pcapRecordLen   = 16
	udpHeaderLen    = 8
	ipv4HeaderLen   = 20
	ipv6HeaderLen   = 40
	ethHeaderLen    = 14
	maxIPv4Payload  = 65535 - ipv4HeaderLen - udpHeaderLen
	protoUDP        = 17
	synthesizedTTL  = 64
	etherTypeIPv4   = 0x0800
	etherTypeIPv6   = 0x86dd
	ipv4DontFragmnt = 0x4000
)

// PcapWriter writes received report datagrams as Ethernet/IP/UDP packets:
// a socket hands over only the UDP payload, so the writer rebuilds the
// headers around it (zero MACs, the sender's real address and port, the
// listening address as destination, correct lengths and checksums) and
// Wireshark decodes the outer IP and UDP as they were.
type PcapWriter struct {
	mu    sync.Mutex
	w     io.Writer
	local netip.AddrPort
	buf   []byte
}

// NewPcapWriter writes the pcap global header to w. local is the address
// the collector listens on; when it is unspecified (":32766"), packets show
// the unspecified address of the sender's family as their destination.
func NewPcapWriter(w io.Writer, local netip.AddrPort) (*PcapWriter, error) {
	var h [24]byte
	binary.LittleEndian.PutUint32(h[0:], pcapMagicMicro)
	binary.LittleEndian.PutUint16(h[4:], 2) // version 2.4
	binary.LittleEndian.PutUint16(h[6:], 4)
	binary.LittleEndian.PutUint32(h[16:], pcapSnapLen)
	binary.LittleEndian.PutUint32(h[20:], linkTypeEther)
	if _, err := w.Write(h[:]); err != nil {
		return nil, fmt.Errorf("pcap header: %w", err)
	}
	return &PcapWriter{w: w, local: netip.AddrPortFrom(local.Addr().Unmap(), local.Port())}, nil
}

// WriteDatagram writes one received datagram as a packet.
func (p *PcapWriter) WriteDatagram(at time.Time, from netip.AddrPort, payload []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	src := from.Addr().Unmap()
	dst := p.local.Addr()
	if !dst.IsValid() || dst.Is4() != src.Is4() {
		dst = netip.IPv6Unspecified()
		if src.Is4() {
			dst = netip.IPv4Unspecified()
		}
	}
	if src.Is4() && len(payload) > maxIPv4Payload {
		payload = payload[:maxIPv4Payload] // cannot happen with a real IPv4 socket; keeps lengths in range
	}
	pkt := p.buf[:0]
	pkt = append(pkt, make([]byte, 12)...) // zero MACs: the socket does not say
	udpLen := udpHeaderLen + len(payload)
	if src.Is4() {
		pkt = binary.BigEndian.AppendUint16(pkt, etherTypeIPv4)
		ip := make([]byte, ipv4HeaderLen)
		ip[0] = 0x45
		binary.BigEndian.PutUint16(ip[2:], uint16(ipv4HeaderLen+udpLen))
		binary.BigEndian.PutUint16(ip[6:], ipv4DontFragmnt) // podint sends with DF
		ip[8], ip[9] = synthesizedTTL, protoUDP
		s, d := src.As4(), dst.As4()
		copy(ip[12:], s[:])
		copy(ip[16:], d[:])
		binary.BigEndian.PutUint16(ip[10:], ^onesSum(0, ip))
		pkt = append(pkt, ip...)
	} else {
		pkt = binary.BigEndian.AppendUint16(pkt, etherTypeIPv6)
		ip := make([]byte, ipv6HeaderLen)
		ip[0] = 0x60
		binary.BigEndian.PutUint16(ip[4:], uint16(udpLen))
		ip[6], ip[7] = protoUDP, synthesizedTTL
		s, d := src.As16(), dst.As16()
		copy(ip[8:], s[:])
		copy(ip[24:], d[:])
		pkt = append(pkt, ip...)
	}
	udp := len(pkt)
	pkt = binary.BigEndian.AppendUint16(pkt, from.Port())
	pkt = binary.BigEndian.AppendUint16(pkt, p.local.Port())
	pkt = binary.BigEndian.AppendUint16(pkt, uint16(udpLen))
	pkt = append(pkt, 0, 0)
	pkt = append(pkt, payload...)
	binary.BigEndian.PutUint16(pkt[udp+6:], udpChecksum(src, dst, pkt[udp:]))
	p.buf = pkt

	var rec [pcapRecordLen]byte
	binary.LittleEndian.PutUint32(rec[0:], uint32(at.Unix()))
	binary.LittleEndian.PutUint32(rec[4:], uint32(at.Nanosecond()/1000))
	binary.LittleEndian.PutUint32(rec[8:], uint32(len(pkt)))
	binary.LittleEndian.PutUint32(rec[12:], uint32(len(pkt)))
	if _, err := p.w.Write(rec[:]); err != nil {
		return fmt.Errorf("pcap record: %w", err)
	}
	if _, err := p.w.Write(pkt); err != nil {
		return fmt.Errorf("pcap record: %w", err)
	}
	return nil
}

// onesSum adds b to sum as 16-bit big-endian words, the Internet checksum's
// one's complement sum, folded.
func onesSum(sum uint32, b []byte) uint16 {
	for ; len(b) >= 2; b = b[2:] {
		sum += uint32(b[0])<<8 | uint32(b[1])
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return uint16(sum)
}

// udpChecksum is the UDP checksum of segment (its checksum field zero) over
// the pseudo header of src and dst; mandatory for IPv6, and a valid one
// keeps analyzers quiet for IPv4.
func udpChecksum(src, dst netip.Addr, segment []byte) uint16 {
	// The IPv6 pseudo header: addresses, a 32-bit length, 24 zero bits and
	// the protocol. For IPv4 (zero byte, protocol, 16-bit length) the same
	// words add up to the same sum, so one layout serves both.
	pseudo := append(src.AsSlice(), dst.AsSlice()...)
	pseudo = binary.BigEndian.AppendUint32(pseudo, uint32(len(segment)))
	pseudo = append(pseudo, 0, 0, 0, protoUDP)
	sum := ^onesSum(uint32(onesSum(0, pseudo)), segment)
	if sum == 0 {
		return 0xffff // zero means "no checksum" in UDP
	}
	return sum
}
