// Package exporter sends the daemon's INT reports to collectors over UDP:
// it encodes them in the configured format, numbers them per
// (hw_id, collector), batches the writes (sendmmsg where available) with
// the IP Don't Fragment bit set, and keeps going whatever the collectors do.
// A collector that is down, unreachable or slow costs counted errors and
// drops, never a stalled or crashed daemon.
package exporter

import (
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/podint/podint/internal/intreport"
)

const (
	DefaultMTU = 1500
	// DefaultQueueLen holds what the reader takes from the ring buffer in
	// one poll (it polls every 5 ms: ~3,000 reports at 600k/s) several
	// times over while the sender is off the CPU: at 4096 the daemon
	// pipeline lost reports to a full queue at 375k/s on one core, at
	// 16384 at 600k/s (docs/performance.md). Each waiting report holds
	// its memory (~0.5 KiB: a slot of the reader's ring of reports, or of a slab).
	DefaultQueueLen = 16384
	// MinSnapLen keeps the Ethernet, IPv6 and TCP headers of an inner frame,
	// so that a collector always sees the 5-tuple.
	MinSnapLen = 14 + 40 + 20
	// udpIPv6Overhead is the IPv6 and UDP headers around a report: a
	// datagram that fits the MTU with them fits with IPv4's too.
	udpIPv6Overhead = 40 + 8
	udpIPv4Overhead = 20 + 8
	// closeWait bounds how long Close waits for queued reports to go out.
	closeWait = 2 * time.Second
)

// Config says where reports go and how they are encoded. Zero values mean
// the defaults.
type Config struct {
	// Collectors are "host:port" addresses: IPv4 "10.0.0.9:32766", IPv6
	// "[fd00::9]:32766", or a DNS name, resolved when its socket is
	// (re)opened. Without a port, intreport.DefaultPort (32766).
	Collectors []string
	Format     intreport.Format
	HwID       uint8 // 0-63; see HwID
	SnapLen    int   // inner frame bytes per report (default 128, at least MinSnapLen)
	MTU        int   // path MTU to the collectors, in IP packet bytes (default 1500)
	QueueLen   int   // reports waiting per collector before drops (default DefaultQueueLen)
	// Lender, when set, owns the reports Send takes: the exporter holds
	// each once per collector it queues the report for and releases it
	// when that collector is done with it (encoded, or dropped), so that
	// the lender can reuse its memory. A report never released (a
	// collector removed with reports still queued) is the lender's loss
	// of a slot, never a report changed while held.
	Lender Lender
}

// Lender lends reports to the exporter: see Config.Lender.
type Lender interface {
	Hold(r *intreport.Report, n int)
	Release(r *intreport.Report)
}

func (c Config) withDefaults() (Config, error) {
	if c.SnapLen == 0 {
		c.SnapLen = intreport.DefaultSnapLen
	}
	if c.MTU == 0 {
		c.MTU = DefaultMTU
	}
	if c.QueueLen == 0 {
		c.QueueLen = DefaultQueueLen
	}
	switch {
	case c.Format != intreport.FormatV05 && c.Format != intreport.FormatV20:
		return c, fmt.Errorf("report format %d: want v0.5 or v2.0", c.Format)
	case c.HwID > 63:
		return c, fmt.Errorf("hw_id %d: the field has 6 bits, so 0-63", c.HwID)
	case c.SnapLen < MinSnapLen:
		return c, fmt.Errorf("snap length %d: below %d bytes the inner headers do not fit", c.SnapLen, MinSnapLen)
	case c.QueueLen < 0:
		return c, fmt.Errorf("queue length %d: negative", c.QueueLen)
	case c.MTU > 0xffff:
		return c, fmt.Errorf("MTU %d: above the IP maximum of 65535", c.MTU)
	}
	// Every report must fit the MTU alone; v2.0 cuts frames to fit, v0.5 cannot.
	if c.Format == intreport.FormatV05 && intreport.V05MaxHeaderLen+c.SnapLen+udpIPv6Overhead > c.MTU {
		return c, fmt.Errorf("MTU %d: a v0.5 report with a %d-byte frame needs %d bytes with its IPv6 and UDP headers",
			c.MTU, c.SnapLen, intreport.V05MaxHeaderLen+c.SnapLen+udpIPv6Overhead)
	}
	if c.Format == intreport.FormatV20 && c.MTU-udpIPv6Overhead < intreport.MinV20Datagram {
		return c, fmt.Errorf("MTU %d: a v2.0 datagram needs at least %d bytes with its IPv6 and UDP headers",
			c.MTU, intreport.MinV20Datagram+udpIPv6Overhead)
	}
	return c, nil
}

// HwID derives a report's 6-bit hw_id from the node name: the name's
// 32-bit FNV-1a hash folded to 6 bits, so that names differing only in
// their last characters (node-1, node-2) still get different ids. It is
// deterministic, so a restarted daemon keeps its hw_id and a collector
// keeps tracking its sequence.
func HwID(nodeName string) uint8 {
	h := fnv.New32a()
	h.Write([]byte(nodeName))
	v := h.Sum32()
	return uint8((v ^ v>>6 ^ v>>12 ^ v>>18 ^ v>>24 ^ v>>30) & 0x3f)
}

