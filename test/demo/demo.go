// Package demo runs podint's demo: a simulated node with real CNI plugins,
// pods talking to each other, podintd, and a collector printing the INT
// reports it receives. It is what `podintctl demo` runs.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"

	"github.com/podint/podint/daemon/intreport"
	"github.com/podint/podint/test/harness"
)

// Options of a demo run.
type Options struct {
	BinDir   string        // podint binaries and reference CNI plugins
	Duration time.Duration // 0 runs until ctx ends
	Out      io.Writer
}

// Run builds the demo node, drives traffic and prints reports until ctx
// ends or the duration passes; everything it created is removed on return.
func Run(ctx context.Context, o Options) error {
	harness.RemoveLeftovers()
	node, err := harness.NewNode(harness.NodeConfig{
		Name: "demo", BinDir: o.BinDir, Subnet: "10.22.0.0/24", SwitchID: "10.0.0.1",
	})
	if err != nil {
		return err
	}
	defer node.Close()
	col, err := harness.NewCollector(node.NS)
	if err != nil {
		return err
	}
	defer col.Close()
	node.Config.Collectors = []string{col.Addr()}
	fmt.Fprintf(o.Out, "node %q: namespace %s, instance root %s\n", node.Config.Name, node.NS.Name, node.Paths.Root)
	if err := node.StartDaemon(ctx); err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "podintd running (log %s), collector on %s\n", node.LogPath, col.Addr())

	var pods []*harness.Pod
	defer func() {
		for _, p := range pods {
			_ = node.DelPod(context.Background(), p)
		}
	}()
	for _, name := range []string{"client", "server"} {
		p, err := node.AddPod(ctx, name)
		if err != nil {
			return err
		}
		pods = append(pods, p)
		veth, _ := p.HostVeth()
		fmt.Fprintf(o.Out, "pod default/%s: %s on host veth %s (ifindex %d)\n", name, p.IP, veth.Attrs().Name, veth.Attrs().Index)
	}
	if o.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Duration)
		defer cancel()
	}
	go printReports(ctx, col, o.Out)
	err = traffic(ctx, pods[0], pods[1])
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		err = nil
	}
	time.Sleep(200 * time.Millisecond) // let the last reports arrive
	fmt.Fprintf(o.Out, "%d INT reports received; cleaning up\n", len(col.Reports()))
	return err
}

func printReports(ctx context.Context, col *harness.Collector, w io.Writer) {
	printed := 0
	for ctx.Err() == nil {
		rs := col.Reports()
		for ; printed < len(rs); printed++ {
			fmt.Fprintln(w, FormatReport(&rs[printed]))
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// FormatReport is one line per report.
func FormatReport(d *intreport.Decoded) string {
	sw := netip.AddrFrom4([4]byte{byte(d.SwitchID >> 24), byte(d.SwitchID >> 16), byte(d.SwitchID >> 8), byte(d.SwitchID)})
	if d.Kind == intreport.KindDrop {
		return fmt.Sprintf("drop %s switch %s port %d reason %d (%s)", d.Report.Flow, sw, d.IngressPort,
			d.DropReason, intreport.DropReasonName(d.DropReason))
	}
	return fmt.Sprintf("flow %s switch %s port %d -> %d hop %s", d.Report.Flow, sw, d.IngressPort, d.EgressPort,
		time.Duration(d.HopLatency()))
}

// traffic runs a long TCP stream, a UDP stream and short TCP connections
// from client to server until ctx ends.
func traffic(ctx context.Context, client, server *harness.Pod) error {
	l, err := server.ListenTCP(8080)
	if err != nil {
		return err
	}
	defer l.Close()
	go serveEcho(l)
	u, err := server.ListenUDP(5353)
	if err != nil {
		return err
	}
	defer u.Close()
	go func() { _, _ = io.Copy(io.Discard, readerOf(u)) }()
	us, err := client.ListenUDP(0)
	if err != nil {
		return err
	}
	defer us.Close()
	long, err := client.DialTCP(ctx, netip.AddrPortFrom(server.IP, 8080).String())
	if err != nil {
		return err
	}
	defer long.Close()
	go func() { _, _ = io.Copy(io.Discard, long) }()

	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		if _, err := long.Write([]byte("telemetry\n")); err != nil {
			return fmt.Errorf("long TCP stream: %w", err)
		}
		_, _ = us.WriteToUDPAddrPort([]byte("query"), netip.AddrPortFrom(server.IP, 5353))
		if i%10 == 0 { // a new short connection every second: a new flow
			c, err := client.DialTCP(ctx, netip.AddrPortFrom(server.IP, 8080).String())
			if err == nil {
				_, _ = c.Write([]byte("hi\n"))
				c.Close()
			}
		}
	}
}

func serveEcho(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
	}
}

type udpReader struct{ c *net.UDPConn }

func (r udpReader) Read(b []byte) (int, error) { n, _, err := r.c.ReadFromUDP(b); return n, err }

func readerOf(c *net.UDPConn) io.Reader { return udpReader{c} }
