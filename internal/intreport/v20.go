package intreport

import (
	"encoding/binary"
	"fmt"
	"math/bits"
)

// Telemetry Report v2.0 layout: an 8-byte group header
// ver(4)=2 hw_id(6) seq(22) | node_id(32), then individual reports, each
// rep_type(4) in_type(4) report_length(8) md_length(8) d q f i rsvd(4), and
// for rep_type INT: rep_md_bits(16) domain_specific_id(16) ds_md_bits(16)
// ds_md_status(16), metadata in ascending bit order, the inner contents.
const (
	v20GroupLen     = 8
	v20ReportHdrLen = 4
	v20INTHdrLen    = 8

	repTypeInnerOnly = 0
	repTypeINT       = 1

	inTypeNone     = 0
	inTypeEthernet = 3
	inTypeIPv4     = 4
	inTypeIPv6     = 5

	// rep_md_bits, bit 0 being the most significant of the 16.
	mdPorts       uint16 = 1 << (15 - 1) // level-1 ingress, egress port ids, 16 bits each
	mdHopLatency  uint16 = 1 << (15 - 2)
	mdQueue       uint16 = 1 << (15 - 3) // queue id 8, occupancy 24
	mdIngressTS   uint16 = 1 << (15 - 4) // 64 bits
	mdEgressTS    uint16 = 1 << (15 - 5) // 64 bits
	mdPortsL2     uint16 = 1 << (15 - 6) // level-2 ingress, egress port ids, 32 bits each
	mdTxUtil      uint16 = 1 << (15 - 7)
	mdBuffer      uint16 = 1 << (15 - 8)
	mdDrop        uint16 = 1 << (15 - 15) // queue id 8, drop reason 8, pad 16
	mdEightOctets        = mdIngressTS | mdEgressTS | mdPortsL2

	maxReportWords = 0xff // report_length is 8 bits of 4-byte words
)

// mdLen is the length in bytes of the baseline metadata that bits select:
// four octets per bit, eight for bits 4, 5 and 6 (reserved bits included,
// so a receiver can skip metadata it does not know).
func mdLen(b uint16) int {
	return 4 * (bits.OnesCount16(b) + bits.OnesCount16(b&mdEightOctets))
}

// v20MDBits selects the metadata podint sends for r: ports, hop latency,
// queue and both timestamps for a flow; ports, ingress timestamp and drop
// reason for a drop. A flow report without a probed ingress (NoIngress)
// leaves out the hop latency and the ingress timestamp: both are unknown.
// Port ids wider than 16 bits add the level-2 ids.
func v20MDBits(r *Report) uint16 {
	b := mdPorts
	switch {
	case r.Kind == KindDrop:
		b |= mdIngressTS | mdDrop
	case r.NoIngress:
		b |= mdQueue | mdEgressTS
	default:
		b |= mdIngressTS | mdHopLatency | mdQueue | mdEgressTS
	}
	if r.IngressPort > 0xffff || r.EgressPort > 0xffff {
		b |= mdPortsL2
	}
	return b
}

