package harness

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/podint/podint/internal/intreport"
)

// Collector is a UDP INT collector inside a node: it decodes every datagram
// and keeps the reports for assertions.
type Collector struct {
	conn *net.UDPConn

	mu        sync.Mutex
	datagrams []*intreport.Datagram
	errs      []error
	changed   chan struct{}
}

// NewCollector listens on 127.0.0.1 inside ns, on a free port.
func NewCollector(ns *NetNS) (*Collector, error) { return NewCollectorOn(ns, "127.0.0.1:0") }

// NewCollectorOn listens on addr inside ns.
func NewCollectorOn(ns *NetNS, addr string) (*Collector, error) {
	c := &Collector{changed: make(chan struct{})}
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, err
	}
	err = ns.Do(func() (err error) {
		c.conn, err = net.ListenUDP("udp", ua)
		return err
	})
	if err != nil {
		return nil, err
	}
	_ = c.conn.SetReadBuffer(8 << 20)
	go c.read()
	return c, nil
}

// Addr is the host:port to give podintd as --collector.
func (c *Collector) Addr() string { return c.conn.LocalAddr().String() }

func (c *Collector) read() {
	buf := make([]byte, 65536)
	for {
		n, err := c.conn.Read(buf)
		if err != nil {
			return
		}
		b := append([]byte(nil), buf[:n]...)
		d, err := intreport.Decode(b)
		c.mu.Lock()
		if err != nil {
			c.errs = append(c.errs, err)
		} else {
			c.datagrams = append(c.datagrams, d)
		}
		close(c.changed)
		c.changed = make(chan struct{})
		c.mu.Unlock()
	}
}

// Reports returns every report decoded so far.
func (c *Collector) Reports() []intreport.Decoded {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []intreport.Decoded
	for _, d := range c.datagrams {
		out = append(out, d.Reports...)
	}
	return out
}

// Datagrams returns every datagram decoded so far.
func (c *Collector) Datagrams() []*intreport.Datagram {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*intreport.Datagram(nil), c.datagrams...)
}

// Errors returns the decode errors seen so far.
func (c *Collector) Errors() []error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]error(nil), c.errs...)
}

// WaitFor waits until match accepts a report, returning it, or ctx ends.
func (c *Collector) WaitFor(ctx context.Context, match func(*intreport.Decoded) bool) (*intreport.Decoded, error) {
	seen := 0
	for {
		c.mu.Lock()
		ch := c.changed
		var all []intreport.Decoded
		for _, d := range c.datagrams {
			all = append(all, d.Reports...)
		}
		c.mu.Unlock()
		for i := seen; i < len(all); i++ {
			if match(&all[i]) {
				return &all[i], nil
			}
		}
		seen = len(all)
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, errors.New("no matching report before the deadline")
		case <-time.After(time.Second):
		}
	}
}

// Close stops the collector.
func (c *Collector) Close() error { return c.conn.Close() }
