package events

import (
	"net/netip"
	"testing"
	"unsafe"

	"github.com/podint/podint/bpf"
)

// These benchmarks back the daemon pipeline figures of `make bench`: what
// the daemon pays per ring buffer record before a report reaches the
// exporter.

// benchRecord is a raw ring buffer record as the egress probe writes it: a
// TCP flow event with a full 128-byte capture.
func benchRecord() []byte {
	ev := bpf.Event{IngressTs: 1_000_000, EgressTs: 1_013_199, Packets: 10, Bytes: 14000,
		IngressIfindex: 3, EgressIfindex: 4, PktLen: 1454, SnapLen: 128,
		Type: bpf.EventFlow, Cause: bpf.CauseNewFlow, L2: 1}
	ev.Flow.Saddr = netip.MustParseAddr("::ffff:10.22.0.2").As16()
	ev.Flow.Daddr = netip.MustParseAddr("::ffff:10.22.0.3").As16()
	ev.Flow.Proto, ev.Flow.Sport, ev.Flow.Dport = 6, 40000, 5201
	for i := range ev.Data {
		ev.Data[i] = byte(i)
	}
	return append([]byte(nil), unsafe.Slice((*byte)(unsafe.Pointer(&ev)), unsafe.Sizeof(ev))...)
}

func BenchmarkDecode(b *testing.B) {
	raw := benchRecord()
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := Decode(raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkToReport(b *testing.B) {
	ev, err := Decode(benchRecord())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		r := ToReport(ev, 0x0a000001)
		if r.Flow.DstPort != 5201 {
			b.Fatal("flow not carried over")
		}
	}
}

// BenchmarkDecodeToReport is the daemon's whole per-record step, as
// daemon.Run does it: decode, then build the report for the exporter.
func BenchmarkDecodeToReport(b *testing.B) {
	raw := benchRecord()
	b.ReportAllocs()
	for b.Loop() {
		ev, err := Decode(raw)
		if err != nil {
			b.Fatal(err)
		}
		r := ToReport(ev, 0x0a000001)
		if len(r.Frame) != 128 {
			b.Fatal("capture not carried over")
		}
	}
}
