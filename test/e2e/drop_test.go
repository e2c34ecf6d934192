package e2e

import (
	"net"
	"net/netip"
	"os/exec"
	"testing"

	"golang.org/x/net/ipv4"

	"github.com/podint/podint/internal/intreport"
	"github.com/podint/podint/test/harness"
)

// sendUDP sends one datagram from pod p to dst with the given TTL (0 keeps
// the default).
func sendUDP(t *testing.T, p *harness.Pod, dst netip.AddrPort, ttl int) (srcPort uint16) {
	t.Helper()
	c, err := p.ListenUDP(0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if ttl > 0 {
		if err := ipv4.NewConn(c).SetTTL(ttl); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.WriteToUDPAddrPort([]byte("dropped?"), dst); err != nil {
		t.Fatal(err)
	}
	return uint16(c.LocalAddr().(*net.UDPAddr).Port)
}

func nft(t *testing.T, n *harness.Node, args ...string) {
	t.Helper()
	err := n.NS.Do(func() error {
		out, err := exec.Command("nft", args...).CombinedOutput()
		if err != nil {
			t.Logf("nft %v: %s", args, out)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestDropsAreReportedWithTheirReason(t *testing.T) {
	n := startNode(t, harness.NodeConfig{})
	ctx := testContext(t)
	a, b := addPod(t, n.Node, "a"), addPod(t, n.Node, "b")
	va, err := a.HostVeth()
	if err != nil {
		t.Fatal(err)
	}
	in := int(va.Attrs().Index)

	// An nftables rule on the node's bridge drops UDP to b:7000.
	nft(t, n.Node, "add", "table", "bridge", "podint_test")
	nft(t, n.Node, "add", "chain", "bridge", "podint_test", "forward_filter", "{ type filter hook forward priority 0; }")
	nft(t, n.Node, "add", "rule", "bridge", "podint_test", "forward_filter", "ip", "daddr", b.IP.String(), "udp", "dport", "7000", "drop")
	// A route out of the node for TTL expiry; nothing routes 10.99.0.0/24.
	if err := n.NS.Do(func() error {
		return exec.Command("ip", "route", "add", "10.99.1.0/24", "dev", n.BridgeName()).Run()
	}); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name   string
		dst    netip.AddrPort
		ttl    int
		reason uint8
	}{
		{"nftables drop", netip.AddrPortFrom(b.IP, 7000), 0, intreport.DropReasonACLDeny},
		{"routing miss", netip.MustParseAddrPort("10.99.0.1:7001"), 0, intreport.DropReasonRoutingMiss},
		{"ttl expiry", netip.MustParseAddrPort("10.99.1.5:7002"), 1, intreport.DropReasonIPTTLZero},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sport := sendUDP(t, a, c.dst, c.ttl)
			r, err := n.Collector.WaitFor(ctx, func(d *intreport.Decoded) bool {
				f := d.Report.Flow
				return d.Kind == intreport.KindDrop && f.Proto == intreport.ProtoUDP && f.Src == a.IP &&
					f.Dst == c.dst.Addr() && f.SrcPort == sport && f.DstPort == c.dst.Port()
			})
			if err != nil {
				t.Fatalf("no drop report for udp %s:%d -> %s: %v; reports: %v", a.IP, sport, c.dst, err, summarize(n.Collector.Reports()))
			}
			if r.DropReason != c.reason {
				t.Errorf("drop reason %d (%s), want %d (%s)", r.DropReason, intreport.DropReasonName(r.DropReason),
					c.reason, intreport.DropReasonName(c.reason))
			}
			if int(r.IngressPort) != in {
				t.Errorf("ingress port %d, want pod a's veth %d", r.IngressPort, in)
			}
			if r.SwitchID != switchID10001 {
				t.Errorf("switch id %#x", r.SwitchID)
			}
		})
	}
}
