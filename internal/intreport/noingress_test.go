package intreport

import (
	"bytes"
	"testing"
)

// specNoIngressReport is the spec flow report of a packet no probed ingress
// port timed (flooded, or sent by the node): the probes put the egress time
// in both timestamps, and IngressTS is deliberately not it here, to show
// the encoders do not send it as an ingress time.
func specNoIngressReport(t testing.TB) *Report {
	r := specFlowReport(t)
	r.NoIngress = true
	return r
}

// v2.0 leaves out the hop latency (bit 2) and the ingress timestamp (bit
// 4): its metadata bitmap says they are absent.
func TestV20GoldenNoIngressFlowReport(t *testing.T) {
	got := AppendV20(nil, specNoIngressReport(t), 3, 7, 0)
	want := unhex(t, `
20 c0 00 07  0a 00 00 01                        # ver 2, hw_id 3, seq 7; node 10.0.0.1
13 14 04 20                                     # INT, Ethernet; 20 words; md 4 words; f
54 00 00 00  00 00 00 00                        # bits 1, 3, 5: no hop latency, no ingress ts
00 05 00 06                                     # ports 5 -> 6
00 00 00 10                                     # queue 0, occupancy 16
00 00 00 00 00 00 05 dc                         # egress ts 1500
`+tcpFrame+`
00 00                                           # pad to a word`)
	if !bytes.Equal(got, want) {
		t.Fatalf("v2.0 flow report without ingress:\n got %x\nwant %x", got, want)
	}
}

// v0.5 has no field for "unknown": the ingress timestamp is the egress
// timestamp, a hop latency of 0 that no measured packet has.
func TestV05GoldenNoIngressFlowReport(t *testing.T) {
	got := AppendV05(nil, specNoIngressReport(t), 3, 7, 0)
	want := unhex(t, `
02 20 00 03  00 00 00 07  00 00 05 dc           # ver 0 nproto 2 f, hw_id 3, seq 7, ingress_ts = egress_ts 1500
0a 00 00 01  00 05 00 06  00 00 00 10  00 00 05 dc # switch 10.0.0.1, ports 5 -> 6, queue 0 occ 16, egress_ts 1500
`+tcpFrame)
	if !bytes.Equal(got, want) {
		t.Fatalf("v0.5 flow report without ingress:\n got %x\nwant %x", got, want)
	}
}

// Both formats decode a report without a probed ingress as "hop latency
// unknown", never as a measured 0, and a measured one as known.
func TestNoIngressRoundTripsAsUnknownHopLatency(t *testing.T) {
	for _, f := range []Format{FormatV05, FormatV20} {
		for _, noIngress := range []bool{false, true} {
			r := specFlowReport(t)
			r.NoIngress = noIngress
			var b []byte
			if f == FormatV05 {
				b = AppendV05(nil, r, 3, 7, 0)
			} else {
				b = AppendV20(nil, r, 3, 7, 0)
			}
			d, err := Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			got := &d.Reports[0]
			hop, ok := got.HopLatency()
			switch {
			case got.NoIngress != noIngress:
				t.Errorf("%s, no ingress %v: decoded no ingress %v", f, noIngress, got.NoIngress)
			case noIngress && ok:
				t.Errorf("%s: an unknown hop latency decoded as %d ns", f, hop)
			case !noIngress && (!ok || hop != 500):
				t.Errorf("%s: hop latency %d (known %v), want 500", f, hop, ok)
			}
			if got.EgressTS != 1500 || got.IngressPort != 5 || got.EgressPort != 6 || got.Flow != tcpFlow {
				t.Errorf("%s, no ingress %v: the rest of the report changed: %+v", f, noIngress, got.Report)
			}
		}
	}
	// A drop has no hop latency in either format, known or not.
	d, err := Decode(AppendV20(nil, specDropReport(t), 3, 8, 0))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := d.Reports[0].HopLatency(); ok || d.Reports[0].NoIngress {
		t.Errorf("a drop report has a hop latency, or says its ingress is unknown")
	}
}
