package intreport

import (
	"encoding/binary"
	"fmt"
)

// Telemetry Report v0.5 layout. The fixed header's first word is
// ver(4) nproto(4) d(1) q(1) f(1) reserved(15) hw_id(6), big-endian, bit 0
// the most significant.
const (
	v05FixedLen = 12
	v05LocalLen = 16 // switch-local report: a flow through the node
	v05DropLen  = 12
	// V05MaxHeaderLen is the most a v0.5 report adds before the inner
	// frame: the fixed header and the larger of the two report headers.
	V05MaxHeaderLen = v05FixedLen + v05LocalLen

	nprotoEthernet = 0
	nprotoDrop     = 1
	nprotoLocal    = 2

	v05FlagD  = 1 << 23
	v05FlagQ  = 1 << 22
	v05FlagF  = 1 << 21
	hwIDMask  = 0x3f
	occupancy = 1<<24 - 1 // the widest queue occupancy the 24-bit fields hold
)

// AppendV05 appends r as one Telemetry Report v0.5 datagram (the UDP
// payload): the fixed header, a switch-local report (flow, f=1) or a drop
// report (d=1), then the inner frame from Ethernet, at most snapLen bytes
// (<= 0: DefaultSnapLen). Only the low 6 bits of hwID, the low 16 bits of
// the ports and the low 32 bits of the timestamps fit the format; a queue
// occupancy above 2^24-1 is sent as 2^24-1. Reserved and pad bits are zero.
// A flow report without a probed ingress (r.NoIngress) has no field to say
// so: its ingress timestamp is its egress timestamp, which the decoder
// reads as "hop latency unknown" (a measured one is never exactly 0 ns).
func AppendV05(dst []byte, r *Report, hwID uint8, seq uint32, snapLen int) []byte {
	word := uint32(hwID & hwIDMask)
	ingressTS := r.IngressTS
	if r.Kind == KindDrop {
		word |= nprotoDrop<<24 | v05FlagD
	} else {
		word |= nprotoLocal<<24 | v05FlagF
		if r.NoIngress {
			ingressTS = r.EgressTS
		}
	}
	dst = binary.BigEndian.AppendUint32(dst, word)
	dst = binary.BigEndian.AppendUint32(dst, seq)
	dst = binary.BigEndian.AppendUint32(dst, uint32(ingressTS))
	dst = binary.BigEndian.AppendUint32(dst, r.SwitchID)
	dst = binary.BigEndian.AppendUint16(dst, uint16(r.IngressPort))
	dst = binary.BigEndian.AppendUint16(dst, uint16(r.EgressPort))
	if r.Kind == KindDrop {
		dst = append(dst, r.QueueID, r.DropReason, 0, 0)
	} else {
		dst = binary.BigEndian.AppendUint32(dst, uint32(r.QueueID)<<24|min(r.QueueOccupancy, occupancy))
		dst = binary.BigEndian.AppendUint32(dst, uint32(r.EgressTS))
	}
	return appendInnerFrame(dst, r, snapLen)
}

// decodeV05 decodes a v0.5 datagram; b holds at least the first byte.
func decodeV05(d *Datagram, b []byte, reports []Decoded) error {
	if len(b) < v05FixedLen {
		return fmt.Errorf("v0.5 report: %d bytes, need at least %d for the fixed header", len(b), v05FixedLen)
	}
	word := binary.BigEndian.Uint32(b)
	*d = Datagram{
		Format: FormatV05,
		HwID:   uint8(word & hwIDMask),
		Seq:    binary.BigEndian.Uint32(b[4:]),
	}
	reports = append(reports, Decoded{})
	rep := &reports[0]
	rep.Flags = Flags{D: word&v05FlagD != 0, Q: word&v05FlagQ != 0, F: word&v05FlagF != 0}
	rep.IngressTS = uint64(binary.BigEndian.Uint32(b[8:]))
	off := v05FixedLen
	switch nproto := word >> 24 & 0xf; nproto {
	case nprotoLocal:
		if len(b) < off+v05LocalLen {
			return fmt.Errorf("v0.5 report: %d bytes, need at least %d for a local report", len(b), off+v05LocalLen)
		}
		m := b[off:]
		rep.Kind = KindFlow
		rep.SwitchID = binary.BigEndian.Uint32(m)
		rep.IngressPort = uint32(binary.BigEndian.Uint16(m[4:]))
		rep.EgressPort = uint32(binary.BigEndian.Uint16(m[6:]))
		rep.QueueID = m[8]
		rep.QueueOccupancy = binary.BigEndian.Uint32(m[8:]) & occupancy
		rep.EgressTS = uint64(binary.BigEndian.Uint32(m[12:]))
		rep.NoIngress = rep.EgressTS == rep.IngressTS // AppendV05's "hop latency unknown"
		off += v05LocalLen
	case nprotoDrop:
		if len(b) < off+v05DropLen {
			return fmt.Errorf("v0.5 report: %d bytes, need at least %d for a drop report", len(b), off+v05DropLen)
		}
		m := b[off:]
		rep.Kind = KindDrop
		rep.SwitchID = binary.BigEndian.Uint32(m)
		rep.IngressPort = uint32(binary.BigEndian.Uint16(m[4:]))
		rep.EgressPort = uint32(binary.BigEndian.Uint16(m[6:]))
		rep.QueueID = m[8]
		rep.DropReason = m[9]
		off += v05DropLen
	case nprotoEthernet:
		// No metadata: only the fixed header's flags say what this is.
		if rep.Flags.D {
			rep.Kind = KindDrop
		}
	default:
		return fmt.Errorf("v0.5 report: next protocol %d is not 0 (Ethernet), 1 (drop report) or 2 (local report)", nproto)
	}
	d.NodeID = rep.SwitchID
	rep.setFrame(b[off:], true)
	d.Reports = reports
	return nil
}
