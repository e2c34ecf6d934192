package intreport

import (
	"net/netip"
	"testing"
)

var (
	v6Flow = Flow{
		Src: netip.MustParseAddr("fd00::2"), Dst: netip.MustParseAddr("fd00::3"),
		Proto: ProtoUDP, SrcPort: 5353, DstPort: 53,
	}
	icmpFlow = Flow{
		Src: netip.MustParseAddr("10.22.0.2"), Dst: netip.MustParseAddr("10.22.0.3"),
		Proto: ProtoICMP, SrcPort: 8, DstPort: 0,
	}
)

func TestParseFrameIPv6ExtensionHeaders(t *testing.T) {
	b := buildFrame(Flow{Src: v6Flow.Src, Dst: v6Flow.Dst, Proto: 0}, true, false, 0)
	// Hop-by-hop (8 bytes) then a first fragment (offset 0) then UDP.
	b = append(b, 44, 0, 0, 0, 0, 0, 0, 0)
	b = append(b, ProtoUDP, 0, 0, 1, 0, 0, 0, 9)
	b = append(b, 0x14, 0xe9, 0x00, 0x35, 0, 8, 0, 0)
	p, err := ParseFrame(b, true)
	if err != nil {
		t.Fatal(err)
	}
	if p.Flow != v6Flow || p.Fragment {
		t.Fatalf("flow %v fragment %v, want %v", p.Flow, p.Fragment, v6Flow)
	}
	// A later fragment has no L4 header: addresses and protocol only.
	b[14+40+8+3] = 0x08 // fragment offset 1
	p, err = ParseFrame(b, true)
	if err != nil || !p.Fragment || p.Flow.Proto != ProtoUDP || p.Flow.SrcPort != 0 {
		t.Fatalf("later fragment: %+v, %v", p, err)
	}
}

func TestParseFrameIPv4OptionsAndVLAN(t *testing.T) {
	b := buildFrame(tcpFlow, true, true, 0)
	ip := 14 + 4
	// Grow the IPv4 header by 4 bytes of options (NOPs).
	b = append(b[:ip+20], append([]byte{1, 1, 1, 1}, b[ip+20:]...)...)
	b[ip] = 0x46
	p, err := ParseFrame(b, true)
	if err != nil {
		t.Fatal(err)
	}
	if p.Flow != tcpFlow || p.VLAN != 42 || p.L3Offset != 18 {
		t.Fatalf("got %+v", p)
	}
	if _, err := ParseFrame(b[:ip+22], true); err == nil || err.Error() != "IPv4 header with options: 22 bytes, need 24" {
		t.Fatalf("truncated options: %v", err)
	}
	if _, err := ParseFrame(b[:ip+24+10], true); err == nil || err.Error() != "tcp header: 10 bytes, need 20" {
		t.Fatalf("truncated TCP: %v", err)
	}
}

func TestParseFrameOverlays(t *testing.T) {
	inner := buildFrame(tcpFlow, true, false, 0)
	outer := Flow{
		Src: netip.MustParseAddr("192.168.1.1"), Dst: netip.MustParseAddr("192.168.1.2"),
		Proto: ProtoUDP, SrcPort: 51000, DstPort: 4789,
	}
	vx := append(buildFrame(outer, true, false, 0), 0x08, 0, 0, 0, 0, 0x01, 0x02, 0)
	vx = append(vx, inner...)
	p, err := ParseFrame(vx, true)
	if err != nil {
		t.Fatal(err)
	}
	if p.Flow != outer || p.Tunnel == nil || p.Tunnel.Proto != "vxlan" || p.Tunnel.VNI != 0x102 || p.Tunnel.Inner != tcpFlow || p.Tunnel.Err != nil {
		t.Fatalf("VXLAN: %+v tunnel %+v", p, p.Tunnel)
	}

	outer.DstPort = 6081
	// Geneve: 1 word of options, protocol IPv4 (no inner Ethernet).
	gn := append(buildFrame(outer, true, false, 0), 0x01, 0, 0x08, 0x00, 0, 0, 0x07, 0, 0, 0, 0, 0)
	gn = append(gn, inner[14:]...)
	p, err = ParseFrame(gn, true)
	if err != nil || p.Tunnel == nil || p.Tunnel.Proto != "geneve" || p.Tunnel.VNI != 7 || p.Tunnel.Inner != tcpFlow {
		t.Fatalf("Geneve: %+v tunnel %+v err %v", p, p.Tunnel, err)
	}

	// The decoder reports the inner flow, as the daemon does.
	r := &Report{Kind: KindFlow, Frame: vx, FrameL2: true, Flow: tcpFlow}
	d, err := Decode(AppendV05(nil, r, 0, 1, 256))
	if err != nil {
		t.Fatal(err)
	}
	o, ok := d.Reports[0].Outer()
	if d.Reports[0].Flow != tcpFlow || !ok || o.DstPort != 4789 {
		t.Fatalf("decoded flow %v outer %v", d.Reports[0].Flow, o)
	}
}

func TestInnerFrameShapes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		r       Report
		snapLen int
		wantLen int
	}{
		{"L3 capture gets an Ethernet header", Report{Flow: tcpFlow, Frame: buildFrame(tcpFlow, false, false, 10)}, 0, 14 + 40 + 10},
		{"long capture is cut at the snap length", Report{Flow: tcpFlow, Frame: buildFrame(tcpFlow, true, false, 500), FrameL2: true}, 0, DefaultSnapLen},
		{"custom snap length", Report{Flow: tcpFlow, Frame: buildFrame(tcpFlow, true, false, 500), FrameL2: true}, 200, 200},
		{"no capture: IPv6 UDP from the flow", Report{Flow: v6Flow, FrameLen: 100}, 0, 14 + 40 + 8},
		{"no capture: ICMP from the flow", Report{Flow: icmpFlow}, 0, 14 + 20 + 8},
		{"short L2 capture: SCTP from the flow", Report{Flow: Flow{Src: tcpFlow.Src, Dst: tcpFlow.Dst, Proto: ProtoSCTP, SrcPort: 1, DstPort: 2}, Frame: make([]byte, 20), FrameL2: true}, 0, 14 + 20 + 12},
		{"no capture, no flow: an empty Ethernet header", Report{}, 0, 14},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := appendInnerFrame(nil, &tc.r, tc.snapLen)
			if len(got) != tc.wantLen {
				t.Fatalf("inner frame of %d bytes, want %d: %x", len(got), tc.wantLen, got)
			}
			if !tc.r.Flow.IsValid() {
				return
			}
			p, err := ParseFrame(got, true)
			if err != nil || p.Flow != tc.r.Flow {
				t.Fatalf("parsed %v (%v), want %v", p.Flow, err, tc.r.Flow)
			}
		})
	}
}

// The synthesized IPv6 UDP header carries the lengths the probe reported.
func TestSynthesizedLengths(t *testing.T) {
	r := &Report{Flow: v6Flow, FrameLen: 100}
	b := appendInnerFrame(nil, r, 0)
	p, err := ParseFrame(b, true)
	if err != nil {
		t.Fatal(err)
	}
	if p.IPLen != 100 {
		t.Fatalf("IP length %d, want 100", p.IPLen)
	}
	if udpLen := int(b[14+40+4])<<8 | int(b[14+40+5]); udpLen != 60 {
		t.Fatalf("UDP length %d, want 60", udpLen)
	}
}
