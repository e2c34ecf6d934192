package exporter

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"github.com/podint/podint/internal/intreport"
)

const (
	// maxBatch is how many queued reports one round encodes and hands to
	// one sendmmsg: enough to amortize the syscall, small enough to keep
	// the latency of the first report low.
	maxBatch = 64
	// lingerDelay is how long a report waits for others to share its send
	// (the Go runtime may round it up to a millisecond when idle): what
	// the kernel spares per datagram in a batch is worth more than this
	// latency for telemetry of intervals of a second.
	lingerDelay = 200 * time.Microsecond
	// redialInterval spaces attempts to open a socket that failed to open.
	redialInterval = time.Second
	// maxRetryInterval bounds the back-off of a collector whose socket
	// cannot be opened (a name that does not resolve yet: cluster DNS is
	// often not up when a node boots), retried even while no report waits.
	maxRetryInterval = 30 * time.Second
	dialTimeout      = 2 * time.Second
	// logInterval is the least time between two log lines of one kind
	// about one collector, so a dead collector cannot flood the log.
	logInterval = 5 * time.Second
)

// batchWriter is what ipv4.PacketConn and ipv6.PacketConn share: a batched
// write, sendmmsg on Linux.
type batchWriter interface {
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
}

// collector is one destination: its queue, socket, sequence and counters.
// Everything but the queue, the counters and the last error belongs to its
// run goroutine.
type collector struct {
	name    string // as configured
	target  string // host:port to dial
	cfg     Config
	log     *slog.Logger
	queue   chan *intreport.Report
	stop    chan struct{}
	done    chan struct{}
	nudge   chan struct{} // see nudgeSender
	gate    chan struct{}
	dial    func(network, address string) (net.Conn, error)
	noGSO   bool // never segment (a test's baseline)
	sockopt func(fd int) error

	conn       *net.UDPConn
	writer     batchWriter
	dialErr    error
	lastDial   time.Time
	seq        intreport.Sequence
	v20        *intreport.V20Batch
	out        *outbox
	gso        bool // UDP GSO on this socket: until the kernel refuses it
	errLogAt   time.Time
	unlogged   uint64 // send errors since the last log line
	dropLogAt  time.Time
	loggedDrop uint64

	reports, datagrams, sendErrors, queueDrops atomic.Uint64
	messages                                   atomic.Uint64 // sends handed to the kernel (a GSO send is one)

	mu         sync.Mutex // guards the fields below, which Stats reads
	addr       string
	lastErr    string
	lastErrAt  time.Time
	unresolved string // why the collector's name does not resolve; "" once it does
}

func newCollector(name, target string, cfg Config, log *slog.Logger, s seams) *collector {
	first := s.firstSeq
	if first == 0 {
		first = 1
	}
	c := &collector{
		name: name, target: target, cfg: cfg,
		log:     log.With("collector", name),
		queue:   make(chan *intreport.Report, cfg.QueueLen),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		nudge:   make(chan struct{}, 1),
		gate:    s.gate,
		dial:    s.dial,
		noGSO:   s.noGSO,
		sockopt: s.sockopt,
		seq:     intreport.SequenceFrom(cfg.Format, first),
	}
	if c.dial == nil {
		c.dial = (&net.Dialer{Timeout: dialTimeout}).Dial
	}
	if cfg.Format == intreport.FormatV20 {
		// One budget for both families: what fits with IPv6 headers fits with IPv4's.
		c.v20, _ = intreport.NewV20Batch(cfg.HwID, cfg.SnapLen, cfg.MTU-udpIPv6Overhead, &c.seq) // limits checked in Config
		c.out = newOutbox(maxBatch * (cfg.MTU - udpIPv4Overhead))
	} else {
		c.out = newOutbox(maxBatch * (intreport.V05MaxHeaderLen + cfg.SnapLen))
	}
	return c
}

