package events

import (
	"github.com/podint/podint/bpf"
	"github.com/podint/podint/internal/intreport"
)

// slabReports is how many reports one allocation of a Builder holds.
const slabReports = 256

// Builder builds reports for the exporter in memory allocated a slab of
// reports and captures at a time, rather than two allocations per report:
// at hundreds of thousands of reports a second those are most of the
// garbage collector's work. A report stays valid for as long as anything
// holds it (the slab lives while any of its reports does); it must not be
// changed once built. A Builder is not safe for concurrent use: the
// reader's goroutine owns it.
type Builder struct {
	switchID uint32
	reports  []intreport.Report
	frames   []byte
}

// NewBuilder returns a builder of reports on switch switchID.
func NewBuilder(switchID uint32) *Builder { return &Builder{switchID: switchID} }

// Build returns the report for ev.
func (b *Builder) Build(ev *bpf.Event) *intreport.Report {
	if len(b.reports) == 0 {
		b.reports = make([]intreport.Report, slabReports)
	}
	n := captured(ev)
	if b.frames == nil || len(b.frames) < n {
		b.frames = make([]byte, slabReports*bpf.MaxSnapLen)
	}
	r := &b.reports[0]
	b.reports = b.reports[1:]
	fillReport(r, ev, b.switchID, b.frames[:n:n])
	b.frames = b.frames[n:]
	return r
}
