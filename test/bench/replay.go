package main

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"time"

	"golang.org/x/sys/unix"

	"github.com/podint/podint/internal/intreport"
)

// replay sends what a cluster's nodes send a collector: many sources (one
// UDP socket each, as each node's podintd is one sender), each reporting
// its hops of many flows, with per-source sequence numbers, at a paced
// rate. Every flow crosses two nodes, so the collector joins two hops per
// path. A source sends its datagrams in bursts of up to replayBurst through
// UDP GSO (UDP_SEGMENT: one pass through the sender's stack, separate
// datagrams at the receiver), so one sending core can offer more than the
// collector's core can take.
type replay struct {
	format  intreport.Format
	sources []*replaySource
	size    int // bytes per datagram, the same for all (GSO needs it)
	per     int // reports per datagram (v0.5: 1)
	buf     []byte
	next    int // the source that sends next
	sent    uint64
	// onSend, when set, is told of every send: when and how many reports.
	onSend func(at time.Time, reports uint64)
}

type replaySource struct {
	conn     *net.UDPConn
	fd       int
	bodies   [][]byte // the source's reports, encoded without the header that carries the sequence number
	cursor   int
	seq      uint32
	switchID uint32
}

// replayBurst is the most datagrams one send carries.
const replayBurst = 32

// replayHwID is the hw_id every replayed source uses.
const replayHwID = 1

// newReplay builds sources sources reporting flows flows (each flow on
// two of them) and connects each to addr (from inside the caller's
// network namespace).
func newReplay(format intreport.Format, to netip.AddrPort, sources, flows int) (*replay, error) {
	rp := &replay{format: format, per: 1}
	for range sources {
		c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(to))
		if err != nil {
			rp.Close()
			return nil, err
		}
		s := &replaySource{conn: c, seq: 1, switchID: nodeSwitchID(len(rp.sources))}
		rc, err := c.SyscallConn()
		if err != nil {
			rp.Close()
			return nil, err
		}
		rc.Control(func(fd uintptr) { s.fd = int(fd) })
		_ = unix.SetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 8<<20)
		rp.sources = append(rp.sources, s)
	}
	for i := range flows {
		a := i % sources
		b := (a + 1 + (i/sources)%(sources-1)) % sources // another node
		f := intreport.Flow{Proto: intreport.ProtoTCP,
			Src: netip.AddrFrom4([4]byte{10, byte(64 + a/256), byte(a), byte(2 + i/sources%250)}), SrcPort: uint16(32768 + i%28000),
			Dst: netip.AddrFrom4([4]byte{10, byte(64 + b/256), byte(b), byte(2 + i%250)}), DstPort: 8080}
		// The source node's hop: pod veth in, uplink out; the destination's:
		// uplink in, pod veth out. Hop latencies of a few to some hundred µs.
		lat := uint64(3000 + (i*7919)%200000)
		hops := [2]intreport.Report{
			{Kind: intreport.KindFlow, SwitchID: nodeSwitchID(a), IngressPort: uint32(10 + i%200), EgressPort: 2,
				IngressTS: 1_000_000, EgressTS: 1_000_000 + lat, FrameLen: 1400, Flow: f},
			{Kind: intreport.KindFlow, SwitchID: nodeSwitchID(b), IngressPort: 2, EgressPort: uint32(10 + i%200),
				IngressTS: 2_000_000, EgressTS: 2_000_000 + lat/2, FrameLen: 1400, Flow: f},
		}
		for h, node := range [2]int{a, b} {
			d := encodeReplay(format, &hops[h])
			rp.sources[node].bodies = append(rp.sources[node].bodies, d)
		}
	}
	body := len(rp.sources[0].bodies[0])
	if format == intreport.FormatV20 {
		rp.per = (1400 - 8) / body // as podintd batches to its path MTU
		rp.size = 8 + rp.per*body
	} else {
		rp.size = body
	}
	for _, s := range rp.sources {
		if len(s.bodies) == 0 {
			rp.Close()
			return nil, fmt.Errorf("replay: source without flows (%d sources, %d flows)", sources, flows)
		}
		if err := unix.SetsockoptInt(s.fd, unix.IPPROTO_UDP, unix.UDP_SEGMENT, rp.size); err != nil {
			rp.Close()
			return nil, fmt.Errorf("replay: UDP GSO (UDP_SEGMENT): %w", err)
		}
	}
	rp.buf = make([]byte, replayBurst*rp.size)
	return rp, nil
}