// CollectorStats are one collector's counters since it was configured.
type CollectorStats struct {
	Collector   string // as configured
	Addr        string // the resolved address, once a socket is open
	Reports     uint64 // reports in datagrams sent
	Datagrams   uint64 // datagrams sent
	SendErrors  uint64 // datagrams that could not be sent
	QueueDrops  uint64 // reports dropped because the collector's queue was full
	LastError   string
	LastErrorAt time.Time
	Unresolved  string // why the collector's name does not resolve, "" when it does (or is an address)
}

// Exporter sends reports to its collectors. Its methods are safe for
// concurrent use.
type Exporter struct {
	cfg        Config
	log        *slog.Logger
	seams      seams
	mu         sync.Mutex // serializes SetCollectors and Close
	collectors atomic.Pointer[[]*collector]
	closed     atomic.Bool
}

// seams let tests start sequences near the wrap and hold senders still.
type seams struct {
	firstSeq uint32        // 0: 1
	gate     chan struct{} // when set, senders wait for it to close before sending
	// dial opens a collector's socket (default net.Dialer.Dial), so that a
	// test can make a name resolve later.
	dial func(network, address string) (net.Conn, error)
	// noGSO sends one datagram per message, as without UDP GSO; sockopt
	// is applied to every socket opened, so that a test can make the
	// kernel refuse segmentation.
	noGSO   bool
	sockopt func(fd int) error
}

// New starts an exporter. It fails only on a configuration error; sockets
// that cannot be opened yet are retried as reports arrive.
func New(cfg Config, log *slog.Logger) (*Exporter, error) {
	return newExporter(cfg, log, seams{})
}

func newExporter(cfg Config, log *slog.Logger, s seams) (*Exporter, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Exporter{cfg: cfg, log: log, seams: s}
	e.collectors.Store(&[]*collector{})
	if err := e.SetCollectors(cfg.Collectors); err != nil {
		return nil, err
	}
	return e, nil
}

// Send queues r for every collector and returns at once. When a
// collector's queue is full, r is dropped for it and counted. The exporter
// reads r and r.Frame later, from another goroutine: the caller must not
// change them after Send (with a Lender, until their release).
func (e *Exporter) Send(r *intreport.Report) {
	if e.closed.Load() {
		return
	}
	cs := *e.collectors.Load()
	if l := e.cfg.Lender; l != nil && len(cs) > 0 {
		l.Hold(r, len(cs))
	}
	for _, c := range cs {
		select {
		case c.queue <- r:
			if len(c.queue) == maxBatch {
				c.nudgeSender() // a full batch waits: no need to linger
			}
			continue
		default:
		}
		// Full: let the collector's sender run once before dropping r. On
		// one CPU (GOMAXPROCS=1) the reader would otherwise fill the queue
		// in a burst faster than the sender gets scheduled, and drop what
		// the ring buffer could have held. The sender never blocks on its
		// collector (writes do not wait), so this costs at most a
		// reschedule per report, however slow or dead the collector.
		c.nudgeSender()
		runtime.Gosched()
		select {
		case c.queue <- r:
		default:
			c.queueDrops.Add(1)
			c.release(r)
		}
	}
}

// SetCollectors replaces the collector list. Collectors that stay keep their
// sequence numbers and counters; removed ones flush their queue and close.
// On an error nothing changes.
func (e *Exporter) SetCollectors(list []string) error {
	targets := make([]string, 0, len(list))
	seen := map[string]bool{}
	for _, s := range list {
		t, err := parseCollector(s)
		if err != nil {
			return err
		}
		if seen[t] {
			return fmt.Errorf("collector %q: listed twice", s)
		}
		seen[t] = true
		targets = append(targets, t)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed.Load() {
		return errors.New("exporter: closed")
	}
	old := map[string]*collector{}
	for _, c := range *e.collectors.Load() {
		old[c.target] = c
	}
	next := make([]*collector, 0, len(targets))
	for i, t := range targets {
		if c, ok := old[t]; ok {
			next = append(next, c)
			delete(old, t)
			continue
		}
		c := newCollector(list[i], t, e.cfg, e.log, e.seams)
		go c.run()
		next = append(next, c)
	}
	e.collectors.Store(&next)
	for _, c := range old {
		close(c.stop)
	}
	return nil
}

// Stats returns each collector's counters, in configuration order.
func (e *Exporter) Stats() []CollectorStats {
	cs := *e.collectors.Load()
	out := make([]CollectorStats, 0, len(cs))
	for _, c := range cs {
		out = append(out, c.stats())
	}
	return out
}

// Close stops accepting reports, sends what is queued, waiting at most two
// seconds, and closes the sockets. Senders still busy after the wait finish
// on their own; nothing they do can block.
func (e *Exporter) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.closed.CompareAndSwap(false, true) {
		return nil
	}
	cs := *e.collectors.Load()
	for _, c := range cs {
		close(c.stop)
	}
	timer := time.NewTimer(closeWait)
	defer timer.Stop()
	expired := false
	var errs []error
	for _, c := range cs {
		if !expired {
			select {
			case <-c.done:
				continue
			case <-timer.C:
				expired = true
			}
		}
		select {
		case <-c.done:
		default:
			errs = append(errs, fmt.Errorf("collector %s: still flushing after %s", c.name, closeWait))
		}
	}
	return errors.Join(errs...)
}
