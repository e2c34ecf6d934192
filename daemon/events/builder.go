package events

import (
	"sync/atomic"
	"unsafe"

	"github.com/podint/podint/bpf"
	"github.com/podint/podint/internal/intreport"
)

const (
	// slabReports is how many reports one allocation of a Builder holds
	// once its ring's next slot is still lent.
	slabReports = 256
	// ringSlots is how many reports a Builder reuses: more than the reader
	// takes from the ring buffer in one poll at hundreds of thousands of
	// reports a second (~3,000 at 600k/s), so that a report's slot is back
	// before the ring comes round to it unless the sender falls behind.
	// Each slot holds a report and a capture of bpf.MaxSnapLen bytes:
	// 3.4 MiB for 8192.
	ringSlots = 8192
)

// Builder builds reports for the exporter. It lends them from a ring of
// reports and captures that it reuses once every holder has released
// them (Hold, Release): at hundreds of thousands of reports a second, an
// allocation per report (or slab of them) is most of the garbage
// collector's work. When the ring's next slot is still held (the sender
// fell behind, or a holder never releases), the report is built in a
// slab of fresh memory instead, which the garbage collector frees. A
// report stays valid for as long as it is held; it must not be changed
// once built. Build is for one goroutine (the reader's); Hold and Release
// are safe for concurrent use.
type Builder struct {
	switchID uint32

	ring   []intreport.Report
	frames []byte         // slot i's capture: frames[i*bpf.MaxSnapLen:]
	refs   []atomic.Int32 // holds on slot i; 0: free
	next   int

	slab       []intreport.Report // the fallback
	slabFrames []byte
}

// NewBuilder returns a builder of reports on switch switchID.
func NewBuilder(switchID uint32) *Builder {
	return &Builder{switchID: switchID,
		ring:   make([]intreport.Report, ringSlots),
		frames: make([]byte, ringSlots*bpf.MaxSnapLen),
		refs:   make([]atomic.Int32, ringSlots),
	}
}

// Build returns the report for ev, held once by the caller: Release it
// when done, after the Hold of whoever keeps it longer.
func (b *Builder) Build(ev *bpf.Event) *intreport.Report {
	n := captured(ev)
	i := b.next
	b.next = (b.next + 1) % len(b.ring)
	if b.refs[i].Load() == 0 {
		b.refs[i].Store(1)
		r := &b.ring[i]
		f := b.frames[i*bpf.MaxSnapLen:]
		fillReport(r, ev, b.switchID, f[:n:n])
		return r
	}
	if len(b.slab) == 0 {
		b.slab = make([]intreport.Report, slabReports)
	}
	if len(b.slabFrames) < n {
		b.slabFrames = make([]byte, slabReports*bpf.MaxSnapLen)
	}
	r := &b.slab[0]
	b.slab = b.slab[1:]
	fillReport(r, ev, b.switchID, b.slabFrames[:n:n])
	b.slabFrames = b.slabFrames[n:]
	return r
}

// slot is r's index in the ring, or -1 for a report built elsewhere.
func (b *Builder) slot(r *intreport.Report) int {
	off := uintptr(unsafe.Pointer(r)) - uintptr(unsafe.Pointer(&b.ring[0]))
	size := unsafe.Sizeof(intreport.Report{})
	if off >= uintptr(len(b.ring))*size {
		return -1
	}
	return int(off / size)
}

// Hold adds n holds on r, which its caller holds: r stays r until each
// is released.
func (b *Builder) Hold(r *intreport.Report, n int) {
	if i := b.slot(r); i >= 0 {
		b.refs[i].Add(int32(n))
	}
}

// Release gives back one hold on r. The last one makes its memory the
// builder's again: nothing may read r after its Release.
func (b *Builder) Release(r *intreport.Report) {
	if i := b.slot(r); i >= 0 {
		b.refs[i].Add(-1)
	}
}
