package intreport

import (
	"encoding/binary"
	"fmt"
)

// MinV20Datagram is the smallest datagram budget V20Batch accepts: room for
// the group header, one report with all of podint's metadata, and the
// Ethernet, IPv6 and TCP headers of its inner frame.
const MinV20Datagram = v20GroupLen + v20ReportHdrLen + v20INTHdrLen + maxPodintMDLen + ethHeaderLen + ipv6HeaderLen + 20

// maxPodintMDLen is the metadata of a flow report with 32-bit port ids:
// ports, hop latency, queue, two timestamps, level-2 ports.
const maxPodintMDLen = 4 + 4 + 4 + 8 + 8 + 8

// V20Batch coalesces reports into Telemetry Report v2.0 datagrams of at most
// a given number of bytes. It numbers each datagram from its Sequence:
// the spec's 22-bit sequence number is in the group header, so it counts
// datagrams (group reports), not individual reports. A V20Batch is not safe
// for concurrent use; keep one per collector, as the sequence is per
// (hw_id, collector). The datagrams it returns are in its own memory, valid
// until the next one is closed: it reuses two buffers rather than allocate
// one per datagram (at hundreds of thousands of reports a second, those
// were a third of the daemon's garbage in v2.0).
type V20Batch struct {
	hwID    uint8
	snapLen int
	maxLen  int
	seq     *Sequence
	buf     []byte    // the open datagram, group header included
	bufs    [2][]byte // the memory of the open datagram and of the one returned last
	cur     int       // which of bufs the next datagram opens in
	scratch []byte    // the report being added, until it is known to fit
	reports int
}

// NewV20Batch returns a batch whose datagrams carry hwID, hold at most
// maxLen bytes of UDP payload and take their sequence numbers from seq.
// The caller derives maxLen from the path MTU: MTU less the IP header (20
// bytes, 40 for IPv6, more with options) and the 8-byte UDP header.
func NewV20Batch(hwID uint8, snapLen, maxLen int, seq *Sequence) (*V20Batch, error) {
	if maxLen < MinV20Datagram {
		return nil, fmt.Errorf("v2.0 datagram limit %d bytes: below the minimum of %d", maxLen, MinV20Datagram)
	}
	if maxLen > 0xffff-8 {
		return nil, fmt.Errorf("v2.0 datagram limit %d bytes: above the UDP maximum of %d", maxLen, 0xffff-8)
	}
	if snapLen <= 0 {
		snapLen = DefaultSnapLen
	}
	if seq == nil {
		s := NewSequence(FormatV20)
		seq = &s
	}
	return &V20Batch{hwID: hwID & hwIDMask, snapLen: snapLen, maxLen: maxLen, seq: seq}, nil
}

// Len is the number of reports in the open datagram.
func (b *V20Batch) Len() int { return b.reports }

// Add puts r into the open datagram. When r does not fit in it with its
// whole inner frame (up to the snap length), or comes from another switch
// than the reports already in it (a group header has one node id), the open
// datagram is closed and returned, ready to send, and r opens the next one.
// A report alone in a datagram gets its inner frame cut to fit. The closed
// datagram is valid until the next one is closed (by Add or Flush): send
// or copy it before.
func (b *V20Batch) Add(r *Report) (closed []byte) {
	md := v20MDBits(r)
	room := v20ReportRoom(md)
	if b.reports > 0 && r.SwitchID == b.nodeID() &&
		len(b.buf)+v20ReportHdrLen+v20INTHdrLen+mdLen(md)+(min(b.snapLen, room)+3)&^3 <= b.maxLen {
		// It fits however long its frame: encoded in place, not copied.
		b.buf = appendV20Report(b.buf, r, b.snapLen, room)
		b.reports++
		return nil
	}
	b.scratch = appendV20Report(b.scratch[:0], r, b.snapLen, room)
	if b.reports > 0 && (len(b.buf)+len(b.scratch) > b.maxLen || r.SwitchID != b.nodeID()) {
		closed = b.Flush()
	}
	if b.reports == 0 {
		if b.bufs[b.cur] == nil {
			b.bufs[b.cur] = make([]byte, 0, b.maxLen)
		}
		b.buf = appendV20Group(b.bufs[b.cur][:0], b.hwID, 0, r.SwitchID)
	}
	if len(b.buf)+len(b.scratch) <= b.maxLen {
		b.buf = append(b.buf, b.scratch...)
	} else {
		fixed := v20ReportHdrLen + v20INTHdrLen + mdLen(md)
		b.buf = appendV20Report(b.buf, r, b.snapLen, (b.maxLen-len(b.buf)-fixed)&^3)
	}
	b.reports++
	return closed
}

func (b *V20Batch) nodeID() uint32 { return binary.BigEndian.Uint32(b.buf[4:]) }

// Flush closes the open datagram, numbers it and returns it; nil when no
// report is waiting. The datagram is valid until the next one is closed.
func (b *V20Batch) Flush() []byte {
	if b.reports == 0 {
		return nil
	}
	d := b.buf
	appendV20Group(d[:0], b.hwID, b.seq.Next(), b.nodeID()) // rewrites the header in place
	b.bufs[b.cur] = d[:0]                                   // grown, if a cut frame made it so
	b.buf, b.reports, b.cur = nil, 0, b.cur^1
	return d
}