func (c *collector) run() {
	defer close(c.done)
	defer c.closeConn()
	if c.gate != nil {
		select {
		case <-c.gate:
		case <-c.stop:
		}
	}
	batch := make([]*intreport.Report, 0, maxBatch)
	// The socket is opened at once, so that a name that does not resolve is
	// known (logged, in health) before the first report, and a socket that
	// does not open is retried with a back-off, reports or not.
	backoff, armed := redialInterval, true
	retry := time.NewTimer(0)
	defer retry.Stop()
	linger := time.NewTimer(lingerDelay)
	linger.Stop()
	for {
		select {
		case <-retry.C:
			armed = false
			_ = c.open()
		case r := <-c.queue:
			batch = c.take(append(batch[:0], r))
			if len(batch) < maxBatch {
				batch = c.gather(batch, linger)
			}
			c.send(batch)
			c.releaseAll(batch)
		case <-c.stop:
			for batch = c.take(batch[:0]); len(batch) > 0; batch = c.take(batch[:0]) {
				c.send(batch)
				c.releaseAll(batch)
			}
			return
		}
		switch {
		case c.conn != nil:
			backoff = redialInterval
		case !armed:
			retry.Reset(backoff)
			backoff, armed = min(2*backoff, maxRetryInterval), true
		}
	}
}

// send encodes batch into datagrams and writes them. Sequence numbers are
// taken even for datagrams that fail, so the collector sees the loss.
func (c *collector) send(batch []*intreport.Report) {
	c.out.reset()
	if c.v20 != nil {
		for _, r := range batch {
			n := c.v20.Len()
			if d := c.v20.Add(r); d != nil {
				c.out.add(d, n)
			}
		}
		if n := c.v20.Len(); n > 0 {
			c.out.add(c.v20.Flush(), n)
		}
	} else {
		// Encoded in place, back to back, ready for one segmented send.
		for _, r := range batch {
			c.out.buf = intreport.AppendV05(c.out.buf, r, c.cfg.HwID, c.seq.Next(), c.cfg.SnapLen)
			c.out.closeDatagram(1)
		}
	}
	c.write()
	c.logDrops()
}

// release gives r back to the lender: this collector is done with it.
func (c *collector) release(r *intreport.Report) {
	if c.cfg.Lender != nil {
		c.cfg.Lender.Release(r)
	}
}

// releaseAll releases a sent batch's reports: send encoded them all.
func (c *collector) releaseAll(batch []*intreport.Report) {
	if c.cfg.Lender == nil {
		return
	}
	for i, r := range batch {
		c.cfg.Lender.Release(r)
		batch[i] = nil
	}
}

func (c *collector) write() {
	if err := c.open(); err != nil {
		c.fail(err, c.out.datagrams())
		return
	}
	o := c.out
	o.pack(0, c.gso)
	for m := 0; m < len(o.msgs); {
		n, err := c.writer.WriteBatch(o.msgs[m:], writeFlags)
		n = max(n, 0) // the raw sendmmsg result: -1 on error
		for k := m; k < m+n; k++ {
			c.reports.Add(uint64(o.msgReports(k)))
			c.datagrams.Add(uint64(o.segments(k)))
		}
		c.messages.Add(uint64(n))
		m += n
		if err == nil && n == 0 {
			err = errors.New("sendmmsg sent nothing")
		}
		if err == nil {
			continue
		}
		if o.segments(m) > 1 && gsoRefused(err) {
			// Nothing of the message was sent: send its datagrams and the
			// rest one by one, and no longer segment on this socket.
			c.gso = false
			c.log.Info("INT collector: the kernel refuses UDP segmentation offload (GSO) on this socket; sending datagram by datagram",
				"err", err, "segment_bytes", o.size(o.first[m]))
			o.pack(o.first[m], false)
			m = 0
			continue
		}
		// The first unsent datagram met the error (ECONNREFUSED from an
		// ICMP port unreachable, EHOSTUNREACH, EAGAIN with a full socket
		// buffer, EMSGSIZE above the path MTU): it is lost; go on.
		c.fail(err, o.segments(m))
		m++
		if _, perr := netip.ParseAddrPort(c.target); perr != nil {
			c.closeConn() // a name: resolve it again, the collector may have moved
			return
		}
	}
}

