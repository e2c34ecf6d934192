package intreport

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// EtherTypes and lengths of the headers the inner frame parser knows.
const (
	etherTypeIPv4     = 0x0800
	etherTypeIPv6     = 0x86dd
	etherTypeVLAN     = 0x8100
	etherTypeQinQ     = 0x88a8
	etherTypeTEB      = 0x6558 // transparent Ethernet bridging, Geneve's Ethernet payload
	ethHeaderLen      = 14
	ipv4MinHeaderLen  = 20
	ipv6HeaderLen     = 40
	maxVLANTags       = 4 // more than QinQ needs; bounds the loop on hostile input
	maxIPv6ExtHeaders = 8
)

// UDP ports of the overlays whose inner flow the parser reports: the
// probes' (bpf/c/parse.h), which bpf's tests hold these to.
const (
	PortVXLAN      = 4789
	PortVXLANLinux = 8472 // the Linux kernel's (and flannel's) historical VXLAN port
	PortGeneve     = 6081
)

// Packet is what the inner frame of a report says about the packet.
type Packet struct {
	VLAN     uint16 // outermost 802.1Q VLAN id, 0 if untagged
	Flow     Flow   // from the outermost IP header and its L4 header
	Fragment bool   // a non-first IP fragment: it has no L4 header, so no ports
	Tunnel   *Tunnel
	IPLen    int // IP total length from the header (v6: 40 + payload length), 0 if unknown
	L3Offset int // where the IP header starts in the frame
}

// Tunnel is the overlay (VXLAN or Geneve) a packet carries and the flow of
// the packet inside it.
type Tunnel struct {
	Proto string // "vxlan" or "geneve"
	VNI   uint32
	Inner Flow
	Err   error // why Inner is incomplete (a truncated capture), nil if complete
}

// ParseFrame parses the headers at the start of b: from Ethernet when l2,
// otherwise from the IP header. It returns what it could learn even when it
// also returns an error: a capture truncated inside the L4 header still has
// its addresses. An overlay's inner packet that cannot be parsed is not an
// error of the frame; it is recorded in Tunnel.Err.
func ParseFrame(b []byte, l2 bool) (Packet, error) {
	var p Packet
	err := parseFrame(&p, b, l2, true)
	return p, err
}

func parseFrame(p *Packet, b []byte, l2, tunnels bool) error {
	off := 0
	etherType := uint16(0)
	if l2 {
		if len(b) < ethHeaderLen {
			return fmt.Errorf("Ethernet header: %d bytes, need %d", len(b), ethHeaderLen)
		}
		etherType = binary.BigEndian.Uint16(b[12:])
		off = ethHeaderLen
		for tags := 0; etherType == etherTypeVLAN || etherType == etherTypeQinQ; tags++ {
			if tags == maxVLANTags {
				return fmt.Errorf("more than %d VLAN tags", maxVLANTags)
			}
			if len(b) < off+4 {
				return fmt.Errorf("VLAN tag at byte %d: %d bytes, need 4", off, len(b)-off)
			}
			if tags == 0 {
				p.VLAN = binary.BigEndian.Uint16(b[off:]) & 0x0fff
			}
			etherType = binary.BigEndian.Uint16(b[off+2:])
			off += 4
		}
	} else {
		if len(b) == 0 {
			return errors.New("IP header: 0 bytes")
		}
		switch b[0] >> 4 {
		case 4:
			etherType = etherTypeIPv4
		case 6:
			etherType = etherTypeIPv6
		default:
			return fmt.Errorf("IP version %d is neither 4 nor 6", b[0]>>4)
		}
	}
	p.L3Offset = off
	switch etherType {
	case etherTypeIPv4:
		return parseIPv4(p, b[off:], tunnels)
	case etherTypeIPv6:
		return parseIPv6(p, b[off:], tunnels)
	}
	return fmt.Errorf("EtherType 0x%04x is not IPv4 or IPv6", etherType)
}

func parseIPv4(p *Packet, b []byte, tunnels bool) error {
	if len(b) < ipv4MinHeaderLen {
		return fmt.Errorf("IPv4 header: %d bytes, need %d", len(b), ipv4MinHeaderLen)
	}
	if v := b[0] >> 4; v != 4 {
		return fmt.Errorf("IPv4 header: version %d, want 4", v)
	}
	hl := int(b[0]&0x0f) * 4
	if hl < ipv4MinHeaderLen {
		return fmt.Errorf("IPv4 header: length %d bytes, below the minimum of %d", hl, ipv4MinHeaderLen)
	}
	p.Flow.Src = netip.AddrFrom4([4]byte(b[12:16]))
	p.Flow.Dst = netip.AddrFrom4([4]byte(b[16:20]))
	p.Flow.Proto = b[9]
	p.IPLen = int(binary.BigEndian.Uint16(b[2:]))
	if len(b) < hl {
		return fmt.Errorf("IPv4 header with options: %d bytes, need %d", len(b), hl)
	}
	if binary.BigEndian.Uint16(b[6:])&0x1fff != 0 {
		p.Fragment = true
		return nil
	}
	return parseL4(p, b[hl:], tunnels)
}

