package exporter

import "golang.org/x/net/ipv4"

const (
	// maxSegments is the most datagrams one UDP GSO send may carry: the
	// kernel's UDP_MAX_SEGMENTS, 64 before Linux 6.11 (128 since).
	maxSegments = 64
	// maxGSOBytes bounds one GSO send's payload below what an IP packet
	// can hold (65535 bytes with the IPv6 and UDP headers), the kernel's
	// other limit on a send.
	maxGSOBytes = 0xffff - udpIPv6Overhead
)

// outbox holds one round's datagrams back to back in one buffer and turns
// them into sendmmsg messages. With UDP segmentation offload (GSO) a run of
// equal-sized datagrams, and at most one shorter one ending it, is one
// message that the kernel cuts into datagrams of that size (UDP_SEGMENT):
// the stack is crossed once per run rather than once per datagram. The
// datagrams, their bytes and their order, are the same either way.
type outbox struct {
	buf     []byte
	ends    []int // where each datagram ends in buf
	reports []int // reports in each datagram

	msgs  []ipv4.Message
	iovs  [][1][]byte // each message's one buffer, kept to reuse
	first []int       // each message's first datagram; first[len(msgs)] = the end
	oob   []byte      // the messages' UDP_SEGMENT control messages
	oobAt []int       // where each message's is in oob, -1 for none
}

func newOutbox(capacity int) *outbox {
	return &outbox{buf: make([]byte, 0, capacity)}
}

// reset empties the outbox for the next round.
func (o *outbox) reset() {
	o.buf, o.ends, o.reports = o.buf[:0], o.ends[:0], o.reports[:0]
}

// add copies a datagram of that many reports in.
func (o *outbox) add(d []byte, reports int) {
	o.buf = append(o.buf, d...)
	o.closeDatagram(reports)
}

// closeDatagram ends the datagram appended to buf since the last one.
func (o *outbox) closeDatagram(reports int) {
	o.ends = append(o.ends, len(o.buf))
	o.reports = append(o.reports, reports)
}

func (o *outbox) datagrams() int { return len(o.ends) }

func (o *outbox) start(i int) int {
	if i == 0 {
		return 0
	}
	return o.ends[i-1]
}

func (o *outbox) size(i int) int { return o.ends[i] - o.start(i) }

// pack builds the messages for the datagrams from `from` on, one datagram
// per message unless gso.
func (o *outbox) pack(from int, gso bool) {
	o.msgs, o.first, o.oob, o.oobAt = o.msgs[:0], o.first[:0], o.oob[:0], o.oobAt[:0]
	n := o.datagrams()
	for i := from; i < n; {
		seg, j, total := o.size(i), i+1, o.size(i)
		if gso {
			for j < n && j-i < maxSegments && o.size(j) == seg && total+seg <= maxGSOBytes {
				total += seg
				j++
			}
			// A shorter datagram may end the run: the kernel's last segment.
			if j < n && j-i < maxSegments && o.size(j) < seg && total+o.size(j) <= maxGSOBytes {
				j++
			}
		}
		o.first = append(o.first, i)
		o.oobAt = append(o.oobAt, -1)
		if j-i > 1 {
			o.oobAt[len(o.oobAt)-1] = len(o.oob)
			o.oob = appendSegmentSize(o.oob, seg)
		}
		i = j
	}
	o.first = append(o.first, n)
	for len(o.iovs) < len(o.oobAt) {
		o.iovs = append(o.iovs, [1][]byte{})
	}
	for k, at := range o.oobAt {
		o.iovs[k][0] = o.buf[o.start(o.first[k]):o.ends[o.first[k+1]-1]]
		m := ipv4.Message{Buffers: o.iovs[k][:]}
		if at >= 0 {
			m.OOB = o.oob[at : at+segmentSizeLen]
		}
		o.msgs = append(o.msgs, m)
	}
}

// segments is how many datagrams message m carries; msgReports how many
// reports.
func (o *outbox) segments(m int) int { return o.first[m+1] - o.first[m] }

func (o *outbox) msgReports(m int) int {
	n := 0
	for _, r := range o.reports[o.first[m]:o.first[m+1]] {
		n += r
	}
	return n
}
