package e2e

import (
	"net"
	"testing"

	"github.com/podint/podint/internal/intreport"
	"github.com/podint/podint/test/harness"
	"github.com/podint/podint/test/redirect"
)

// The emulated BPF datapath across two nodes (redirect_test.go has the
// fixture helpers): pod to uplink and uplink to pod, underlay and VXLAN.

// testRedirectAcrossNodes: pod a on node 1 sends through the datapath's
// from_container, which routes it out with bpf_redirect_neigh or
// bpf_redirect; on node 2 from_netdev, on the uplink (and the overlay
// device), moves it into pod b with bpf_redirect_peer.
func testRedirectAcrossNodes(t *testing.T, overlay bool, mode redirect.EgressMode, pos string) {
	c, cols := startClusterWith(t, harness.ClusterConfig{Overlay: overlay,
		Node: harness.NodeConfig{Primary: "ptp", PodintConf: map[string]any{"attachPosition": pos}}})
	ctx := testContext(t)
	n1, n2 := c.Nodes[0], c.Nodes[1]
	a, b := addPod(t, n1, "a"), addPod(t, n2, "b")

	dp1, dp2 := loadDatapath(t), loadDatapath(t)
	if err := dp1.SetEgress(mode); err != nil {
		t.Fatal(err)
	}
	redirectPods(t, n1, dp1, a)
	err := n2.NS.Do(func() error {
		for _, dev := range []string{harness.UplinkName, "vxlan0"} {
			ifc, err := net.InterfaceByName(dev)
			if err != nil {
				if dev == "vxlan0" && !overlay {
					continue
				}
				return err
			}
			if err := dp2.AttachNetdev(ifc.Index, redirect.Tail); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = n2.NS.Do(func() error { podEndpoints(t, n2, dp2, b); return nil })
	if err != nil {
		t.Fatal(err)
	}

	burst := &udpBurst{from: a, dst: b.IP, dport: 7000, first: 43000}
	burst.expectEachOnce(t, ctx, cols[0], 20, vethIndex(t, a), uplinkIndex(t, n1))
	// Node 2 saw the same packets, the marker included: wait for it there.
	if _, err := cols[1].WaitFor(ctx, func(d *intreport.Decoded) bool {
		return burst.ours(d) && d.Report.Flow.SrcPort == burst.first+uint16(burst.sent-1)
	}); err != nil {
		t.Fatalf("node 2: marker packet not reported: %v; got %v", err, describe(cols[1].Reports()))
	}
	checkEachOnce(t, cols[1], burst, uplinkIndex(t, n2), vethIndex(t, b))

	st1, err := dp1.Stats()
	if err != nil {
		t.Fatal(err)
	}
	st2, err := dp2.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if out := st1.Neigh + st1.Redirect; out < uint64(burst.sent) || (mode == redirect.EgressRedirect && st1.Redirect == 0) {
		t.Fatalf("node 1's datapath sent %+v, want all %d packets redirected (mode %d)", st1, burst.sent, mode)
	}
	if st2.Peer < uint64(burst.sent) {
		t.Fatalf("node 2's datapath moved %d packets into pods, want at least %d", st2.Peer, burst.sent)
	}
}

// checkEachOnce checks the reports of a burst another node already saw
// whole: each packet once, through in -> out, with hop latency, no drops.
func checkEachOnce(t *testing.T, col *harness.Collector, b *udpBurst, in, out int) {
	t.Helper()
	seen := map[uint16]int{}
	for _, d := range col.Reports() {
		if !b.ours(&d) {
			continue
		}
		if d.Kind != intreport.KindFlow {
			t.Errorf("%s reported as %v at ports %d -> %d", d.Report.Flow, d.Kind, d.IngressPort, d.EgressPort)
			continue
		}
		seen[d.Report.Flow.SrcPort]++
		if int(d.IngressPort) != in || int(d.EgressPort) != out {
			t.Errorf("%s reported at ports %d -> %d, want %d -> %d", d.Report.Flow, d.IngressPort, d.EgressPort, in, out)
		}
		if lat, ok := d.HopLatency(); !ok || lat == 0 || lat >= 1<<31 {
			t.Errorf("%s hop latency %d (known %v): not measured", d.Report.Flow, lat, ok)
		}
	}
	for i := 0; i < b.sent; i++ {
		if n := seen[b.first+uint16(i)]; n != 1 {
			t.Errorf("flow from port %d reported %d times, want once", b.first+uint16(i), n)
		}
	}
}

func TestRedirectAcrossNodesNeigh(t *testing.T) {
	testRedirectAcrossNodes(t, false, redirect.EgressNeigh, "first")
}

// With attachPosition last the datapath runs before podint's probe on the
// host veth and sends the packet away: the pod-side egress record stands in.
func TestRedirectAcrossNodesNeighLast(t *testing.T) {
	testRedirectAcrossNodes(t, false, redirect.EgressNeigh, "last")
}
func TestRedirectAcrossNodesRedirect(t *testing.T) {
	testRedirectAcrossNodes(t, false, redirect.EgressRedirect, "first")
}
func TestRedirectAcrossVXLANNeigh(t *testing.T) {
	testRedirectAcrossNodes(t, true, redirect.EgressNeigh, "first")
}
func TestRedirectAcrossVXLANRedirect(t *testing.T) {
	testRedirectAcrossNodes(t, true, redirect.EgressRedirect, "first")
}
