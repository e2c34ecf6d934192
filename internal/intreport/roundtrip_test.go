package intreport

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// buildFrame writes a packet of flow f the long way, independently of the
// encoder's synthesizer: Ethernet (when l2, with a VLAN tag when vlan),
// IPv4 or IPv6, the L4 header and payload bytes of 0xab.
func buildFrame(f Flow, l2, vlan bool, payload int) []byte {
	var b []byte
	if l2 {
		b = append(b, 2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1)
		if vlan {
			b = append(b, 0x81, 0x00, 0x00, 0x2a) // VLAN 42
		}
		if f.Src.Is4() {
			b = append(b, 0x08, 0x00)
		} else {
			b = append(b, 0x86, 0xdd)
		}
	}
	var l4 []byte
	switch f.Proto {
	case ProtoTCP:
		l4 = make([]byte, 20)
		l4[12] = 0x50
	case ProtoUDP:
		l4 = make([]byte, 8)
	case ProtoSCTP:
		l4 = make([]byte, 12)
	case ProtoICMP, ProtoICMPv6:
		l4 = make([]byte, 8)
		l4[0], l4[1] = byte(f.SrcPort), byte(f.DstPort)
	}
	if f.Proto != ProtoICMP && f.Proto != ProtoICMPv6 && len(l4) > 0 {
		binary.BigEndian.PutUint16(l4, f.SrcPort)
		binary.BigEndian.PutUint16(l4[2:], f.DstPort)
	}
	for range payload {
		l4 = append(l4, 0xab)
	}
	if f.Src.Is4() {
		h := make([]byte, 20)
		h[0], h[8], h[9] = 0x45, 61, f.Proto
		binary.BigEndian.PutUint16(h[2:], uint16(20+len(l4)))
		s, d := f.Src.As4(), f.Dst.As4()
		copy(h[12:], s[:])
		copy(h[16:], d[:])
		b = append(b, h...)
	} else {
		h := make([]byte, 40)
		h[0], h[6], h[7] = 0x60, f.Proto, 61
		binary.BigEndian.PutUint16(h[4:], uint16(len(l4)))
		s, d := f.Src.As16(), f.Dst.As16()
		copy(h[8:], s[:])
		copy(h[24:], d[:])
		b = append(b, h...)
	}
	return append(b, l4...)
}

func randomFlow(rng *rand.Rand) Flow {
	protos := []uint8{ProtoTCP, ProtoUDP, ProtoSCTP, ProtoICMP, ProtoICMPv6, 47}
	f := Flow{Proto: protos[rng.IntN(len(protos))]}
	v6 := f.Proto == ProtoICMPv6 || (f.Proto != ProtoICMP && rng.IntN(2) == 0)
	if v6 {
		var a, b [16]byte
		a[0], b[0] = 0xfd, 0xfd
		binary.BigEndian.PutUint64(a[8:], rng.Uint64())
		binary.BigEndian.PutUint64(b[8:], rng.Uint64())
		f.Src, f.Dst = netip.AddrFrom16(a), netip.AddrFrom16(b)
	} else {
		var a, b [4]byte
		binary.BigEndian.PutUint32(a[:], rng.Uint32())
		binary.BigEndian.PutUint32(b[:], rng.Uint32())
		f.Src, f.Dst = netip.AddrFrom4(a), netip.AddrFrom4(b)
	}
	switch f.Proto {
	case ProtoTCP, ProtoUDP, ProtoSCTP:
		f.SrcPort, f.DstPort = uint16(rng.Uint32()), uint16(rng.Uint32())
		if f.Proto == ProtoUDP && (f.DstPort == PortVXLAN || f.DstPort == PortVXLANLinux || f.DstPort == PortGeneve) {
			f.DstPort++ // overlays are tested on their own
		}
	case ProtoICMP, ProtoICMPv6:
		f.SrcPort, f.DstPort = uint16(rng.IntN(256)), uint16(rng.IntN(256))
	}
	return f
}

// randomReport returns a report whose frame is one of the shapes probes
// produce: a full L2 capture, an L3 capture, a capture cut inside its
// headers, or none at all.
func randomReport(rng *rand.Rand) *Report {
	r := &Report{
		SwitchID:       rng.Uint32(),
		IngressPort:    uint32(rng.IntN(70000)),
		EgressPort:     uint32(rng.IntN(70000)),
		QueueID:        uint8(rng.Uint32()),
		QueueOccupancy: rng.Uint32() >> rng.IntN(32),
		IngressTS:      rng.Uint64(),
		Flow:           randomFlow(rng),
	}
	// A measured hop latency is never 0 ns (two programs take the times).
	r.EgressTS = r.IngressTS + 1 + uint64(rng.IntN(1<<20))
	switch rng.IntN(6) {
	case 0, 1:
		r.Kind, r.DropReason, r.EgressTS = KindDrop, uint8(rng.Uint32()), 0
		r.QueueOccupancy = 0
	case 2: // no probed ingress: the probes put the egress time in both
		r.NoIngress, r.IngressTS = true, r.EgressTS
	}
	full := buildFrame(r.Flow, true, rng.IntN(4) == 0, rng.IntN(300))
	switch rng.IntN(4) {
	case 0:
		r.Frame, r.FrameL2 = full, true
	case 1:
		r.Frame, r.FrameL2 = buildFrame(r.Flow, false, false, rng.IntN(300)), false
	case 2:
		r.Frame, r.FrameL2 = full[:rng.IntN(34)], true
	}
	r.FrameLen = uint32(len(r.Frame) + rng.IntN(100))
	return r
}

