package e2e

import (
	"context"
	"io"
	"net"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/podint/podint/internal/intreport"
	podintv1 "github.com/podint/podint/proto/podint/v1"
	"github.com/podint/podint/test/harness"
)

// hop is a TCP or UDP flow a node must report as it left the node (after NAT), through
// the ports in -> out, with a hop latency. A zero port matches any port (a
// masqueraded source port, a client's ephemeral port).
type hop struct {
	node         int // collector index
	src, dst     netip.Addr
	sport, dport uint16
	in, out      int
}

func (h hop) matches(f intreport.Flow) bool {
	return (f.Proto == intreport.ProtoTCP || f.Proto == intreport.ProtoUDP) && f.Src == h.src && f.Dst == h.dst &&
		(h.sport == 0 || f.SrcPort == h.sport) && (h.dport == 0 || f.DstPort == h.dport)
}

// expectHops waits for a report of every hop, then checks every report of
// those flows: the right ports, and a hop latency (never 0, which is what a
// packet whose ingress record was not found gets).
func expectHops(t *testing.T, ctx context.Context, cols []*harness.Collector, hops ...hop) {
	t.Helper()
	for _, h := range hops {
		col := cols[h.node]
		if _, err := col.WaitFor(ctx, func(d *intreport.Decoded) bool {
			return d.Kind == intreport.KindFlow && h.matches(d.Report.Flow)
		}); err != nil {
			t.Fatalf("node %d: no report of %s:%d -> %s:%d: %v; got %v", h.node+1, h.src, h.sport, h.dst, h.dport, err,
				describe(col.Reports()))
		}
	}
	for _, h := range hops {
		for _, r := range cols[h.node].Reports() {
			if r.Kind != intreport.KindFlow || !h.matches(r.Report.Flow) {
				continue
			}
			if int(r.IngressPort) != h.in || int(r.EgressPort) != h.out {
				t.Errorf("node %d: %s through ports %d -> %d, want %d -> %d", h.node+1, r.Report.Flow, r.IngressPort, r.EgressPort, h.in, h.out)
			}
			if lat, ok := r.HopLatency(); !ok || lat == 0 || lat >= 1<<31 {
				t.Errorf("node %d: %s (ports %d -> %d) has hop latency %d (known %v), want the time from ingress to egress",
					h.node+1, r.Report.Flow, r.IngressPort, r.EgressPort, lat, ok)
			}
		}
	}
}

// reportLog keeps what a node's Reports stream (podintctl watch) carried.
type reportLog struct {
	mu  sync.Mutex
	evs []*podintv1.ReportEvent
}

// watchReports opens node n's report stream for the rest of the test.
func watchReports(t *testing.T, ctx context.Context, n *harness.Node) *reportLog {
	t.Helper()
	c := client(t, n)
	stream, err := c.Reports(ctx, &podintv1.ReportsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	waitCounter(t, ctx, n, "report_streams", 1)
	l := &reportLog{}
	go func() {
		for {
			ev, err := stream.Recv()
			if err != nil {
				return
			}
			l.mu.Lock()
			l.evs = append(l.evs, ev)
			l.mu.Unlock()
		}
	}()
	return l
}

// expectService waits for a report of h on the stream that names the
// Service the connection was sent to (empty: translated, but no Service, a
// masquerade) and whose flow before NAT has source before.
func (l *reportLog) expectService(t *testing.T, ctx context.Context, h hop, service string, before netip.Addr) {
	t.Helper()
	for {
		l.mu.Lock()
		evs := l.evs
		l.mu.Unlock()
		for _, ev := range evs {
			f, nat := ev.GetFlow(), ev.GetNat()
			if ev.GetKind() != podintv1.ReportEvent_KIND_FLOW || f.GetSrc() != h.src.String() || f.GetDst() != h.dst.String() ||
				(h.sport != 0 && f.GetSrcPort() != uint32(h.sport)) || (h.dport != 0 && f.GetDstPort() != uint32(h.dport)) {
				continue
			}
			if nat.GetService() == service && nat.GetBefore().GetSrc() == before.String() {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no report of %s:%d -> %s:%d on the stream with service %q and source %s before NAT; got %d reports",
				h.src, h.sport, h.dst, h.dport, service, before, len(evs))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// echoServer accepts connections on l and echoes them until l closes.
func echoServer(t *testing.T, l net.Listener) {
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
}

// echoThrough exchanges a few bytes over a connection dial opens and
// returns its local port.
func echoThrough(t *testing.T, dial func() (net.Conn, error)) uint16 {
	t.Helper()
	c, err := dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("hello podint")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, 12)); err != nil {
		t.Fatal(err)
	}
	return uint16(c.LocalAddr().(*net.TCPAddr).Port)
}

// udpEcho answers every datagram to p:port with the same bytes.
func udpEcho(t *testing.T, p *harness.Pod, port int) {
	t.Helper()
	c, err := p.ListenUDP(port)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			_, _ = c.WriteToUDPAddrPort(buf[:n], from)
		}
	}()
}