// appendV20Report appends one individual INT report whose inner frame is
// at most frameMax bytes; frameMax is a multiple of 4.
func appendV20Report(dst []byte, r *Report, snapLen, frameMax int) []byte {
	md := v20MDBits(r)
	start := len(dst)
	dst = append(dst, make([]byte, v20ReportHdrLen)...) // filled in below, once the length is known
	dst = binary.BigEndian.AppendUint16(dst, md)
	dst = append(dst, 0, 0, 0, 0, 0, 0) // domain specific id, ds_md_bits, ds_md_status
	if md&mdPorts != 0 {
		dst = binary.BigEndian.AppendUint16(dst, uint16(r.IngressPort))
		dst = binary.BigEndian.AppendUint16(dst, uint16(r.EgressPort))
	}
	if md&mdHopLatency != 0 {
		lat, _ := r.HopLatency()
		dst = binary.BigEndian.AppendUint32(dst, uint32(min(lat, 0xffffffff)))
	}
	if md&mdQueue != 0 {
		dst = binary.BigEndian.AppendUint32(dst, uint32(r.QueueID)<<24|min(r.QueueOccupancy, occupancy))
	}
	if md&mdIngressTS != 0 {
		dst = binary.BigEndian.AppendUint64(dst, r.IngressTS)
	}
	if md&mdEgressTS != 0 {
		dst = binary.BigEndian.AppendUint64(dst, r.EgressTS)
	}
	if md&mdPortsL2 != 0 {
		dst = binary.BigEndian.AppendUint32(dst, r.IngressPort)
		dst = binary.BigEndian.AppendUint32(dst, r.EgressPort)
	}
	if md&mdDrop != 0 {
		dst = append(dst, r.QueueID, r.DropReason, 0, 0)
	}
	inType := byte(inTypeNone)
	if limit := min(snapLen, frameMax); limit > 0 {
		inType = inTypeEthernet
		frameStart := len(dst)
		dst = appendInnerFrame(dst, r, limit)
		for (len(dst)-frameStart)%4 != 0 { // report_length counts words: pad with zeros
			dst = append(dst, 0)
		}
	}
	flags := byte(0x20) // f: a tracked flow
	if r.Kind == KindDrop {
		flags = 0x80 // d: dropped
	}
	h := dst[start:]
	h[0] = repTypeINT<<4 | inType
	h[1] = byte((len(dst) - start - v20ReportHdrLen) / 4)
	h[2] = byte(mdLen(md) / 4)
	h[3] = flags
	return dst
}

// v20ReportRoom is the most inner frame bytes an individual report with
// metadata md can carry: report_length is 8 bits of words.
func v20ReportRoom(md uint16) int {
	return (maxReportWords*4 - v20INTHdrLen - mdLen(md)) &^ 3
}

func appendV20Group(dst []byte, hwID uint8, seq, nodeID uint32) []byte {
	dst = binary.BigEndian.AppendUint32(dst, 2<<28|uint32(hwID&hwIDMask)<<22|seq&(1<<22-1))
	return binary.BigEndian.AppendUint32(dst, nodeID)
}

// AppendV20 appends r as a Telemetry Report v2.0 datagram holding just r:
// the group header (node id = r.SwitchID) and one individual INT report
// whose inner frame is the packet from Ethernet, at most snapLen bytes
// (<= 0: DefaultSnapLen; at most 980 or so, as report_length is 8 bits of
// words), zero-padded to a multiple of 4. V20Batch coalesces several.
func AppendV20(dst []byte, r *Report, hwID uint8, seq uint32, snapLen int) []byte {
	if snapLen <= 0 {
		snapLen = DefaultSnapLen
	}
	dst = appendV20Group(dst, hwID, seq, r.SwitchID)
	return appendV20Report(dst, r, snapLen, v20ReportRoom(v20MDBits(r)))
}

// decodeV20 decodes a v2.0 datagram; b holds at least the first byte.
func decodeV20(d *Datagram, b []byte, reports []Decoded) error {
	if len(b) < v20GroupLen {
		return fmt.Errorf("v2.0 report: %d bytes, need at least %d for the group header", len(b), v20GroupLen)
	}
	word := binary.BigEndian.Uint32(b)
	*d = Datagram{
		Format: FormatV20,
		HwID:   uint8(word >> 22 & hwIDMask),
		Seq:    word & (1<<22 - 1),
		NodeID: binary.BigEndian.Uint32(b[4:]),
	}
	off := v20GroupLen
	if off == len(b) {
		return fmt.Errorf("v2.0 report: group header without an individual report")
	}
	for i := 1; off < len(b); i++ {
		reports = append(reports, Decoded{})
		n, err := decodeV20Report(&reports[len(reports)-1], b[off:], d.NodeID)
		if err != nil {
			return fmt.Errorf("v2.0 report %d at byte %d: %w", i, off, err)
		}
		off += n
	}
	d.Reports = reports
	return nil
}

