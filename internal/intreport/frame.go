package intreport

import "encoding/binary"

// synthTTL is the TTL (hop limit) of a synthesized IP header: a common
// default, so the header looks ordinary in a packet analyzer.
const synthTTL = 64

// appendInnerFrame appends the inner frame a report carries: the packet from
// its Ethernet header, at most snapLen bytes (snapLen <= 0 means
// DefaultSnapLen). A capture that starts at the IP header gets a synthesized
// Ethernet header (zero MAC addresses, EtherType from the IP version). A
// capture too short to show the packet's L4 header is replaced by Ethernet,
// IP and L4 headers synthesized from r.Flow, so a collector always sees the
// 5-tuple. Synthesized headers have zero L4 checksums and IPv4
// identification, and lengths taken from r.FrameLen.
func appendInnerFrame(dst []byte, r *Report, snapLen int) []byte {
	if snapLen <= 0 {
		snapLen = DefaultSnapLen
	}
	start := len(dst)
	_, err := ParseFrame(r.Frame, r.FrameL2)
	switch {
	case err == nil && r.FrameL2:
		dst = appendCapped(dst, r.Frame, snapLen)
	case err == nil:
		dst = appendEthernet(dst, etherTypeOfIP(r.Frame[0]))
		dst = appendCapped(dst, r.Frame, snapLen-ethHeaderLen)
	case r.Flow.IsValid():
		dst = appendSynthesized(dst, r)
	case r.FrameL2 && len(r.Frame) > 0:
		// Neither a parsable capture nor a flow to rebuild one from: carry
		// the bytes as they are; the collector reports why it cannot parse.
		dst = appendCapped(dst, r.Frame, snapLen)
	default:
		et := uint16(0)
		if len(r.Frame) > 0 {
			et = etherTypeOfIP(r.Frame[0])
		}
		dst = appendEthernet(dst, et)
		dst = appendCapped(dst, r.Frame, snapLen-ethHeaderLen)
	}
	if len(dst)-start > snapLen {
		dst = dst[:start+snapLen]
	}
	return dst
}

func appendCapped(dst, b []byte, n int) []byte {
	if n <= 0 {
		return dst
	}
	if len(b) > n {
		b = b[:n]
	}
	return append(dst, b...)
}

func etherTypeOfIP(firstByte byte) uint16 {
	switch firstByte >> 4 {
	case 4:
		return etherTypeIPv4
	case 6:
		return etherTypeIPv6
	}
	return 0
}

// appendEthernet appends an Ethernet header with zero MAC addresses: the
// probe saw the packet without one, and zero says plainly that none was seen.
func appendEthernet(dst []byte, etherType uint16) []byte {
	var h [ethHeaderLen]byte
	binary.BigEndian.PutUint16(h[12:], etherType)
	return append(dst, h[:]...)
}

// appendSynthesized appends Ethernet, IP and L4 headers built from r.Flow.
func appendSynthesized(dst []byte, r *Report) []byte {
	f := r.Flow
	ipHdr := ipv4MinHeaderLen
	et := uint16(etherTypeIPv4)
	if f.Src.Is6() {
		ipHdr, et = ipv6HeaderLen, etherTypeIPv6
	}
	l4 := l4HeaderLen(f.Proto)
	// The IP length the original packet had, when the probe told us.
	ipLen := int(r.FrameLen)
	if r.FrameL2 {
		ipLen -= ethHeaderLen
	}
	maxLen := 0xffff // IPv4 total length counts the header
	if f.Src.Is6() {
		maxLen += ipv6HeaderLen // IPv6 payload length does not
	}
	ipLen = min(max(ipLen, ipHdr+l4), maxLen)

	dst = appendEthernet(dst, et)
	if f.Src.Is4() {
		var h [ipv4MinHeaderLen]byte
		h[0] = 0x45
		binary.BigEndian.PutUint16(h[2:], uint16(ipLen))
		h[8] = synthTTL
		h[9] = f.Proto
		s, d := f.Src.As4(), f.Dst.As4()
		copy(h[12:], s[:])
		copy(h[16:], d[:])
		binary.BigEndian.PutUint16(h[10:], ipv4Checksum(h[:]))
		dst = append(dst, h[:]...)
	} else {
		var h [ipv6HeaderLen]byte
		h[0] = 0x60
		binary.BigEndian.PutUint16(h[4:], uint16(ipLen-ipv6HeaderLen))
		h[6] = f.Proto
		h[7] = synthTTL
		s, d := f.Src.As16(), f.Dst.As16()
		copy(h[8:], s[:])
		copy(h[24:], d[:])
		dst = append(dst, h[:]...)
	}
	if l4 == 0 {
		return dst
	}
	var h [20]byte
	switch f.Proto {
	case ProtoICMP, ProtoICMPv6:
		h[0], h[1] = byte(f.SrcPort), byte(f.DstPort)
	default:
		binary.BigEndian.PutUint16(h[0:], f.SrcPort)
		binary.BigEndian.PutUint16(h[2:], f.DstPort)
	}
	switch f.Proto {
	case ProtoTCP:
		h[12] = 5 << 4 // data offset: a bare 20-byte header
	case ProtoUDP:
		binary.BigEndian.PutUint16(h[4:], uint16(min(ipLen-ipHdr, 0xffff)))
	}
	return append(dst, h[:l4]...)
}

// ipv4Checksum is the Internet checksum of an IPv4 header whose checksum
// field is zero; a correct one keeps analyzers from flagging the header.
func ipv4Checksum(h []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(h); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}
