package demo

import (
	"context"
	"io"
	"net"
	"net/netip"
	"strings"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
)

func stringReader(s string) io.Reader { return strings.NewReader(s) }

// runTraffic drives the mix until ctx ends: long TCP streams pod to pod on
// one node and across nodes (IPv4 and IPv6), a UDP stream, new short
// connections, ICMP echo, a burst every five seconds, and packets that are
// dropped (nftables rule, no route).
func runTraffic(ctx context.Context, d *demoPods) {
	for _, p := range []*pod{d.web, d.db} {
		for _, ip := range []netip.Addr{p.IP, p.IP6} {
			if !ip.IsValid() {
				continue
			}
			if l, err := listenTCP(p, netip.AddrPortFrom(ip, 8080)); err == nil {
				go serveEcho(ctx, l)
			}
			if u, err := listenUDP(p, netip.AddrPortFrom(ip, 5353)); err == nil {
				go drainUDP(ctx, u)
			}
		}
	}
	var streams []net.Conn
	for _, dst := range []netip.Addr{d.web.IP, d.db.IP, d.db.IP6} {
		if !dst.IsValid() {
			continue
		}
		if c, err := d.client.DialTCP(ctx, netip.AddrPortFrom(dst, 8080).String()); err == nil {
			streams = append(streams, c)
			go io.Copy(io.Discard, c)
		}
	}
	defer func() {
		for _, c := range streams {
			c.Close()
		}
	}()
	udp, err := d.client.ListenUDP(0)
	if err != nil {
		return
	}
	defer udp.Close()
	var ping *icmp.PacketConn
	_ = d.client.NS.Do(func() (err error) { ping, err = icmp.ListenPacket("ip4:icmp", d.client.IP.String()); return err })
	if ping != nil {
		defer ping.Close()
	}

	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for _, c := range streams {
			c.Write([]byte("telemetry\n"))
		}
		udp.WriteToUDPAddrPort([]byte("query"), netip.AddrPortFrom(d.web.IP, 5353))
		if i%10 == 0 { // every second: a new connection, a ping, two drops
			if c, err := d.client.DialTCP(ctx, netip.AddrPortFrom(d.db.IP, 8080).String()); err == nil {
				c.Write([]byte("hi\n"))
				c.Close()
			}
			if ping != nil {
				echo(ping, d.db.IP, i)
			}
			udp.WriteToUDPAddrPort([]byte("denied"), netip.AddrPortFrom(d.db.IP, 6666))
			udp.WriteToUDPAddrPort([]byte("nowhere"), netip.MustParseAddrPort("10.200.0.1:9"))
		}
		if i%50 == 25 { // a short burst
			for j := 0; j < 500; j++ {
				udp.WriteToUDPAddrPort([]byte("burst"), netip.AddrPortFrom(d.db.IP, 5353))
			}
		}
	}
}

func echo(c *icmp.PacketConn, dst netip.Addr, seq int) {
	m := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: 0x1d, Seq: seq, Data: []byte("podint")}}
	if b, err := m.Marshal(nil); err == nil {
		c.WriteTo(b, &net.IPAddr{IP: dst.AsSlice()})
	}
}

func listenTCP(p *pod, ap netip.AddrPort) (l net.Listener, err error) {
	err = p.NS.Do(func() error { l, err = net.Listen("tcp", ap.String()); return err })
	return l, err
}

func listenUDP(p *pod, ap netip.AddrPort) (c *net.UDPConn, err error) {
	err = p.NS.Do(func() error { c, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(ap)); return err })
	return c, err
}

func serveEcho(ctx context.Context, l net.Listener) {
	context.AfterFunc(ctx, func() { l.Close() })
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() { defer c.Close(); io.Copy(c, c) }()
	}
}

func drainUDP(ctx context.Context, c *net.UDPConn) {
	context.AfterFunc(ctx, func() { c.Close() })
	buf := make([]byte, 2048)
	for {
		if _, _, err := c.ReadFromUDP(buf); err != nil {
			return
		}
	}
}
