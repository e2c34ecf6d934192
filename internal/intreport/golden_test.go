package intreport

import (
	"bytes"
	"encoding/hex"
	"net/netip"
	"strings"
	"testing"
)

// unhex turns a spaced hex dump (with # comments to the line's end) into bytes.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	var clean strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		clean.WriteString(strings.Join(strings.Fields(line), ""))
	}
	b, err := hex.DecodeString(clean.String())
	if err != nil {
		t.Fatalf("bad hex in test: %v", err)
	}
	return b
}

// tcpFrame is an Ethernet/IPv4/TCP SYN 10.22.0.2:40000 -> 10.22.0.3:5201.
const tcpFrame = `
02 00 00 00 00 02  02 00 00 00 00 01  08 00     # Ethernet
45 00 00 28  12 34 40 00  40 06 14 6c           # IPv4, DF, TTL 64, TCP
0a 16 00 02  0a 16 00 03
9c 40 14 51  00 00 00 01  00 00 00 00           # TCP 40000 -> 5201
50 02 fa f0  00 00 00 00`

var tcpFlow = Flow{
	Src: netip.MustParseAddr("10.22.0.2"), Dst: netip.MustParseAddr("10.22.0.3"),
	Proto: ProtoTCP, SrcPort: 40000, DstPort: 5201,
}

// specFlowReport is the flow report of the v0.5 public example; specDrop the
// same packet dropped by an ACL.
func specFlowReport(t testing.TB) *Report {
	return &Report{
		Kind: KindFlow, SwitchID: 0x0a000001, IngressPort: 5, EgressPort: 6,
		QueueID: 0, QueueOccupancy: 16, IngressTS: 1000, EgressTS: 1500,
		Flow: tcpFlow, Frame: unhex(t, tcpFrame), FrameL2: true, FrameLen: 54,
	}
}

func specDropReport(t testing.TB) *Report {
	return &Report{
		Kind: KindDrop, SwitchID: 0x0a000001, IngressPort: 5, IngressTS: 2000,
		DropReason: DropReasonACLDeny, Flow: tcpFlow, Frame: unhex(t, tcpFrame), FrameL2: true, FrameLen: 54,
	}
}

func TestV05GoldenFlowReport(t *testing.T) {
	got := AppendV05(nil, specFlowReport(t), 3, 7, 0)
	want := unhex(t, `
02 20 00 03  00 00 00 07  00 00 03 e8           # ver 0 nproto 2 f, hw_id 3, seq 7, ingress_ts 1000
0a 00 00 01  00 05 00 06  00 00 00 10  00 00 05 dc # switch 10.0.0.1, ports 5 -> 6, queue 0 occ 16, egress_ts 1500
`+tcpFrame)
	if !bytes.Equal(got, want) {
		t.Fatalf("v0.5 flow report:\n got %x\nwant %x", got, want)
	}
}

func TestV05GoldenDropReport(t *testing.T) {
	got := AppendV05(nil, specDropReport(t), 3, 8, 0)
	want := unhex(t, `
01 80 00 03  00 00 00 08  00 00 07 d0           # ver 0 nproto 1 d, hw_id 3, seq 8, ingress_ts 2000
0a 00 00 01  00 05 00 00  00 50 00 00           # switch, ports 5 -> 0, queue 0, reason 80, pad
`+tcpFrame)
	if !bytes.Equal(got, want) {
		t.Fatalf("v0.5 drop report:\n got %x\nwant %x", got, want)
	}
}

func TestV20GoldenFlowReport(t *testing.T) {
	got := AppendV20(nil, specFlowReport(t), 3, 7, 0)
	want := unhex(t, `
20 c0 00 07  0a 00 00 01                        # ver 2, hw_id 3, seq 7; node 10.0.0.1
13 17 07 20                                     # INT, Ethernet; 23 words; md 7 words; f
7c 00 00 00  00 00 00 00                        # bits 1-5; domain 0; ds bits, status 0
00 05 00 06                                     # ports 5 -> 6
00 00 01 f4                                     # hop latency 500
00 00 00 10                                     # queue 0, occupancy 16
00 00 00 00 00 00 03 e8                         # ingress ts 1000
00 00 00 00 00 00 05 dc                         # egress ts 1500
`+tcpFrame+`
00 00                                           # pad to a word`)
	if !bytes.Equal(got, want) {
		t.Fatalf("v2.0 flow report:\n got %x\nwant %x", got, want)
	}
}

func TestV20GoldenDropReport(t *testing.T) {
	got := AppendV20(nil, specDropReport(t), 3, 8, 0)
	want := unhex(t, `
20 c0 00 08  0a 00 00 01                        # ver 2, hw_id 3, seq 8; node 10.0.0.1
13 14 04 80                                     # INT, Ethernet; 20 words; md 4 words; d
48 01 00 00  00 00 00 00                        # bits 1, 4, 15
00 05 00 00                                     # ports 5 -> 0
00 00 00 00 00 00 07 d0                         # ingress ts 2000
00 50 00 00                                     # queue 0, reason 80, pad
`+tcpFrame+`
00 00`)
	if !bytes.Equal(got, want) {
		t.Fatalf("v2.0 drop report:\n got %x\nwant %x", got, want)
	}
}

// A capture that starts at the IP header and stops inside it is replaced by
// headers rebuilt from the flow, so the collector still sees the 5-tuple.
func TestV05GoldenSynthesizedFrame(t *testing.T) {
	r := specFlowReport(t)
	r.Frame, r.FrameL2, r.FrameLen = unhex(t, "45 00 00 3c 00 00"), false, 60
	got := AppendV05(nil, r, 3, 7, 0)[28:]
	want := unhex(t, `
00 00 00 00 00 00  00 00 00 00 00 00  08 00     # zero MACs, IPv4
45 00 00 3c  00 00 00 00  40 06 66 8c           # length 60 from FrameLen, TTL 64, TCP, checksum
0a 16 00 02  0a 16 00 03
9c 40 14 51  00 00 00 00  00 00 00 00  50 00 00 00  00 00 00 00`)
	if !bytes.Equal(got, want) {
		t.Fatalf("synthesized inner frame:\n got %x\nwant %x", got, want)
	}
}
