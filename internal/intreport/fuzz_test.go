package intreport

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

// FuzzDecode feeds arbitrary datagrams to the decoder: it must never panic,
// and what it accepts must be self-consistent. Seeds are the golden vectors
// and encoder outputs of every shape.
func FuzzDecode(f *testing.F) {
	f.Add(AppendV05(nil, specFlowReport(f), 3, 7, 0))
	f.Add(AppendV05(nil, specDropReport(f), 3, 8, 0))
	f.Add(AppendV20(nil, specFlowReport(f), 3, 7, 0))
	f.Add(AppendV20(nil, specDropReport(f), 3, 8, 0))
	rng := rand.New(rand.NewPCG(4, 4))
	b, _ := NewV20Batch(1, 0, 1452, nil)
	for range 20 {
		r := randomReport(rng)
		f.Add(AppendV05(nil, r, 1, rng.Uint32(), 0))
		if d := b.Add(r); d != nil {
			f.Add(append([]byte(nil), d...)) // the batch reuses its memory
		}
	}
	f.Add(b.Flush())
	f.Fuzz(func(t *testing.T, in []byte) {
		d, err := Decode(in)
		if err != nil {
			if d != nil {
				t.Fatal("returned a datagram with an error")
			}
			return
		}
		if len(d.Reports) == 0 || (d.Format == FormatV05 && len(d.Reports) != 1) {
			t.Fatalf("%s datagram with %d reports", d.Format, len(d.Reports))
		}
		if d.HwID > 63 || d.Format == FormatV20 && d.Seq >= 1<<22 {
			t.Fatalf("hw_id %d seq %d out of range", d.HwID, d.Seq)
		}
		for i := range d.Reports {
			r := &d.Reports[i]
			if len(r.Frame) > len(in) || r.QueueOccupancy >= 1<<24 {
				t.Fatalf("report %d: frame %d bytes of %d, occupancy %d", i, len(r.Frame), len(in), r.QueueOccupancy)
			}
			_, _ = r.HopLatency()
			_ = r.Flow.String()
			if r.FrameErr == nil && r.Frame == nil {
				t.Fatalf("report %d: no frame and no frame error", i)
			}
		}
	})
}

// FuzzEncodeDecode encodes reports built from arbitrary fields and frames:
// every one must decode, in both formats, with its metadata intact.
func FuzzEncodeDecode(f *testing.F) {
	f.Add(uint32(0x0a000001), uint32(5), uint32(6), uint64(1000), uint64(500), uint8(80), false, false, []byte(nil), true, uint16(40000), 64)
	f.Add(uint32(1), uint32(70000), uint32(0), uint64(1<<40), uint64(0), uint8(3), true, false, buildFrame(tcpFlow, true, true, 10), true, uint16(1), 0)
	f.Add(uint32(2), uint32(1), uint32(2), uint64(7), uint64(9), uint8(0), false, false, buildFrame(v6Flow, false, false, 3), false, uint16(53), 300)
	f.Add(uint32(3), uint32(0), uint32(2), uint64(7), uint64(0), uint8(0), false, true, buildFrame(v6Flow, true, false, 3), true, uint16(53), 0)
	f.Fuzz(func(t *testing.T, sw, in, eg uint32, ts, lat uint64, reason uint8, drop, noIngress bool, frame []byte, l2 bool, port uint16, snap int) {
		r := &Report{
			SwitchID: sw, IngressPort: in, EgressPort: eg, IngressTS: ts, EgressTS: ts + lat, NoIngress: noIngress,
			DropReason: reason, Frame: frame, FrameL2: l2, FrameLen: uint32(len(frame)),
			Flow: Flow{
				Src: netip.AddrFrom4([4]byte{10, 0, byte(sw), 1}), Dst: netip.AddrFrom4([4]byte{10, 0, byte(sw >> 8), 2}),
				Proto: ProtoUDP, SrcPort: port, DstPort: 9,
			},
		}
		if drop {
			r.Kind = KindDrop
		}
		snap %= 2000
		limit := snap
		if limit <= 0 {
			limit = DefaultSnapLen
		}
		for _, enc := range []func() []byte{
			func() []byte { return AppendV05(nil, r, 5, 11, snap) },
			func() []byte { return AppendV20(nil, r, 5, 11, snap) },
		} {
			b := enc()
			d, err := Decode(b)
			if err != nil {
				t.Fatalf("encoded %x, decode: %v", b, err)
			}
			got := &d.Reports[0]
			if got.Kind != r.Kind || got.SwitchID != sw || d.HwID != 5 || uint16(got.IngressPort) != uint16(in) {
				t.Fatalf("%s: decoded %+v from %+v", d.Format, got.Report, r)
			}
			gh, gok := got.HopLatency()
			rh, rok := r.HopLatency()
			if d.Format == FormatV20 && (gh != min(rh, 1<<32-1) || gok != rok || rok && got.IngressTS != ts) {
				t.Fatalf("v2.0: ts %d hop %d (known %v), want %d %d (%v)", got.IngressTS, gh, gok, ts, rh, rok)
			}
			if !rok && gok {
				t.Fatalf("%s: hop latency unknown, decoded as %d", d.Format, gh)
			}
			if len(got.Frame) > limit+3 {
				t.Fatalf("%s: frame of %d bytes, snap length %d", d.Format, len(got.Frame), snap)
			}
		}
	})
}
