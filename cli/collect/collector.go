// Package collect is podint's standalone INT collector, the engine of
// `podintctl collect`: it receives Telemetry Report v0.5 and v2.0
// datagrams, decodes them, keeps a summary (per flow packets and hop
// latency, drops by reason, reports lost per source) and hands each report
// to whoever listens: the command's printer, a pcap writer, a test.
package collect

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/podint/podint/internal/intreport"
)

// Received is one decoded report with where and when it arrived.
type Received struct {
	intreport.Decoded
	At     time.Time
	From   netip.AddrPort // the sender's address and port
	Format intreport.Format
	HwID   uint8
	Seq    uint32 // of the datagram (v2.0: shared by the reports of one datagram)
}

// Collector decodes datagrams and keeps their summary. Feed it with Handle
// (tests, demos) or Serve (a socket). Its methods are safe for concurrent
// use; hooks run on the goroutine that called Handle, in arrival order.
type Collector struct {
	mu          sync.Mutex
	summary     tally
	subscribers map[*subscriber]struct{}
	onReport    []func(Received)
	onDatagram  []func(at time.Time, from netip.AddrPort, payload []byte)
	onError     []func(at time.Time, from netip.AddrPort, err error)
}

type subscriber struct {
	ch      chan Received
	dropped uint64
}

// NewCollector returns an empty collector.
func NewCollector() *Collector {
	return &Collector{summary: newTally(), subscribers: map[*subscriber]struct{}{}}
}

// OnReport registers fn to be called with every decoded report, in order.
// fn runs before Handle returns, so a slow fn slows the collector down.
func (c *Collector) OnReport(fn func(Received)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.onReport = append(c.onReport, fn)
}

// OnDatagram registers fn to be called with every datagram as received,
// before it is decoded (malformed ones too); the pcap writer uses it.
// payload is only valid during the call.
func (c *Collector) OnDatagram(fn func(at time.Time, from netip.AddrPort, payload []byte)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.onDatagram = append(c.onDatagram, fn)
}

// OnError registers fn to be called with every datagram that does not decode.
func (c *Collector) OnError(fn func(at time.Time, from netip.AddrPort, err error)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.onError = append(c.onError, fn)
}

// Subscribe returns a channel that receives every decoded report from now
// on, and a function that ends the subscription. The collector never waits
// for a subscriber: when the channel's buffer is full, the report is
// dropped for it and counted in Summary.SubscriberDrops, so pick a buffer
// that fits the bursts you expect.
func (c *Collector) Subscribe(buffer int) (<-chan Received, func()) {
	s := &subscriber{ch: make(chan Received, buffer)}
	c.mu.Lock()
	c.subscribers[s] = struct{}{}
	c.mu.Unlock()
	var once sync.Once
	return s.ch, func() {
		once.Do(func() {
			c.mu.Lock()
			delete(c.subscribers, s)
			c.summary.subscriberDrops += s.dropped
			c.mu.Unlock()
		})
	}
}

// Handle decodes one datagram that arrived from from at at, records its
// reports and passes them on. It copies payload, so the caller may reuse
// it. Hooks run after the collector's lock is released: they may call its
// methods.
func (c *Collector) Handle(payload []byte, from netip.AddrPort, at time.Time) (*intreport.Datagram, error) {
	from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	c.mu.Lock()
	onDatagram, onError, onReport := c.onDatagram, c.onError, c.onReport
	c.mu.Unlock()
	for _, fn := range onDatagram {
		fn(at, from, payload)
	}
	d, err := intreport.Decode(append([]byte(nil), payload...))
	if err != nil {
		c.mu.Lock()
		c.summary.malformed()
		c.mu.Unlock()
		for _, fn := range onError {
			fn(at, from, err)
		}
		return nil, err
	}
	received := make([]Received, len(d.Reports))
	c.mu.Lock()
	c.summary.datagram(from, d)
	for i := range d.Reports {
		r := Received{Decoded: d.Reports[i], At: at, From: from, Format: d.Format, HwID: d.HwID, Seq: d.Seq}
		received[i] = r
		c.summary.report(&r)
		for s := range c.subscribers {
			select {
			case s.ch <- r:
			default:
				s.dropped++
			}
		}
	}
	c.mu.Unlock()
	for i := range received {
		for _, fn := range onReport {
			fn(received[i])
		}
	}
	return d, nil
}

// Serve reads datagrams from conn and handles them until ctx ends (then it
// returns nil) or reading fails. It does not close conn.
func (c *Collector) Serve(ctx context.Context, conn net.PacketConn) error {
	stop := context.AfterFunc(ctx, func() { conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	buf := make([]byte, 65536)
	for {
		n, addr, err := conn.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		var from netip.AddrPort
		if ua, ok := addr.(*net.UDPAddr); ok {
			from = ua.AddrPort()
		}
		c.Handle(buf[:n], from, time.Now())
	}
}

// Summary returns a snapshot of what the collector has seen.
func (c *Collector) Summary() Summary {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.summary.snapshot()
	for sub := range c.subscribers {
		s.SubscriberDrops += sub.dropped
	}
	return s
}
