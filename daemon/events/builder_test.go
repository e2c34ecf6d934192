package events

import (
	"bytes"
	"net/netip"
	"reflect"
	"testing"
	"unsafe"

	"github.com/podint/podint/bpf"
	"github.com/podint/podint/internal/intreport"
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
// the record read in place, the report built in the builder's ring and
// released by its holder (the exporter, once sent), as the daemon does;
// /held: never released, so built in fresh slabs (allocations per report:
// the slabs', amortized), as when the sender falls behind.
func BenchmarkReaderStep(b *testing.B) {
	for _, release := range []bool{true, false} {
		name := "released"
		if !release {
			name = "held"
		}
		b.Run(name, func(b *testing.B) {
			raw := benchRecord()
			builder := NewBuilder(0x0a000001)
			var scratch bpf.Event
			b.ReportAllocs()
			for b.Loop() {
				ev, err := view(raw, &scratch)
				if err != nil {
					b.Fatal(err)
				}
				r := builder.Build(ev)
				if !bytes.Equal(r.Frame[:4], ev.Data[:4]) {
					b.Fatal("capture not carried over")
				}
				if release {
					builder.Release(r)
				}
			}
		})
	}
}

// A report's slot is built into again only once every hold on it is
// released: a report still held keeps its contents while the ring comes
// round to it, and released ones are reused rather than allocated.
func TestBuilderReusesOnlyReleasedReports(t *testing.T) {
	b := NewBuilder(0x0a000001)
	ev := func(i int) *bpf.Event {
		e := &bpf.Event{Type: bpf.EventFlow, IngressTs: uint64(i), EgressTs: uint64(i + 5), PktLen: 1500,
			SnapLen: uint16(1 + i%bpf.MaxSnapLen), IngressIfindex: 3, EgressIfindex: 4}
		e.Flow.Saddr = netip.MustParseAddr("::ffff:10.22.0.2").As16()
		e.Flow.Sport = uint16(i)
		for k := range e.Data {
			e.Data[k] = byte(i + k)
		}
		return e
	}
	first := map[*intreport.Report]int{}
	var kept, twice *intreport.Report
	var keptWant intreport.Report
	for i := range ringSlots {
		r := b.Build(ev(i))
		first[r] = i
		switch i {
		case 7: // held by the builder's caller and by one more holder
			kept, keptWant = r, ToReport(ev(i), 0x0a000001)
			b.Hold(r, 1)
			b.Release(r)
		case 9: // held twice, released once
			twice = r
			b.Hold(r, 1)
			b.Release(r)
		default:
			b.Release(r)
		}
	}
	reused := 0
	for i := ringSlots; i < 2*ringSlots; i++ {
		r := b.Build(ev(i))
		if r == kept || r == twice {
			t.Fatalf("report %d built into a report still held", i)
		}
		if _, ok := first[r]; ok {
			reused++
		}
		if want := ToReport(ev(i), 0x0a000001); !reflect.DeepEqual(*r, want) {
			t.Fatalf("report %d: %+v, want %+v", i, *r, want)
		}
	}
	if !reflect.DeepEqual(*kept, keptWant) {
		t.Fatalf("a held report changed:\n%+v\nwant %+v", *kept, keptWant)
	}
	if reused != ringSlots-2 {
		t.Fatalf("%d of %d released reports reused", reused, ringSlots-2)
	}
	b.Release(kept)
	b.Release(twice)
	for i := 0; i < ringSlots; i++ {
		if r := b.Build(ev(i)); r == kept {
			return // released: its slot is the ring's again
		}
	}
	t.Fatal("a report released by every holder was never reused")
}
