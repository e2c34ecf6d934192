package e2e

import (
	"context"
	"net"
	"net/netip"
	"os"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"

	"github.com/podint/podint/bpf/pins"
	"github.com/podint/podint/internal/intreport"
	"github.com/podint/podint/test/harness"
	"github.com/podint/podint/test/redirect"
)

// The emulated datapath of an eBPF CNI with BPF host routing
// (test/redirect): packets move pod to pod, uplink to pod and pod to uplink
// with bpf_redirect_peer, bpf_redirect_neigh and bpf_redirect, never
// passing the host veth's egress hook. podint must still report each
// packet once, through the right ports, with a hop latency.

// loadDatapath loads the fixture for one node; it is unloaded, its hooks
// detached, when the test ends.
func loadDatapath(t *testing.T) *redirect.Datapath {
	t.Helper()
	dp, err := redirect.Load()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dp.Close() })
	return dp
}

// podMAC is the MAC of the pod's interface.
func podMAC(t *testing.T, p *harness.Pod) net.HardwareAddr {
	t.Helper()
	var mac net.HardwareAddr
	err := p.NS.Do(func() error {
		l, err := netlink.LinkByName(harness.PodIfName)
		if err == nil {
			mac = l.Attrs().HardwareAddr
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return mac
}

// redirectPods puts the fixture on the pods' host veths as a CNI does that
// attached its programs before podint's ADD (cilium-cni runs first in the
// chain): podint's probes are removed, the fixture attached, podint's ADD
// run again, so that podint's attachPosition decides who runs first.
// from_container redirects what it sends; the pods become endpoints.
func redirectPods(t *testing.T, n *harness.Node, dp *redirect.Datapath, pods ...*harness.Pod) {
	t.Helper()
	ctx := testContext(t)
	for _, p := range pods {
		if err := n.CNIDelPlugin(ctx, p, "podint"); err != nil {
			t.Fatal(err)
		}
		v, err := p.HostVeth()
		if err != nil {
			t.Fatal(err)
		}
		err = n.NS.Do(func() error {
			if err := dp.AttachPod(v.Attrs().Index, redirect.Tail); err != nil {
				return err
			}
			return dp.AddEndpoint(p.IP, v.Attrs().Index, podMAC(t, p), v.Attrs().HardwareAddr)
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := n.CNIAddPlugin(ctx, p, "podint"); err != nil {
			t.Fatal(err)
		}
	}
}

// podEndpoints makes pods reachable by the fixture's from_netdev only.
func podEndpoints(t *testing.T, n *harness.Node, dp *redirect.Datapath, pods ...*harness.Pod) {
	t.Helper()
	for _, p := range pods {
		v, err := p.HostVeth()
		if err != nil {
			t.Fatal(err)
		}
		if err := dp.AddEndpoint(p.IP, v.Attrs().Index, podMAC(t, p), v.Attrs().HardwareAddr); err != nil {
			t.Fatal(err)
		}
	}
}

// firstOnIngress is the program that runs first on ifindex's TCX ingress.
func firstOnIngress(t *testing.T, n *harness.Node, ifindex int) ebpf.ProgramID {
	t.Helper()
	var first ebpf.ProgramID
	err := n.NS.Do(func() error {
		res, err := link.QueryPrograms(link.QueryOptions{Target: ifindex, Attach: ebpf.AttachTCXIngress})
		if err == nil && len(res.Programs) > 0 {
			first = res.Programs[0].ID
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return first
}

// udpBurst is one datagram per flow from a pod to dst:dport, from source
// ports first, first+1...: each packet is a new flow, which the probes
// report once, so counting reports counts packets. Nothing listens on
// dport: the destination pod's stack drops every datagram, which is the
// pod's drop, not the node's.
type udpBurst struct {
	from  *harness.Pod
	dst   netip.Addr
	dport uint16
	first uint16
	sent  int
}

func (b *udpBurst) send(t *testing.T, k int) {
	t.Helper()
	for i := 0; i < k; i++ {
		c, err := b.from.ListenUDP(int(b.first) + b.sent)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.WriteToUDPAddrPort([]byte("redirected"), netip.AddrPortFrom(b.dst, b.dport))
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
		b.sent++
	}
}

func (b *udpBurst) ours(d *intreport.Decoded) bool {
	f := d.Report.Flow
	return f.Proto == intreport.ProtoUDP && f.Src == b.from.IP && f.Dst == b.dst && f.DstPort == b.dport &&
		f.SrcPort >= b.first && int(f.SrcPort) < int(b.first)+b.sent
}

// expectEachOnce sends k packets and checks the collector got one flow
// report of each, through in -> out with a hop latency, no second report
// of any, and no drop report: a marker packet sent last is reported after
// any duplicate or drop of the earlier ones could have been.
func (b *udpBurst) expectEachOnce(t *testing.T, ctx context.Context, col *harness.Collector, k, in, out int) {
	t.Helper()
	b.send(t, k)
	for i := 0; i < k; i++ {
		port := b.first + uint16(i)
		_, err := col.WaitFor(ctx, func(d *intreport.Decoded) bool {
			return d.Kind == intreport.KindFlow && b.ours(d) && d.Report.Flow.SrcPort == port
		})
		if err != nil {
			t.Fatalf("packet %d of %d (source port %d) not reported: %v; got %v", i+1, k, port, err, describe(col.Reports()))
		}
	}
	b.send(t, 1)
	marker := b.first + uint16(b.sent-1)
	if _, err := col.WaitFor(ctx, func(d *intreport.Decoded) bool {
		return d.Kind == intreport.KindFlow && b.ours(d) && d.Report.Flow.SrcPort == marker
	}); err != nil {
		t.Fatalf("marker packet not reported: %v", err)
	}
	seen := map[uint16]int{}
	for _, d := range col.Reports() {
		if !b.ours(&d) {
			continue
		}
		if d.Kind != intreport.KindFlow {
			t.Errorf("%s reported as %v at ports %d -> %d: the destination pod's own drop is not the node's",
				d.Report.Flow, d.Kind, d.IngressPort, d.EgressPort)
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
	for port, n := range seen {
		if n != 1 {
			t.Errorf("flow from port %d reported %d times, want once", port, n)
		}
	}
}

func TestRedirectPeerPodToPodIsReportedOnce(t *testing.T) {
	for _, pos := range []string{"first", "last"} {
		t.Run(pos, func(t *testing.T) {
			n := startNode(t, harness.NodeConfig{Primary: "ptp", PodintConf: map[string]any{"attachPosition": pos}})
			ctx := testContext(t)
			a, b := addPod(t, n.Node, "a"), addPod(t, n.Node, "b")
			dp := loadDatapath(t)
			redirectPods(t, n.Node, dp, a, b)
			va, vb := vethIndex(t, a), vethIndex(t, b)

			fromContainer, _, err := dp.ProgramIDs()
			if err != nil {
				t.Fatal(err)
			}
			if first := firstOnIngress(t, n.Node, va); (first == fromContainer) != (pos == "last") {
				t.Fatalf("attachPosition %s: program %d runs first on %d's ingress, the datapath's is %d", pos, first, va, fromContainer)
			}

			// The pod-side egress hook is there only where podint runs after
			// the datapath on the host veth.
			wantEgress := map[string]int{"first": 0, "last": 1}[pos]
			if progs := podSidePrograms(t, a); len(progs[pins.PodIngress]) != 1 || len(progs[pins.PodEgress]) != wantEgress {
				t.Fatalf("attachPosition %s: pod-side hooks %v, want one ingress and %d egress programs", pos, progs, wantEgress)
			}

			burst := &udpBurst{from: a, dst: b.IP, dport: 7000, first: 41000}
			burst.expectEachOnce(t, ctx, n.Collector, 20, va, vb)
			st, err := dp.Stats()
			if err != nil {
				t.Fatal(err)
			}
			if st.Peer < uint64(burst.sent) {
				t.Fatalf("the datapath redirected %d packets into pods, want at least the %d sent: the test did not test redirects", st.Peer, burst.sent)
			}
			// Operators see how many packets bypassed their host veth.
			if got := counter(t, ctx, n.Node, "kernel_pod_side"); got < uint64(burst.sent) {
				t.Errorf("kernel_pod_side %d, want at least the %d packets redirected into b", got, burst.sent)
			}
			// TCP both ways, through the same redirects.
			sport := echoTCP(t, a, b, 5201)
			expectFlowReport(t, ctx, n.Collector, intreport.ProtoTCP, a.IP, b.IP, sport, 5201, va, vb)
			expectFlowReport(t, ctx, n.Collector, intreport.ProtoTCP, b.IP, a.IP, 5201, sport, vb, va)
		})
	}
}

// Legacy host routing delivers a local pod's packets by bpf_redirect to the
// destination's host veth egress: podint's egress probe there reports them,
// and the pod-side probe, finding their records paired, stays quiet.
func TestRedirectToHostVethEgressIsReportedOnce(t *testing.T) {
	for _, pos := range []string{"first", "last"} {
		t.Run(pos, func(t *testing.T) {
			n := startNode(t, harness.NodeConfig{Primary: "ptp", PodintConf: map[string]any{"attachPosition": pos}})
			ctx := testContext(t)
			a, b := addPod(t, n.Node, "a"), addPod(t, n.Node, "b")
			dp := loadDatapath(t)
			if err := dp.SetDelivery(redirect.DeliverEgress); err != nil {
				t.Fatal(err)
			}
			redirectPods(t, n.Node, dp, a, b)
			burst := &udpBurst{from: a, dst: b.IP, dport: 7000, first: 44000}
			burst.expectEachOnce(t, ctx, n.Collector, 20, vethIndex(t, a), vethIndex(t, b))
			st, err := dp.Stats()
			if err != nil {
				t.Fatal(err)
			}
			if st.Egress < uint64(burst.sent) || st.Peer != 0 {
				t.Fatalf("the datapath sent %+v, want all %d packets redirected to the host veth's egress", st, burst.sent)
			}
			if got := counter(t, ctx, n.Node, "kernel_pod_side"); got != 0 {
				t.Errorf("kernel_pod_side %d: packets through the host veth's egress were paired there, want 0", got)
			}
		})
	}
}

// TestPodDropIsNotANodeDrop: a datagram delivered into a pod with nothing
// listening is dropped by the pod's own stack; whether a CNI redirected it
// into the pod or not, and whether podint saw it arrive there or not (an
// older podintd loaded no pod-side probe), that is no drop of the node's,
// although the host veth's ingress probe recorded the packet.
func TestPodDropIsNotANodeDropWithOrWithoutRedirect(t *testing.T) {
	for _, tc := range []struct {
		name                  string
		redirected, noPodSide bool
	}{{"stack", false, false}, {"redirect", true, false}, {"redirect unseen", true, true}} {
		t.Run(tc.name, func(t *testing.T) {
			n := startNode(t, harness.NodeConfig{Primary: "ptp"})
			ctx := testContext(t)
			if tc.noPodSide {
				for _, h := range pins.PodHooks() {
					if err := os.Remove(pins.ProgramPath(n.Paths.PinDir, h)); err != nil {
						t.Fatal(err)
					}
				}
			}
			a, b, c := addPod(t, n.Node, "a"), addPod(t, n.Node, "b"), addPod(t, n.Node, "c")
			if tc.redirected {
				dp := loadDatapath(t)
				redirectPods(t, n.Node, dp, a)
				if err := n.NS.Do(func() error { podEndpoints(t, n.Node, dp, b); return nil }); err != nil {
					t.Fatal(err)
				}
			}
			burst := &udpBurst{from: a, dst: b.IP, dport: 7001, first: 42000}
			if !tc.noPodSide {
				burst.expectEachOnce(t, ctx, n.Collector, 5, vethIndex(t, a), vethIndex(t, b))
				return
			}
			// No probe sees these packets leave the node: a packet from c,
			// through the host stack, is the barrier after their drops.
			burst.send(t, 5)
			barrier := &udpBurst{from: c, dst: b.IP, dport: 7001, first: 42100}
			barrier.expectEachOnce(t, ctx, n.Collector, 1, vethIndex(t, c), vethIndex(t, b))
			for _, d := range n.Collector.Reports() {
				if burst.ours(&d) {
					t.Errorf("%s reported as %v at ports %d -> %d: the pod's own drop is not the node's",
						d.Report.Flow, d.Kind, d.IngressPort, d.EgressPort)
				}
			}
		})
	}
}
