package e2e

import (
	"net"
	"net/netip"
	"syscall"
	"testing"

	"github.com/podint/podint/internal/intreport"
	"github.com/podint/podint/test/harness"
)

// sendBroadcast sends one datagram from pod p to the broadcast address dst.
func sendBroadcast(t *testing.T, p *harness.Pod, dst netip.AddrPort) uint16 {
	t.Helper()
	c := broadcastConn(t, p, 0)
	defer c.Close()
	if _, err := c.WriteToUDPAddrPort([]byte("to everyone"), dst); err != nil {
		t.Fatal(err)
	}
	return uint16(c.LocalAddr().(*net.UDPAddr).Port)
}

// broadcastConn is a UDP socket of pod p on port (0: any) that may send
// to broadcast addresses.
func broadcastConn(t *testing.T, p *harness.Pod, port int) *net.UDPConn {
	t.Helper()
	c, err := p.ListenUDP(port)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := c.SyscallConn()
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_BROADCAST, 1)
	}); err != nil || serr != nil {
		c.Close()
		t.Fatalf("SO_BROADCAST: %v %v", err, serr)
	}
	return c
}

// A broadcast the bridge floods reaches b's veth as a copy that passed no
// probed ingress port: its report, in either format, says the hop latency
// is unknown (v2.0: no hop latency metadata; v0.5: ingress_ts = egress_ts),
// not 0. A unicast packet on the same node has its measured latency.
func TestFloodedPacketsHaveNoHopLatency(t *testing.T) {
	for _, format := range []string{"v0.5", "v2.0"} {
		t.Run(format, func(t *testing.T) {
			n := startNode(t, harness.NodeConfig{DaemonArgs: []string{"--report-format", format}})
			ctx := testContext(t)
			a, b := addPod(t, n.Node, "a"), addPod(t, n.Node, "b")
			in, out := vethIndex(t, a), vethIndex(t, b)

			bcast := netip.AddrPortFrom(netip.MustParseAddr("10.22.0.255"), 9)
			sport := sendBroadcast(t, a, bcast)
			r := expectFlowReport(t, ctx, n.Collector, intreport.ProtoUDP, a.IP, bcast.Addr(), sport, bcast.Port(), in, out)
			if hop, ok := r.HopLatency(); ok || !r.NoIngress {
				t.Errorf("flooded copy: hop latency %d (known %v), no ingress %v; want unknown", hop, ok, r.NoIngress)
			}
			if format == "v2.0" && r.MDBits&(1<<13) != 0 {
				t.Errorf("v2.0 report of a flooded copy carries hop latency metadata (rep_md_bits %#04x)", r.MDBits)
			}

			sport = sendUDP(t, a, netip.AddrPortFrom(b.IP, 7009), 0)
			r = expectFlowReport(t, ctx, n.Collector, intreport.ProtoUDP, a.IP, b.IP, sport, 7009, in, out)
			if hop, ok := r.HopLatency(); !ok || hop == 0 || r.NoIngress {
				t.Errorf("unicast a -> b: hop latency %d (known %v), no ingress %v; want a measured one", hop, ok, r.NoIngress)
			}
		})
	}
}