func checkCommon(t *testing.T, i int, r *Report, d *Decoded, f Format) {
	t.Helper()
	if d.Kind != r.Kind || d.SwitchID != r.SwitchID || d.QueueID != r.QueueID {
		t.Fatalf("case %d %s: kind/switch/queue %v %x %d, want %v %x %d", i, f, d.Kind, d.SwitchID, d.QueueID, r.Kind, r.SwitchID, r.QueueID)
	}
	if d.Flow != r.Flow {
		t.Fatalf("case %d %s: flow %v, want %v (frame error %v)", i, f, d.Flow, r.Flow, d.FrameErr)
	}
	if d.FrameErr != nil {
		t.Fatalf("case %d %s: inner frame: %v", i, f, d.FrameErr)
	}
	if r.Kind == KindDrop && d.DropReason != r.DropReason {
		t.Fatalf("case %d %s: drop reason %d, want %d", i, f, d.DropReason, r.DropReason)
	}
	if r.Kind == KindFlow && d.QueueOccupancy != min(r.QueueOccupancy, 1<<24-1) {
		t.Fatalf("case %d %s: occupancy %d, want %d", i, f, d.QueueOccupancy, r.QueueOccupancy)
	}
	dh, dok := d.HopLatency()
	rh, rok := r.HopLatency()
	if dh != rh || dok != rok || d.NoIngress != r.NoIngress {
		t.Fatalf("case %d %s: hop latency %d (known %v, no ingress %v), want %d (%v, %v)", i, f, dh, dok, d.NoIngress, rh, rok, r.NoIngress)
	}
	if len(d.Frame) > DefaultSnapLen+3 {
		t.Fatalf("case %d %s: inner frame of %d bytes exceeds the snap length", i, f, len(d.Frame))
	}
}

func TestV05RoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 5))
	for i := range 3000 {
		r := randomReport(rng)
		hw, seq := uint8(rng.IntN(64)), rng.Uint32()
		dg, err := Decode(AppendV05(nil, r, hw, seq, 0))
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if dg.Format != FormatV05 || dg.HwID != hw || dg.Seq != seq || len(dg.Reports) != 1 {
			t.Fatalf("case %d: header %+v, want hw_id %d seq %d", i, dg, hw, seq)
		}
		d := &dg.Reports[0]
		checkCommon(t, i, r, d, FormatV05)
		if d.IngressPort != r.IngressPort&0xffff || d.EgressPort != r.EgressPort&0xffff {
			t.Fatalf("case %d: ports %d -> %d, want the low 16 bits of %d -> %d", i, d.IngressPort, d.EgressPort, r.IngressPort, r.EgressPort)
		}
		if d.IngressTS != r.IngressTS&0xffffffff || (r.Kind == KindFlow && d.EgressTS != r.EgressTS&0xffffffff) {
			t.Fatalf("case %d: timestamps %d %d, want the low 32 bits of %d %d", i, d.IngressTS, d.EgressTS, r.IngressTS, r.EgressTS)
		}
	}
}

func TestV20RoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 7))
	for i := range 3000 {
		r := randomReport(rng)
		hw, seq := uint8(rng.IntN(64)), rng.Uint32()&(1<<22-1)
		dg, err := Decode(AppendV20(nil, r, hw, seq, 0))
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if dg.Format != FormatV20 || dg.HwID != hw || dg.Seq != seq || dg.NodeID != r.SwitchID || len(dg.Reports) != 1 {
			t.Fatalf("case %d: header %+v, want hw_id %d seq %d node %x", i, dg, hw, seq, r.SwitchID)
		}
		d := &dg.Reports[0]
		checkCommon(t, i, r, d, FormatV20)
		wantIngressTS := r.IngressTS
		if r.NoIngress {
			wantIngressTS = 0 // left out: not an ingress time
		}
		if d.IngressPort != r.IngressPort || d.EgressPort != r.EgressPort || d.IngressTS != wantIngressTS || d.EgressTS != r.EgressTS {
			t.Fatalf("case %d: ports %d -> %d ts %d %d, want %d -> %d ts %d %d", i,
				d.IngressPort, d.EgressPort, d.IngressTS, d.EgressTS, r.IngressPort, r.EgressPort, r.IngressTS, r.EgressTS)
		}
	}
}
