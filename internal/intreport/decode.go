package intreport

import (
	"errors"
	"fmt"
)

// Datagram is one decoded telemetry report datagram (a UDP payload).
type Datagram struct {
	Format  Format
	HwID    uint8
	Seq     uint32    // v0.5: per report; v2.0: per datagram (group header)
	NodeID  uint32    // v2.0 group header node id; v0.5: the report's switch id
	Reports []Decoded // v0.5: exactly one; v2.0: one or more
}

// Flags are a report's association bits as received.
type Flags struct {
	D bool // a packet was dropped
	Q bool // congested queue
	F bool // tracked flow
	I bool // intermediate report (v2.0 INT-MD only)
}

// Decoded is one report of a datagram. Report.Frame aliases the buffer
// given to Decode; Report.Flow is the flow parsed from the inner frame (the
// inner flow, for VXLAN or Geneve traffic). v0.5 timestamps are the 32 bits
// the format carries.
type Decoded struct {
	Report
	Flags Flags
	// MDBits is the v2.0 rep_md_bits of the report (0 for v0.5); MDHopLatency
	// holds the hop latency metadata when MDBits has bit 2.
	MDBits       uint16
	MDHopLatency uint32
	// Packet is what the inner frame says. For an overlay packet
	// (Packet.Tunnel set) Report.Flow is the flow inside it; see Outer.
	Packet Packet
	// FrameErr says why the inner frame yielded no complete flow. The report
	// itself is still valid: its metadata decoded.
	FrameErr error
}

// HopLatency is the hop latency metadata when the report carries it
// (v2.0 bit 2), otherwise what the timestamps give; ok is false when the
// report says the hop latency is unknown (Report.NoIngress) or is a drop.
func (d *Decoded) HopLatency() (ns uint64, ok bool) {
	if d.MDBits&mdHopLatency != 0 {
		return uint64(d.MDHopLatency), true
	}
	return d.Report.HopLatency()
}

// Outer is the flow of the overlay packet that carried Report.Flow, or
// false when the frame is not an overlay packet.
func (d *Decoded) Outer() (Flow, bool) {
	if d.Packet.Tunnel == nil {
		return Flow{}, false
	}
	return d.Packet.Flow, true
}

// ErrNoFrame is the FrameErr of a report that carries no inner frame.
var ErrNoFrame = errors.New("no inner frame")

// setFrame records the inner frame b of the report and parses it.
func (d *Decoded) setFrame(b []byte, l2 bool) {
	d.Frame, d.FrameL2 = b, l2
	if len(b) == 0 {
		d.FrameErr = ErrNoFrame
		return
	}
	p, err := ParseFrame(b, l2)
	d.Packet = p
	d.Flow = p.Flow
	if t := p.Tunnel; t != nil {
		d.Flow = t.Inner
		if err == nil && t.Err != nil {
			err = t.Err
		}
	}
	if p.IPLen > 0 {
		d.FrameLen = uint32(p.L3Offset + p.IPLen)
	}
	if err != nil {
		d.FrameErr = fmt.Errorf("inner frame: %w", err)
	}
}

// Decode decodes one telemetry report datagram of either format, told apart
// by the version in the first four bits (0: v0.5, 2: v2.0). It returns a
// precise error for anything that is not a well-formed report; a malformed
// inner frame is not an error of the datagram (see Decoded.FrameErr).
// Reserved bits are ignored, as both specs ask of receivers.
func Decode(b []byte) (*Datagram, error) {
	d := &Datagram{}
	if err := DecodeInto(d, b); err != nil {
		return nil, err
	}
	return d, nil
}

// DecodeInto is Decode into d, reusing the room of d.Reports: a receiver
// that decodes datagram after datagram into one Datagram allocates
// nothing per datagram. d's reports alias b.
func DecodeInto(d *Datagram, b []byte) error {
	if len(b) == 0 {
		return errors.New("telemetry report: empty datagram")
	}
	reports := d.Reports[:0]
	*d = Datagram{}
	switch v := b[0] >> 4; v {
	case 0:
		return decodeV05(d, b, reports)
	case 2:
		return decodeV20(d, b, reports)
	default:
		return fmt.Errorf("telemetry report: version %d is not supported (0 is v0.5, 2 is v2.0)", v)
	}
}
