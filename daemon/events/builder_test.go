package events

import (
	"bytes"
	"net/netip"
	"reflect"
	"testing"
	"unsafe"

	"github.com/podint/podint/bpf"
)

// The reader reads a whole record in place and copies only records of
// another length or alignment, and every way gives what Decode gives.
func TestViewReadsInPlaceWhatDecodeCopies(t *testing.T) {
	ev := bpf.Event{IngressIfindex: 3, EgressIfindex: 4, PktLen: 1454, SnapLen: 200, Type: bpf.EventFlow}
	for i := range ev.Data {
		ev.Data[i] = byte(i)
	}
	raw := rawRecord(&ev)
	var scratch bpf.Event
	for _, tc := range []struct {
		name    string
		raw     []byte
		inPlace bool
	}{
		{"whole record", raw, true},
		{"unaligned", append(make([]byte, 1, len(raw)+1), raw...)[1:], false},
		{"a smaller SNAP_LEN's record", raw[:minRecordSize+128], false},
		{"capture shorter than its snap length", raw[:minRecordSize+64], false},
	} {
		want, err := Decode(tc.raw)
		if err != nil {
			t.Fatal(err)
		}
		scratch.PktLen = 999 // what an earlier record left
		got, err := view(tc.raw, &scratch)
		if err != nil || *got != *want {
			t.Errorf("%s: %+v, %v; want %+v", tc.name, got, err, want)
		}
		if in := unsafe.Pointer(got) == unsafe.Pointer(&tc.raw[0]); in != tc.inPlace {
			t.Errorf("%s: read in place %v, want %v", tc.name, in, tc.inPlace)
		}
	}
	if _, err := view(raw[:minRecordSize-1], &scratch); err == nil {
		t.Error("a record without all the fields was taken")
	}
}

// Reports built from slabs are ToReport's, and later reports (a new slab,
// a capture of any length) never write into earlier ones: the exporter
// still holds them.
func TestBuilderReportsStayTheirOwn(t *testing.T) {
	b := NewBuilder(0x0a000001)
	var built []any
	var want []any
	for i := range 3*slabReports + 7 {
		ev := bpf.Event{Type: bpf.EventFlow, IngressTs: uint64(i), EgressTs: uint64(i + 5), PktLen: 1500,
			SnapLen: uint16(i % (bpf.MaxSnapLen + 1)), L2: 1}
		if i%5 == 0 {
			ev.Type, ev.DropReason = bpf.EventDrop, 2
		}
		ev.Flow.Saddr = netip.MustParseAddr("::ffff:10.22.0.2").As16()
		ev.Flow.Sport = uint16(i)
		for k := range ev.Data {
			ev.Data[k] = byte(i + k)
		}
		r := b.Build(&ev)
		if cap(r.Frame) != len(r.Frame) {
			t.Fatalf("report %d: frame of %d bytes with room for %d: an append would write into the next", i, len(r.Frame), cap(r.Frame))
		}
		built = append(built, r)
		w := ToReport(&ev, 0x0a000001)
		want = append(want, &w)
	}
	for i := range built {
		if !reflect.DeepEqual(built[i], want[i]) {
			t.Fatalf("report %d changed or differs from ToReport's:\n%+v\n%+v", i, built[i], want[i])
		}
	}
}

// BenchmarkReaderStep is what the reader's goroutine pays per record now:
// the record read in place, the report built in a slab (allocations per
// report: the slabs', amortized).
func BenchmarkReaderStep(b *testing.B) {
	raw := benchRecord()
	builder := NewBuilder(0x0a000001)
	var scratch bpf.Event
	b.ReportAllocs()
	for b.Loop() {
		ev, err := view(raw, &scratch)
		if err != nil {
			b.Fatal(err)
		}
		if r := builder.Build(ev); !bytes.Equal(r.Frame[:4], ev.Data[:4]) {
			b.Fatal("capture not carried over")
		}
	}
}