// nodeSwitchID is node n's switch id: its IPv4 address, 10.1.x.y.
func nodeSwitchID(n int) uint32 { return 10<<24 | 1<<16 | uint32(n+1) }

// encodeReplay encodes r; v0.5 as its whole datagram (the sequence number
// is patched per send), v2.0 as its individual report without the group
// header.
func encodeReplay(f intreport.Format, r *intreport.Report) []byte {
	if f == intreport.FormatV20 {
		return intreport.AppendV20(nil, r, replayHwID, 0, intreport.DefaultSnapLen)[8:]
	}
	return intreport.AppendV05(nil, r, replayHwID, 0, intreport.DefaultSnapLen)
}

// burst fills rp.buf with n datagrams of source s and returns the bytes.
func (rp *replay) burst(s *replaySource, n int) []byte {
	out := rp.buf[:0]
	for range n {
		if rp.format == intreport.FormatV20 {
			out = binary.BigEndian.AppendUint32(out, 2<<28|replayHwID<<22|s.seq&(1<<22-1))
			out = binary.BigEndian.AppendUint32(out, s.switchID)
			for range rp.per {
				out = append(out, s.bodies[s.cursor]...)
				s.cursor = (s.cursor + 1) % len(s.bodies)
			}
		} else {
			start := len(out)
			out = append(out, s.bodies[s.cursor]...)
			binary.BigEndian.PutUint32(out[start+4:], s.seq)
			s.cursor = (s.cursor + 1) % len(s.bodies)
		}
		s.seq++
	}
	return out
}

// run sends rate reports/s for d, paced every millisecond, from the
// calling thread. It returns how long it took (longer than d when the
// sender could not keep up).
func (rp *replay) run(rate float64, d time.Duration) (time.Duration, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	perDatagram := float64(rp.per)
	total := uint64(rate * d.Seconds() / perDatagram) // datagrams
	var done uint64
	start := time.Now()
	for done < total {
		el := min(time.Since(start), d)
		due := uint64(rate*el.Seconds()/perDatagram) - min(done, uint64(rate*el.Seconds()/perDatagram))
		if el == d {
			due = total - done
		}
		if due == 0 {
			time.Sleep(250 * time.Microsecond)
			continue
		}
		for due > 0 {
			s := rp.sources[rp.next]
			rp.next = (rp.next + 1) % len(rp.sources)
			n := int(min(due, replayBurst))
			b := rp.burst(s, n)
			for {
				_, err := unix.Write(s.fd, b)
				if err == nil {
					break
				}
				if err != unix.EAGAIN && err != unix.ENOBUFS && err != unix.EINTR {
					return time.Since(start), fmt.Errorf("replay send: %w", err)
				}
				// The send buffer is full: wait, never skip numbered datagrams
				// (the collector would count the sender's loss as its own).
				time.Sleep(50 * time.Microsecond)
			}
			due -= uint64(n)
			done += uint64(n)
			rp.sent += uint64(n) * uint64(rp.per)
			if rp.onSend != nil {
				rp.onSend(time.Now(), uint64(n)*uint64(rp.per))
			}
		}
	}
	return time.Since(start), nil
}

// Close closes the sources' sockets.
func (rp *replay) Close() {
	for _, s := range rp.sources {
		s.conn.Close()
	}
}