// decodeV20Report decodes the individual report at the start of b and
// returns its length.
func decodeV20Report(rep *Decoded, b []byte, nodeID uint32) (int, error) {
	if len(b) < v20ReportHdrLen {
		return 0, fmt.Errorf("%d bytes, need %d for the individual report header", len(b), v20ReportHdrLen)
	}
	repType, inType := b[0]>>4, b[0]&0xf
	total := v20ReportHdrLen + int(b[1])*4
	mdBytes := int(b[2]) * 4
	rep.Flags = Flags{D: b[3]&0x80 != 0, Q: b[3]&0x40 != 0, F: b[3]&0x20 != 0, I: b[3]&0x10 != 0}
	if len(b) < total {
		return 0, fmt.Errorf("report_length %d words (%d bytes with the header) but only %d bytes remain", b[1], total, len(b))
	}
	rep.SwitchID = nodeID
	if rep.Flags.D {
		rep.Kind = KindDrop
	}
	body := b[v20ReportHdrLen:total]
	switch repType {
	case repTypeInnerOnly:
		// No metadata; md_length is to be ignored for this type.
	case repTypeINT:
		if len(body) < v20INTHdrLen+mdBytes {
			return 0, fmt.Errorf("report_length %d words cannot hold the %d-word INT header and md_length %d words",
				b[1], v20INTHdrLen/4, b[2])
		}
		rep.MDBits = binary.BigEndian.Uint16(body)
		if need := mdLen(rep.MDBits); need > mdBytes {
			return 0, fmt.Errorf("rep_md_bits 0x%04x need %d bytes of metadata, md_length gives %d", rep.MDBits, need, mdBytes)
		}
		decodeV20Metadata(rep, body[v20INTHdrLen:])
		body = body[v20INTHdrLen+mdBytes:]
	default:
		return 0, fmt.Errorf("rep_type %d is not supported (0 inner only, 1 INT)", repType)
	}
	// A flow report with neither the hop latency nor both timestamps does
	// not know it (podint's own: no probed ingress).
	const bothTS = mdIngressTS | mdEgressTS
	rep.NoIngress = rep.Kind == KindFlow && rep.MDBits&mdHopLatency == 0 && rep.MDBits&bothTS != bothTS
	switch inType {
	case inTypeEthernet:
		rep.setFrame(body, true)
	case inTypeIPv4, inTypeIPv6:
		rep.setFrame(body, false)
	case inTypeNone:
		rep.FrameErr = ErrNoFrame
	default:
		rep.Frame = body
		rep.FrameErr = fmt.Errorf("inner type %d is not a truncated packet this decoder parses", inType)
	}
	return total, nil
}

// decodeV20Metadata reads the baseline metadata m in ascending bit order;
// mdLen(rep.MDBits) <= len(m) was checked.
func decodeV20Metadata(rep *Decoded, m []byte) {
	for bit := 0; bit < 16; bit++ {
		mask := uint16(1) << (15 - bit)
		if rep.MDBits&mask == 0 {
			continue
		}
		switch mask {
		case mdPorts:
			rep.IngressPort = uint32(binary.BigEndian.Uint16(m))
			rep.EgressPort = uint32(binary.BigEndian.Uint16(m[2:]))
		case mdHopLatency:
			rep.MDHopLatency = binary.BigEndian.Uint32(m)
		case mdQueue:
			rep.QueueID = m[0]
			rep.QueueOccupancy = binary.BigEndian.Uint32(m) & occupancy
		case mdIngressTS:
			rep.IngressTS = binary.BigEndian.Uint64(m)
		case mdEgressTS:
			rep.EgressTS = binary.BigEndian.Uint64(m)
		case mdPortsL2:
			// Wider than level 1; where both are present these are the full ids.
			rep.IngressPort = binary.BigEndian.Uint32(m)
			rep.EgressPort = binary.BigEndian.Uint32(m[4:])
		case mdDrop:
			rep.QueueID = m[0]
			rep.DropReason = m[1]
			rep.Kind = KindDrop
		}
		m = m[mdLen(mask):]
	}
}
