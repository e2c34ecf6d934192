// Package events reads the probes' ring buffer and turns each record into
// an INT report for the exporter.
package events

import (
	"fmt"
	"net/netip"
	"unsafe"

	"github.com/podint/podint/bpf"
	"github.com/podint/podint/internal/intreport"
)

// recordSize is the size of one ring buffer record, struct event in C;
// minRecordSize is that of its fields before the captured bytes.
const (
	recordSize    = int(unsafe.Sizeof(bpf.Event{}))
	minRecordSize = int(unsafe.Offsetof(bpf.Event{}.Data))
)

// Decode interprets a raw ring buffer record. Records are written by the
// probes on this machine, so they are in native (little-endian) order. A
// record shorter than struct event but holding all its fields comes from
// probes built with a smaller SNAP_LEN (an upgrade replaces them while
// their events wait in the pinned ring buffer); its capture is what it
// holds.
func Decode(raw []byte) (*bpf.Event, error) {
	if len(raw) < minRecordSize {
		return nil, fmt.Errorf("ring buffer record of %d bytes, want %d: probes and daemon are of different versions", len(raw), recordSize)
	}
	// The record is copied: the ring buffer reuses raw for the next one.
	ev := new(bpf.Event)
	if len(raw) >= recordSize {
		*ev = *(*bpf.Event)(unsafe.Pointer(&raw[0]))
		return ev, nil
	}
	copy(unsafe.Slice((*byte)(unsafe.Pointer(ev)), recordSize), raw)
	ev.SnapLen = uint16(min(int(ev.SnapLen), len(raw)-minRecordSize))
	return ev, nil
}

// view interprets a raw record in place when it is a whole, aligned
// struct event (what the probes write), else decodes it into scratch: no
// copy, no allocation. The event is valid until raw or scratch is reused.
func view(raw []byte, scratch *bpf.Event) (*bpf.Event, error) {
	if len(raw) >= recordSize && uintptr(unsafe.Pointer(&raw[0]))%unsafe.Alignof(bpf.Event{}) == 0 {
		return (*bpf.Event)(unsafe.Pointer(&raw[0])), nil
	}
	if len(raw) < minRecordSize {
		return nil, fmt.Errorf("ring buffer record of %d bytes, want %d: probes and daemon are of different versions", len(raw), recordSize)
	}
	*scratch = bpf.Event{}
	copy(unsafe.Slice((*byte)(unsafe.Pointer(scratch)), recordSize), raw)
	if len(raw) < recordSize {
		scratch.SnapLen = uint16(min(int(scratch.SnapLen), len(raw)-minRecordSize))
	}
	return scratch, nil
}

// FlowOf converts the probes' flow key into a report's flow.
func FlowOf(k *bpf.FlowKey) intreport.Flow {
	return intreport.Flow{
		Src:     netip.AddrFrom16(k.Saddr).Unmap(),
		Dst:     netip.AddrFrom16(k.Daddr).Unmap(),
		Proto:   k.Proto,
		SrcPort: k.Sport,
		DstPort: k.Dport,
	}
}

// ToReport builds the INT report for ev on switch switchID.
func ToReport(ev *bpf.Event, switchID uint32) intreport.Report {
	var r intreport.Report
	fillReport(&r, ev, switchID, make([]byte, captured(ev)))
	return r
}

// captured is how many bytes of its packet ev carries.
func captured(ev *bpf.Event) int { return min(int(ev.SnapLen), len(ev.Data)) }

// fillReport builds into r the report for ev, copying its capture into
// frame, which holds captured(ev) bytes.
func fillReport(r *intreport.Report, ev *bpf.Event, switchID uint32, frame []byte) {
	kind := intreport.KindFlow
	if ev.Type == bpf.EventDrop {
		kind = intreport.KindDrop
	}
	copy(frame, ev.Data[:len(frame)])
	*r = intreport.Report{
		Kind:        kind,
		SwitchID:    switchID,
		IngressPort: ev.IngressIfindex,
		EgressPort:  ev.EgressIfindex,
		IngressTS:   ev.IngressTs,
		EgressTS:    ev.EgressTs,
		Flow:        FlowOf(&ev.Flow),
		Frame:       frame,
		FrameL2:     ev.L2 != 0,
		FrameLen:    ev.PktLen,
		NoIngress:   kind == intreport.KindFlow && ev.Cause&bpf.CauseNoIngress != 0,
	}
	if kind == intreport.KindDrop {
		r.DropReason = intreport.KernelDropReasonCode(bpf.KernelDropReasonName(ev.DropReason), ttlOf(frame, r.FrameL2))
	}
}

// ttlOf reads the IPv4 TTL or IPv6 hop limit of a captured packet, -1 when
// the capture does not hold it.
func ttlOf(frame []byte, l2 bool) int {
	if l2 {
		if len(frame) < 14 {
			return -1
		}
		frame = frame[14:] // VLAN-tagged drops are captured from L3 anyway
	}
	switch {
	case len(frame) >= 9 && frame[0]>>4 == 4:
		return int(frame[8])
	case len(frame) >= 8 && frame[0]>>4 == 6:
		return int(frame[7])
	}
	return -1
}
