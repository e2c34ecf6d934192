package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"

	"github.com/podint/podint/internal/intreport"
	"github.com/podint/podint/test/harness"
)

// collector is a UDP INT collector for the benchmark: it counts reports
// as fast as the daemon can send them (batched reads, a large socket
// buffer) and, when asked, remembers when each flow was reported and the
// first bytes of each reported packet's payload.
type collector struct {
	ns   *harness.NetNS
	conn *net.UDPConn
	port int

	reports, datagrams, undecodable atomic.Uint64

	mu     sync.Mutex
	record bool
	flows  map[intreport.Flow]*flowSeen
	delays []float64 // ns from each flow report's packet at its egress port to its arrival here
}

// flowSeen is what the collector saw of one flow.
type flowSeen struct {
	times   []time.Time
	payload [][]byte // the first 4 payload bytes of each reported packet (UDP only)
}

// collectorBuffer is the socket's receive buffer: large enough that the
// collector never drops what the daemon sends during a rate step.
const collectorBuffer = 64 << 20

// newCollector starts a collector in ns. With gro the socket takes UDP
// GRO: a segmented (GSO) send arrives whole, as one read the collector
// cuts into its datagrams, instead of the kernel cutting it into one
// socket buffer each on the sending CPU: what a collector reading at high
// rates does, and what keeps the loopback delivery's cost off the
// daemon's core in the pipeline stage.
func newCollector(ns *harness.NetNS, gro bool) (*collector, error) {
	c := &collector{ns: ns, flows: map[intreport.Flow]*flowSeen{}}
	err := ns.Do(func() (err error) {
		c.conn, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		return err
	})
	if err != nil {
		return nil, err
	}
	c.port = c.conn.LocalAddr().(*net.UDPAddr).Port
	if rc, err := c.conn.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) {
			_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, collectorBuffer)
			if gro {
				err = unix.SetsockoptInt(int(fd), unix.SOL_UDP, unix.UDP_GRO, 1)
			}
		})
		if err != nil {
			c.conn.Close()
			return nil, fmt.Errorf("collector: UDP_GRO: %w", err)
		}
	}
	go c.read()
	return c, nil
}

func (c *collector) Addr() string { return c.conn.LocalAddr().String() }

func (c *collector) read() {
	pc := ipv4.NewPacketConn(c.conn)
	msgs := make([]ipv4.Message, 64)
	for i := range msgs {
		msgs[i].Buffers = [][]byte{make([]byte, 65536)}
		msgs[i].OOB = make([]byte, 64)
	}
	for {
		n, err := pc.ReadBatch(msgs, 0)
		if err != nil {
			return
		}
		for _, m := range msgs[:n] {
			b := m.Buffers[0][:m.N]
			seg := groSegment(m.OOB[:m.NN])
			if seg <= 0 {
				seg = len(b)
			}
			for len(b) > 0 {
				d := b[:min(seg, len(b))]
				b = b[len(d):]
				c.count(d)
			}
		}
	}
}

// groSegment is the datagram size of a coalesced read (the UDP_GRO control
// message), 0 when the read is one datagram.
func groSegment(oob []byte) int {
	cms, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return 0
	}
	for _, cm := range cms {
		if cm.Header.Level == unix.SOL_UDP && cm.Header.Type == unix.UDP_GRO && len(cm.Data) >= 4 {
			return int(*(*int32)(unsafe.Pointer(&cm.Data[0])))
		}
	}
	return 0
}

func (c *collector) count(b []byte) {
	d, err := intreport.Decode(b)
	if err != nil {
		c.undecodable.Add(1)
		return
	}
	c.datagrams.Add(1)
	c.reports.Add(uint64(len(d.Reports)))
	c.remember(d)
}

func (c *collector) remember(d *intreport.Datagram) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.record {
		return
	}
	now := time.Now()
	mono := monotonicNs()
	for i := range d.Reports {
		r := &d.Reports[i]
		if r.Kind == intreport.KindFlow {
			// The probe's egress time is CLOCK_MONOTONIC (bpf_ktime_get_ns)
			// on this machine; v0.5 carries its low 32 bits.
			if d := uint32(mono) - uint32(r.EgressTS); d < 1<<31 {
				c.delays = append(c.delays, float64(d))
			}
		}
		fs := c.flows[r.Flow]
		if fs == nil {
			fs = &flowSeen{}
			c.flows[r.Flow] = fs
		}
		fs.times = append(fs.times, now)
		if r.Flow.Proto == intreport.ProtoUDP && r.FrameL2 && len(r.Frame) >= 14+20+8+4 && r.Frame[14]>>4 == 4 {
			off := 14 + int(r.Frame[14]&0x0f)*4 + 8
			if off+4 <= len(r.Frame) {
				fs.payload = append(fs.payload, append([]byte(nil), r.Frame[off:off+4]...))
			}
		}
	}
}

// startRecording forgets what was recorded and records from now on.
func (c *collector) startRecording() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.record = true
	c.flows = map[intreport.Flow]*flowSeen{}
	c.delays = nil
}

// recordedDelays returns the report delays recorded since startRecording.
func (c *collector) recordedDelays() []float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.delays
}

// monotonicNs is CLOCK_MONOTONIC, the clock of bpf_ktime_get_ns.
func monotonicNs() uint64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return uint64(ts.Nano())
}

// recorded returns what was recorded and stops recording.
func (c *collector) recorded() map[intreport.Flow]*flowSeen {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.record = false
	return c.flows
}

// socketDrops is how many datagrams the kernel dropped at the collector's
// socket (a full receive buffer): losses of the collector, not the daemon.
func (c *collector) socketDrops() (uint64, error) {
	var drops uint64
	found := false
	err := c.ns.Do(func() error {
		f, err := os.Open("/proc/thread-self/net/udp")
		if err != nil {
			return err
		}
		defer f.Close()
		want := fmt.Sprintf(":%04X", c.port)
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 13 || !strings.HasSuffix(fields[1], want) {
				continue
			}
			drops, err = strconv.ParseUint(fields[len(fields)-1], 10, 64)
			found = err == nil
			return err
		}
		return sc.Err()
	})
	if err == nil && !found {
		err = fmt.Errorf("collector socket on port %d not in /proc/net/udp", c.port)
	}
	return drops, err
}

func (c *collector) Close() error { return c.conn.Close() }