// open dials the collector unless its socket is open or it failed less
// than redialInterval ago.
func (c *collector) open() error {
	if c.conn != nil {
		return nil
	}
	if !c.lastDial.IsZero() && time.Since(c.lastDial) < redialInterval {
		return c.dialErr
	}
	c.lastDial = time.Now()
	conn, err := c.dial("udp", c.target)
	if err != nil {
		c.dialErr = err
		var dnsErr *net.DNSError
		if errors.As(err, &dnsErr) {
			c.mu.Lock()
			first := c.unresolved == ""
			c.unresolved = err.Error()
			c.mu.Unlock()
			if first {
				c.log.Warn("INT collector: its name does not resolve; reports to it are counted as lost until it does, retrying",
					"err", err, "retry_max", maxRetryInterval)
			}
		}
		return err
	}
	uc := conn.(*net.UDPConn)
	remote := uc.RemoteAddr().(*net.UDPAddr)
	v4 := remote.IP.To4() != nil
	if err := setDontFragment(uc, !v4); err != nil {
		c.log.Warn("INT collector: cannot set Don't Fragment; reports may be fragmented", "err", err)
	}
	if c.sockopt != nil {
		if rc, err := uc.SyscallConn(); err == nil {
			_ = rc.Control(func(fd uintptr) { _ = c.sockopt(int(fd)) })
		}
	}
	if v4 {
		c.writer = ipv4.NewPacketConn(uc)
	} else {
		c.writer = ipv6.NewPacketConn(uc)
	}
	c.conn, c.dialErr = uc, nil
	c.gso = gsoSupported && !c.noGSO
	c.mu.Lock()
	c.addr = remote.String()
	wasUnresolved := c.unresolved != ""
	c.unresolved = ""
	c.mu.Unlock()
	if wasUnresolved {
		c.log.Info("INT collector: name resolved", "addr", remote.String())
	}
	return nil
}

func (c *collector) closeConn() {
	if c.conn != nil {
		c.conn.Close()
		c.conn, c.writer = nil, nil
	}
}

// fail counts n datagrams lost to err and logs at a bounded rate.
func (c *collector) fail(err error, n int) {
	c.sendErrors.Add(uint64(n))
	now := time.Now()
	c.mu.Lock()
	c.lastErr, c.lastErrAt = err.Error(), now
	c.mu.Unlock()
	c.unlogged += uint64(n)
	if c.errLogAt.IsZero() || now.Sub(c.errLogAt) >= logInterval {
		c.log.Warn("INT collector: reports not sent", "err", err, "datagrams", c.unlogged)
		c.errLogAt, c.unlogged = now, 0
	}
}

func (c *collector) logDrops() {
	d := c.queueDrops.Load()
	if d == c.loggedDrop {
		return
	}
	now := time.Now()
	if c.dropLogAt.IsZero() || now.Sub(c.dropLogAt) >= logInterval {
		c.log.Warn("INT collector: queue full, reports dropped", "reports", d-c.loggedDrop, "queue_len", c.cfg.QueueLen)
		c.dropLogAt, c.loggedDrop = now, d
	}
}

func (c *collector) stats() CollectorStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return CollectorStats{
		Collector: c.name, Addr: c.addr,
		Reports: c.reports.Load(), Datagrams: c.datagrams.Load(),
		SendErrors: c.sendErrors.Load(), QueueDrops: c.queueDrops.Load(),
		LastError: c.lastErr, LastErrorAt: c.lastErrAt,
		Unresolved: c.unresolved,
	}
}
