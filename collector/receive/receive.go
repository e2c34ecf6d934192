// Package receive is podint-collector's receive path: UDP sockets sized for
// a cluster (SO_RCVBUF, SO_REUSEPORT, one reader per socket reading batches
// with recvmmsg), Telemetry Report v0.5 and v2.0 decoding, and the
// per-source accounting of what arrived, what was lost by sequence gap and
// what did not decode. It hands every decoded datagram to a Handler and
// never waits on storage.
package receive

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/podint/podint/internal/intreport"
)

// Config says how to receive.
type Config struct {
	Listen  string // host:port, e.g. ":32766"
	Readers int    // sockets bound with SO_REUSEPORT, one reader each; default 2
	RcvBuf  int    // SO_RCVBUF bytes per socket; default 8 MiB
	Batch   int    // datagrams per recvmmsg; default 64
	NoGRO   bool   // read datagram by datagram even where the kernel can coalesce (UDP_GRO)
}

// Handler takes one decoded datagram. It runs on a reader goroutine: it
// must not block (the store's queue is bounded and counts its overflow),
// and must not keep d or its reports' frames past its return: both are
// reused for the next datagram.
type Handler func(from netip.AddrPort, at time.Time, d *intreport.Datagram)

// Receiver owns the sockets and the accounting.
type Receiver struct {
	cfg     Config
	conns   []*net.UDPConn
	handle  Handler
	sources *Sources

	coalesced atomic.Uint64 // messages that carried several datagrams (UDP_GRO)
}

// Coalesced is how many received messages the kernel had coalesced from
// several datagrams of one sender (UDP_GRO), each cut back into its
// datagrams.
func (r *Receiver) Coalesced() uint64 { return r.coalesced.Load() }

// Listen opens cfg.Readers sockets on cfg.Listen. The kernel hashes each
// sender to one socket, so one source's datagrams stay in order.
func Listen(cfg Config, handle Handler, sources *Sources) (*Receiver, error) {
	if cfg.Readers <= 0 {
		cfg.Readers = 2
	}
	if cfg.RcvBuf <= 0 {
		cfg.RcvBuf = 8 << 20
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 64
	}
	r := &Receiver{cfg: cfg, handle: handle, sources: sources}
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
			if serr != nil {
				return
			}
			// FORCE passes net.core.rmem_max when we may (root, CAP_NET_ADMIN);
			// otherwise the plain option gets what the sysctl allows.
			if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, cfg.RcvBuf) != nil {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, cfg.RcvBuf)
			}
			// UDP_GRO: a sender's GSO run (podintd sends v0.5 reports so)
			// arrives as one message the reader cuts, instead of one
			// receive per report. A kernel without it (before 5.0) gives
			// datagram by datagram, which is read the same way.
			if !cfg.NoGRO && unix.SetsockoptInt(int(fd), unix.SOL_UDP, unix.UDP_GRO, 1) != nil {
				slog.Debug("UDP_GRO refused: reading datagram by datagram", "listen", cfg.Listen)
			}
		})
		return errors.Join(err, serr)
	}}
	addr := cfg.Listen
	for i := 0; i < cfg.Readers; i++ {
		pc, err := lc.ListenPacket(context.Background(), "udp", addr)
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("listen for INT reports on %s: %w", cfg.Listen, err)
		}
		conn := pc.(*net.UDPConn)
		r.conns = append(r.conns, conn)
		addr = conn.LocalAddr().String() // port 0: the others join the first's port
	}
	return r, nil
}

// Addr is the address the sockets are bound to.
func (r *Receiver) Addr() netip.AddrPort { return r.conns[0].LocalAddr().(*net.UDPAddr).AddrPort() }

// Close closes the sockets.
func (r *Receiver) Close() error {
	var errs []error
	for _, c := range r.conns {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// Serve reads on every socket until ctx ends.
func (r *Receiver) Serve(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make([]error, len(r.conns))
	for i, c := range r.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = r.read(ctx, c)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (r *Receiver) read(ctx context.Context, c *net.UDPConn) error {
	stop := context.AfterFunc(ctx, func() { c.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	m, err := newMmsgReader(c, r.cfg.Batch, 65536)
	if err != nil {
		return err
	}
	for {
		n, err := m.read()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			slog.Warn("reading INT reports", "listen", r.cfg.Listen, "err", err)
			continue
		}
		at := time.Now()
		for i := range n {
			payload, from := m.datagram(i)
			seg := m.segmentSize(i)
			if seg <= 0 {
				r.Handle(payload, from, at)
				continue
			}
			r.coalesced.Add(1)
			for len(payload) > 0 { // coalesced: one datagram per segment
				k := min(seg, len(payload))
				r.Handle(payload[:k], from, at)
				payload = payload[k:]
			}
		}
	}
}

// datagrams holds decoded datagrams for reuse: decoding allocates nothing
// per datagram once the readers run.
var datagrams = sync.Pool{New: func() any { return new(intreport.Datagram) }}

// Handle decodes one datagram, accounts for it and hands it on. payload
// is only read during the call.
func (r *Receiver) Handle(payload []byte, from netip.AddrPort, at time.Time) {
	from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	d := datagrams.Get().(*intreport.Datagram)
	defer datagrams.Put(d)
	if err := intreport.DecodeInto(d, payload); err != nil {
		r.sources.malformed(from, payload)
		return
	}
	r.sources.datagram(from, d)
	r.handle(from, at, d)
}