// udpExchange sends a query from p to dst, waits for the answer and
// returns p's port.
func udpExchange(t *testing.T, p *harness.Pod, dst netip.AddrPort) uint16 {
	t.Helper()
	c, err := p.ListenUDP(0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.WriteToUDPAddrPort([]byte("query podint"), dst); err != nil {
		t.Fatal(err)
	}
	if err := c.SetReadDeadline(time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, from, err := c.ReadFromUDPAddrPort(buf)
	if err != nil || string(buf[:n]) != "query podint" || from != dst {
		t.Fatalf("answer %q from %s (%v), want the query back from %s", buf[:n], from, err, dst)
	}
	return uint16(c.LocalAddr().(*net.UDPAddr).Port)
}

// startPtpCluster is a cluster of ptp nodes, the primary plugin with which
// kube-proxy's DNAT sees every pod packet in the node's IP stack.
func startPtpCluster(t *testing.T, nodes int, masq bool) (*harness.Cluster, []*harness.Collector) {
	t.Helper()
	return startClusterWith(t, harness.ClusterConfig{BinDir: binDir, Nodes: nodes,
		Node: harness.NodeConfig{Primary: "ptp", IPMasq: masq}})
}

func TestServiceTrafficKeepsHopLatencyNftables(t *testing.T) {
	testServiceTraffic(t, harness.NATNftables)
}

func TestServiceTrafficKeepsHopLatencyIptables(t *testing.T) {
	testServiceTraffic(t, harness.NATIptables)
}

// testServiceTraffic: kube-proxy-style Services on node 1, reached from a
// pod (ClusterIP, backend on the same node and on node 2), from outside
// (NodePort through the uplink) and by the backend itself (hairpin). Every
// report of every hop has its ports and a hop latency, and the cluster
// collector stores each path with the Service it was sent to.
func testServiceTraffic(t *testing.T, tool harness.NATTool) {
	cc, cols := startPtpClusterWithCollector(t, 2, false)
	c := cc.cluster
	ctx := testContext(t)
	n1, n2 := c.Nodes[0], c.Nodes[1]
	a, b, d := addPod(t, n1, "a"), addPod(t, n1, "b"), addPod(t, n2, "d")
	ia, ib, id := vethIndex(t, a), vethIndex(t, b), vethIndex(t, d)
	up1, up2 := uplinkIndex(t, n1), uplinkIndex(t, n2)
	for _, p := range []*harness.Pod{a, b, d} {
		l, err := p.ListenTCP(8080)
		if err != nil {
			t.Fatal(err)
		}
		echoServer(t, l)
	}
	local := netip.MustParseAddrPort("10.96.0.10:80")
	remote := netip.MustParseAddrPort("10.96.0.11:80")
	hairpin := netip.MustParseAddrPort("10.96.0.12:80")
	nodePort := netip.AddrPortFrom(harness.NodeUplinkAddr(1), 30080)
	dns := netip.MustParseAddrPort("10.96.0.53:53")
	udpEcho(t, b, 5353)
	if err := n1.AddServiceNAT(tool,
		harness.ServiceNAT{Frontend: local, Backend: netip.AddrPortFrom(b.IP, 8080)},
		harness.ServiceNAT{Frontend: remote, Backend: netip.AddrPortFrom(d.IP, 8080)},
		harness.ServiceNAT{Frontend: hairpin, Backend: netip.AddrPortFrom(a.IP, 8080)},
		harness.ServiceNAT{Frontend: nodePort, Backend: netip.AddrPortFrom(b.IP, 8080)},
		harness.ServiceNAT{Frontend: dns, Backend: netip.AddrPortFrom(b.IP, 5353), Proto: "udp"},
	); err != nil {
		t.Fatal(err)
	}
	stream := watchReports(t, ctx, n1)
	dialFrom := func(p *harness.Pod, to netip.AddrPort) func() (net.Conn, error) {
		return func() (net.Conn, error) { return p.DialTCP(ctx, to.String()) }
	}

	t.Run("ClusterIP, backend on the same node", func(t *testing.T) {
		sp := echoThrough(t, dialFrom(a, local))
		expectHops(t, ctx, cols,
			hop{0, a.IP, b.IP, sp, 8080, ia, ib},
			hop{0, local.Addr(), a.IP, 80, sp, ib, ia})
		// Users see the Service: pod a -> svc -> pod b, and back.
		stream.expectService(t, ctx, hop{src: a.IP, dst: b.IP, sport: sp, dport: 8080}, local.String(), a.IP)
		stream.expectService(t, ctx, hop{src: local.Addr(), dst: a.IP, sport: 80, dport: sp}, local.String(), b.IP)
		// And the collector: a -> svc -> b, and the reply from the Service.
		cc.expectServicePath(t, ctx, servicePath{tcp, a.IP, b.IP, sp, 8080, local.String(), "a", "b"})
		cc.expectServicePath(t, ctx, servicePath{tcp, local.Addr(), a.IP, 80, sp, local.String(), "", "a"})
		cc.expectClusterPaths(t, ctx, "default/a", local.String(), "default/b")
		metrics, err := cc.col.Get("/metrics")
		if err != nil || !regexp.MustCompile(`(?m)^podint_collector_translations [1-9]`).MatchString(metrics) ||
			!strings.Contains(metrics, "podint_collector_translations_dropped_total 0") {
			t.Errorf("collector /metrics (%v) lacks the translations it holds and the dropped count:\n%s", err, metrics)
		}
	})
	t.Run("ClusterIP, backend on the other node", func(t *testing.T) {
		sp := echoThrough(t, dialFrom(a, remote))
		expectHops(t, ctx, cols,
			hop{0, a.IP, d.IP, sp, 8080, ia, up1},
			hop{1, a.IP, d.IP, sp, 8080, up2, id},
			hop{1, d.IP, a.IP, 8080, sp, id, up2},
			hop{0, remote.Addr(), a.IP, 80, sp, up1, ia})
		stream.expectService(t, ctx, hop{src: a.IP, dst: d.IP, sport: sp, dport: 8080}, remote.String(), a.IP)
		// Node 2 saw no NAT: node 1's translation names the Service of
		// both nodes' hops, and of the reply node 2 sent.
		cc.expectServicePath(t, ctx, servicePath{tcp, a.IP, d.IP, sp, 8080, remote.String(), "a", "d"})
		cc.expectServicePath(t, ctx, servicePath{tcp, d.IP, a.IP, 8080, sp, remote.String(), "d", "a"})
	})
	t.Run("NodePort from the uplink", func(t *testing.T) {
		sp := echoThrough(t, func() (net.Conn, error) { return c.Fabric.DialTCP(ctx, nodePort) })
		expectHops(t, ctx, cols,
			hop{0, harness.FabricAddr(), b.IP, sp, 8080, up1, ib},
			hop{0, nodePort.Addr(), harness.FabricAddr(), nodePort.Port(), sp, ib, up1})
		stream.expectService(t, ctx, hop{src: harness.FabricAddr(), dst: b.IP, sport: sp, dport: 8080}, nodePort.String(), harness.FabricAddr())
		cc.expectServicePath(t, ctx, servicePath{tcp, harness.FabricAddr(), b.IP, sp, 8080, nodePort.String(), "", "b"})
	})
	t.Run("UDP ClusterIP, like cluster DNS", func(t *testing.T) {
		sp := udpExchange(t, a, dns)
		expectHops(t, ctx, cols,
			hop{0, a.IP, b.IP, sp, 5353, ia, ib},
			hop{0, dns.Addr(), a.IP, 53, sp, ib, ia})
		stream.expectService(t, ctx, hop{src: a.IP, dst: b.IP, sport: sp, dport: 5353}, dns.String(), a.IP)
		cc.expectServicePath(t, ctx, servicePath{intreport.ProtoUDP, a.IP, b.IP, sp, 5353, dns.String(), "a", "b"})
	})
	t.Run("hairpin: a pod through its own Service", func(t *testing.T) {
		sp := echoThrough(t, dialFrom(a, hairpin))
		// The request leaves masqueraded (from the node's address on the
		// veth, any port); the reply leaves un-NATed, from the Service.
		expectHops(t, ctx, cols,
			hop{0, gatewayOf(t, a), a.IP, 0, 8080, ia, ia},
			hop{0, hairpin.Addr(), a.IP, 80, sp, ia, ia})
		stream.expectService(t, ctx, hop{src: gatewayOf(t, a), dst: a.IP, dport: 8080}, hairpin.String(), a.IP)
		// The collector names the pod behind the masqueraded source: a.
		cc.expectServicePath(t, ctx, servicePath{tcp, gatewayOf(t, a), a.IP, 0, 8080, hairpin.String(), "a", "a"})
		cc.expectServicePath(t, ctx, servicePath{tcp, hairpin.Addr(), a.IP, 80, sp, hairpin.String(), "", "a"})
	})
}

// gatewayOf is pod p's gateway: ptp's address on the host end of p's veth,
// which the node masquerades p's hairpin traffic to.
func gatewayOf(t *testing.T, p *harness.Pod) netip.Addr {
	t.Helper()
	for _, ip := range p.Result.IPs {
		if a, ok := netip.AddrFromSlice(ip.Gateway); ok && a.Unmap().Is4() {
			return a.Unmap()
		}
	}
	t.Fatalf("pod %s has no IPv4 gateway in its CNI result", p.Name)
	return netip.Addr{}
}

// TestMasqueradedTrafficKeepsHopLatency: ptp with ipMasq, a pod reaching an
// address outside the cluster (the fabric, which has no route to pods):
// the request leaves the uplink SNATed to the node's address, the reply
// enters it addressed to the node. Both keep ports and hop latency.
func TestMasqueradedTrafficKeepsHopLatency(t *testing.T) {
	cc, cols := startPtpClusterWithCollector(t, 1, true)
	c := cc.cluster
	ctx := testContext(t)
	a := addPod(t, c.Nodes[0], "a")
	ia, up := vethIndex(t, a), uplinkIndex(t, c.Nodes[0])
	outside := netip.AddrPortFrom(harness.FabricAddr(), 9443)
	l, err := c.Fabric.ListenTCP(outside)
	if err != nil {
		t.Fatal(err)
	}
	echoServer(t, l)
	stream := watchReports(t, ctx, c.Nodes[0])
	// Three connections, as the issue tried them: every report of each,
	// both ways, has its ports and a hop latency.
	node := harness.NodeUplinkAddr(1)
	hops := []hop{{0, node, outside.Addr(), 0, outside.Port(), ia, up}}
	for i := 0; i < 3; i++ {
		sp := echoThrough(t, func() (net.Conn, error) { return a.DialTCP(ctx, outside.String()) })
		hops = append(hops, hop{0, outside.Addr(), a.IP, outside.Port(), sp, up, ia})
	}
	expectHops(t, ctx, cols, hops...)
	// The stream says whose packets the node's address stands for.
	stream.expectService(t, ctx, hops[0], "", a.IP)
	// The collector knows whose packets the node's address stands for:
	// pod a, with no Service.
	cc.expectServicePath(t, ctx, servicePath{tcp, node, outside.Addr(), 0, outside.Port(), "", "a", ""})
}

const tcp = intreport.ProtoTCP