func parseIPv6(p *Packet, b []byte, tunnels bool) error {
	if len(b) < ipv6HeaderLen {
		return fmt.Errorf("IPv6 header: %d bytes, need %d", len(b), ipv6HeaderLen)
	}
	if v := b[0] >> 4; v != 6 {
		return fmt.Errorf("IPv6 header: version %d, want 6", v)
	}
	p.Flow.Src = netip.AddrFrom16([16]byte(b[8:24]))
	p.Flow.Dst = netip.AddrFrom16([16]byte(b[24:40]))
	p.IPLen = ipv6HeaderLen + int(binary.BigEndian.Uint16(b[4:]))
	next := b[6]
	off := ipv6HeaderLen
	for range maxIPv6ExtHeaders {
		p.Flow.Proto = next
		var n int
		switch next {
		case 0, 43, 60: // hop-by-hop, routing, destination options: length in 8-byte units after the first 8
			if len(b) < off+2 {
				return fmt.Errorf("IPv6 extension header %d: %d bytes, need 2", next, len(b)-off)
			}
			n = (int(b[off+1]) + 1) * 8
		case 51: // authentication header: length in 4-byte units after the first 8
			if len(b) < off+2 {
				return fmt.Errorf("IPv6 authentication header: %d bytes, need 2", len(b)-off)
			}
			n = (int(b[off+1]) + 2) * 4
		case 44: // fragment
			if len(b) < off+8 {
				return fmt.Errorf("IPv6 fragment header: %d bytes, need 8", len(b)-off)
			}
			if binary.BigEndian.Uint16(b[off+2:])>>3 != 0 {
				p.Flow.Proto = b[off]
				p.Fragment = true
				return nil
			}
			n = 8
		default:
			return parseL4(p, b[off:], tunnels)
		}
		if len(b) < off+n {
			return fmt.Errorf("IPv6 extension header %d: %d bytes, need %d", next, len(b)-off, n)
		}
		next = b[off]
		off += n
	}
	return fmt.Errorf("IPv6: more than %d extension headers", maxIPv6ExtHeaders)
}

// l4HeaderLen is the fixed header length of the protocols whose ports (or
// ICMP type and code) a flow carries, 0 for protocols without them.
func l4HeaderLen(proto uint8) int {
	switch proto {
	case ProtoTCP:
		return 20
	case ProtoUDP, ProtoICMP, ProtoICMPv6:
		return 8
	case ProtoSCTP:
		return 12
	}
	return 0
}

func parseL4(p *Packet, b []byte, tunnels bool) error {
	need := l4HeaderLen(p.Flow.Proto)
	if need == 0 {
		return nil
	}
	name := ProtoName(p.Flow.Proto)
	switch p.Flow.Proto {
	case ProtoICMP, ProtoICMPv6:
		if len(b) >= 2 {
			p.Flow.SrcPort, p.Flow.DstPort = uint16(b[0]), uint16(b[1])
		}
	default:
		if len(b) >= 4 {
			p.Flow.SrcPort = binary.BigEndian.Uint16(b)
			p.Flow.DstPort = binary.BigEndian.Uint16(b[2:])
		}
	}
	if len(b) < need {
		return fmt.Errorf("%s header: %d bytes, need %d", name, len(b), need)
	}
	if p.Flow.Proto == ProtoUDP && tunnels {
		parseTunnel(p, b[need:])
	}
	return nil
}

// parseTunnel records the overlay a UDP packet carries. Only one level is
// parsed: podint reports the flow inside the node's overlay, not deeper.
func parseTunnel(p *Packet, b []byte) {
	var t Tunnel
	var inner []byte
	l2 := true
	switch p.Flow.DstPort {
	case PortVXLAN, PortVXLANLinux:
		t.Proto = "vxlan"
		if len(b) < 8 {
			t.Err = fmt.Errorf("VXLAN header: %d bytes, need 8", len(b))
			break
		}
		if b[0]&0x08 == 0 { // the I flag says the VNI is valid; without it this is not VXLAN
			return
		}
		t.VNI = uint32(b[4])<<16 | uint32(b[5])<<8 | uint32(b[6])
		inner = b[8:]
	case PortGeneve:
		t.Proto = "geneve"
		if len(b) < 8 {
			t.Err = fmt.Errorf("Geneve header: %d bytes, need 8", len(b))
			break
		}
		if b[0]>>6 != 0 {
			return // an unknown Geneve version: its layout is not ours to guess
		}
		hl := 8 + int(b[0]&0x3f)*4
		t.VNI = uint32(b[4])<<16 | uint32(b[5])<<8 | uint32(b[6])
		switch pt := binary.BigEndian.Uint16(b[2:]); pt {
		case etherTypeTEB:
		case etherTypeIPv4, etherTypeIPv6:
			l2 = false
		default:
			t.Err = fmt.Errorf("Geneve protocol type 0x%04x is not Ethernet or IP", pt)
		}
		if t.Err == nil && len(b) < hl {
			t.Err = fmt.Errorf("Geneve header with options: %d bytes, need %d", len(b), hl)
		}
		if t.Err == nil {
			inner = b[hl:]
		}
	default:
		return
	}
	if t.Err == nil {
		var ip Packet
		if err := parseFrame(&ip, inner, l2, false); err != nil {
			t.Err = fmt.Errorf("%s inner packet: %w", t.Proto, err)
		}
		t.Inner = ip.Flow
	}
	// A copy escapes, not t: taking t's address would put every UDP
	// packet's t on the heap, tunnel or not (an allocation per report).
	tunnel := t
	p.Tunnel = &tunnel
}
