package intreport

import (
	"net/netip"
	"testing"
)

// These benchmarks back the daemon pipeline figures of `make bench`: they
// price, per report, the user-space work between the ring buffer and the
// socket (encoding) and what a collector pays to read it back (decoding).

// benchReport is what the daemon sends most: a TCP flow report carrying a
// full 128-byte Ethernet capture.
func benchReport() *Report {
	f := Flow{Src: netip.MustParseAddr("10.22.0.2"), Dst: netip.MustParseAddr("10.22.0.3"),
		Proto: ProtoTCP, SrcPort: 40000, DstPort: 5201}
	frame := buildFrame(f, true, false, 1400)
	return &Report{Kind: KindFlow, SwitchID: 0x0a000001, IngressPort: 3, EgressPort: 4,
		IngressTS: 1_000_000, EgressTS: 1_013_199, Flow: f,
		Frame: frame[:DefaultSnapLen], FrameL2: true, FrameLen: uint32(len(frame))}
}

func BenchmarkAppendV05(b *testing.B) {
	r := benchReport()
	buf := make([]byte, 0, 28+DefaultSnapLen)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		buf = AppendV05(buf[:0], r, 7, uint32(i), DefaultSnapLen)
	}
	b.SetBytes(int64(len(buf)))
}

// BenchmarkV20BatchAdd fills datagrams as the exporter does for a 1500-byte
// path MTU; ns/op is per report, datagram closing included.
func BenchmarkV20BatchAdd(b *testing.B) {
	r := benchReport()
	batch, err := NewV20Batch(7, DefaultSnapLen, 1500-48, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	datagrams := 0
	for b.Loop() {
		if batch.Add(r) != nil {
			datagrams++
		}
	}
	b.ReportMetric(float64(b.N)/float64(max(datagrams, 1)), "reports/datagram")
}

func BenchmarkDecodeV05(b *testing.B) {
	d := AppendV05(nil, benchReport(), 7, 1, DefaultSnapLen)
	b.ReportAllocs()
	b.SetBytes(int64(len(d)))
	for b.Loop() {
		if _, err := Decode(d); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeV20 decodes full datagrams; ns/report is what a collector
// pays per report.
func BenchmarkDecodeV20(b *testing.B) {
	batch, err := NewV20Batch(7, DefaultSnapLen, 1500-48, nil)
	if err != nil {
		b.Fatal(err)
	}
	r := benchReport()
	var d []byte
	for d == nil {
		d = batch.Add(r)
	}
	dg, err := Decode(d)
	if err != nil {
		b.Fatal(err)
	}
	per := len(dg.Reports)
	b.ReportAllocs()
	b.SetBytes(int64(len(d)))
	for b.Loop() {
		if _, err := Decode(d); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*per), "ns/report")
}
