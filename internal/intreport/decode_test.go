package intreport

import (
	"errors"
	"net/netip"
	"testing"
)

func TestDecodeRejectsMalformed(t *testing.T) {
	flow := AppendV05(nil, specFlowReport(t), 3, 7, 0)
	drop := AppendV05(nil, specDropReport(t), 3, 8, 0)
	v20 := AppendV20(nil, specFlowReport(t), 3, 7, 0)
	patch := func(b []byte, i int, v byte) []byte {
		c := append([]byte(nil), b...)
		c[i] = v
		return c
	}
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "telemetry report: empty datagram"},
		{"version 1", []byte{0x12, 0, 0, 0}, "telemetry report: version 1 is not supported (0 is v0.5, 2 is v2.0)"},
		{"v0.5 short fixed header", flow[:5], "v0.5 report: 5 bytes, need at least 12 for the fixed header"},
		{"v0.5 short local report", flow[:14], "v0.5 report: 14 bytes, need at least 28 for a local report"},
		{"v0.5 short drop report", drop[:23], "v0.5 report: 23 bytes, need at least 24 for a drop report"},
		{"v0.5 unknown nproto", patch(flow, 0, 0x05), "v0.5 report: next protocol 5 is not 0 (Ethernet), 1 (drop report) or 2 (local report)"},
		{"v2.0 short group header", v20[:7], "v2.0 report: 7 bytes, need at least 8 for the group header"},
		{"v2.0 no report", v20[:8], "v2.0 report: group header without an individual report"},
		{"v2.0 short report header", v20[:10], "v2.0 report 1 at byte 8: 2 bytes, need 4 for the individual report header"},
		{"v2.0 report_length past the end", v20[:40], "v2.0 report 1 at byte 8: report_length 23 words (96 bytes with the header) but only 32 bytes remain"},
		{"v2.0 md_length past report_length", patch(patch(v20, 9, 8), 10, 7)[:8+36],
			"v2.0 report 1 at byte 8: report_length 8 words cannot hold the 2-word INT header and md_length 7 words"},
		{"v2.0 rep_md_bits beyond md_length", patch(v20, 10, 6),
			"v2.0 report 1 at byte 8: rep_md_bits 0x7c00 need 28 bytes of metadata, md_length gives 24"},
		{"v2.0 IOAM", patch(v20, 8, 0x23), "v2.0 report 1 at byte 8: rep_type 2 is not supported (0 inner only, 1 INT)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Decode(tc.in)
			if err == nil {
				t.Fatalf("decoded %+v, want error %q", d, tc.want)
			}
			if err.Error() != tc.want {
				t.Fatalf("error %q\n         want %q", err, tc.want)
			}
		})
	}
}

// A report whose inner frame is unusable still decodes: the metadata is
// valid, and FrameErr says what is wrong with the frame.
func TestDecodeKeepsReportWithBadFrame(t *testing.T) {
	r := specFlowReport(t)
	b := AppendV05(nil, r, 3, 7, 0)
	b[28+12], b[28+13] = 0x08, 0x06 // EtherType ARP
	d, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	rep := d.Reports[0]
	if rep.FrameErr == nil || rep.FrameErr.Error() != "inner frame: EtherType 0x0806 is not IPv4 or IPv6" {
		t.Fatalf("frame error %v", rep.FrameErr)
	}
	if hop, ok := rep.HopLatency(); rep.SwitchID != r.SwitchID || hop != 500 || !ok {
		t.Fatalf("metadata lost: switch %x hop %d (known %v)", rep.SwitchID, hop, ok)
	}

	d, err = Decode(b[:28])
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(d.Reports[0].FrameErr, ErrNoFrame) {
		t.Fatalf("frame error %v, want ErrNoFrame", d.Reports[0].FrameErr)
	}
}

// v0.5 timestamps are 32 bits: a hop across the wrap still has its latency.
func TestV05HopLatencyAcrossWrap(t *testing.T) {
	r := specFlowReport(t)
	r.IngressTS, r.EgressTS = 5<<32|0xffffff00, 6<<32|0x100
	d, err := Decode(AppendV05(nil, r, 0, 1, 0))
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := d.Reports[0].HopLatency(); got != 0x200 || !ok {
		t.Fatalf("hop latency %d (known %v), want %d", got, ok, 0x200)
	}
}

// A third party's v2.0 report may carry metadata podint never sends; the
// decoder sizes it from rep_md_bits and md_length and skips what it does not
// interpret, including domain specific metadata.
func TestV20DecodesForeignMetadata(t *testing.T) {
	b := unhex(t, `
20 40 00 01  c0 a8 00 01                        # ver 2, hw_id 1, seq 1, node 192.168.0.1
14 0b 04 00                                     # INT, IPv4; 11 words; md 4 words; no flags
21 80 00 07  80 00 00 00                        # bits 2, 7, 8; domain 7; ds bit 0
00 00 00 2a                                     # hop latency 42
11 11 11 11  22 22 22 22                        # tx utilization, buffer
de ad be ef                                     # domain specific metadata
45 00 00 14  00 00 00 00  40 3b 00 00  0a 00 00 01  0a 00 00 02 # IPv4, protocol 59`)
	d, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	rep := d.Reports[0]
	want := Flow{Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"), Proto: 59}
	if hop, ok := rep.HopLatency(); hop != 42 || !ok || rep.Flow != want || rep.FrameL2 || rep.FrameErr != nil {
		t.Fatalf("got hop %d (known %v) flow %v l2 %v err %v", hop, ok, rep.Flow, rep.FrameL2, rep.FrameErr)
	}
}
