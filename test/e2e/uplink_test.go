package e2e

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"testing"

	"github.com/podint/podint/internal/intreport"
	podintv1 "github.com/podint/podint/proto/podint/v1"
	"github.com/podint/podint/test/harness"
)

// startCluster builds a two-node cluster, each node with its collector and
// daemon; podintd finds its uplink and switch id from the default route.
func startCluster(t *testing.T, overlay bool) (*harness.Cluster, []*harness.Collector) {
	t.Helper()
	return startClusterWith(t, harness.ClusterConfig{BinDir: binDir, Overlay: overlay})
}

// startClusterWith builds the cluster cfg describes and starts every node's
// collector and daemon.
func startClusterWith(t *testing.T, cfg harness.ClusterConfig) (*harness.Cluster, []*harness.Collector) {
	t.Helper()
	requireRoot(t)
	if cfg.BinDir == "" {
		cfg.BinDir = binDir
	}
	c, err := harness.NewCluster(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	var cols []*harness.Collector
	for _, n := range c.Nodes {
		col, err := harness.NewCollector(n.NS)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { col.Close() })
		n.Config.Collectors = []string{col.Addr()}
		cols = append(cols, col)
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("%s podintd log:\n%s", n.Config.Name, n.DaemonLog())
			}
		})
		if err := n.StartDaemon(testContext(t)); err != nil {
			t.Fatal(err)
		}
	}
	return c, cols
}

func uplinkIndex(t *testing.T, n *harness.Node) int {
	t.Helper()
	var idx int
	err := n.NS.Do(func() error {
		ifc, err := net.InterfaceByName(harness.UplinkName)
		if err == nil {
			idx = ifc.Index
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return idx
}

func switchIDOf(a netip.Addr) uint32 { b := a.As4(); return binary.BigEndian.Uint32(b[:]) }

func testCrossNodeReports(t *testing.T, overlay bool) {
	c, cols := startCluster(t, overlay)
	ctx := testContext(t)
	n1, n2 := c.Nodes[0], c.Nodes[1]
	a, b := addPod(t, n1, "a"), addPod(t, n2, "b")
	va, _ := a.HostVeth()
	vb, _ := b.HostVeth()
	up1, up2 := uplinkIndex(t, n1), uplinkIndex(t, n2)

	l, err := b.ListenTCP(5201)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		if c, err := l.Accept(); err == nil {
			io.Copy(c, c)
			c.Close()
		}
	}()
	conn, err := a.DialTCP(ctx, netip.AddrPortFrom(b.IP, 5201).String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write([]byte("across nodes"))
	io.ReadFull(conn, make([]byte, 12))
	sport := uint16(conn.LocalAddr().(*net.TCPAddr).Port)

	// Node 1: from pod a's veth out of the uplink; node 2: in through the
	// uplink to pod b's veth. Overlay or not, the flow is the pods' flow.
	r1 := expectReportOn(t, ctx, cols[0], a.IP, b.IP, sport, 5201, va.Attrs().Index, up1)
	r2 := expectReportOn(t, ctx, cols[1], a.IP, b.IP, sport, 5201, up2, vb.Attrs().Index)
	if r1.SwitchID != switchIDOf(harness.NodeUplinkAddr(1)) || r2.SwitchID != switchIDOf(harness.NodeUplinkAddr(2)) {
		t.Errorf("switch ids %#x and %#x, want the nodes' uplink addresses", r1.SwitchID, r2.SwitchID)
	}
	if overlay {
		// The frame carried is the pod's packet, not the VXLAN envelope.
		if _, isOuter := r1.Outer(); isOuter {
			t.Errorf("node 1 report carries the VXLAN packet, want the inner frame")
		}
	}

	cl, closeFn, err := n1.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer closeFn()
	topo, err := cl.Topology(ctx, &podintv1.TopologyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if ups := topo.GetNode().GetUplinks(); len(ups) != 1 || int(ups[0].GetIfindex()) != up1 || ups[0].GetHostInterface() != harness.UplinkName {
		t.Errorf("topology uplinks %v, want %s (ifindex %d)", ups, harness.UplinkName, up1)
	}
}

func expectReportOn(t *testing.T, ctx context.Context, col *harness.Collector, src, dst netip.Addr, sport, dport uint16, in, out int) *intreport.Decoded {
	t.Helper()
	r, err := col.WaitFor(ctx, func(d *intreport.Decoded) bool {
		f := d.Report.Flow
		return d.Kind == intreport.KindFlow && f.Proto == intreport.ProtoTCP && f.Src == src && f.Dst == dst &&
			f.SrcPort == sport && f.DstPort == dport && int(d.IngressPort) == in && int(d.EgressPort) == out
	})
	if err != nil {
		t.Fatalf("no report of tcp %s:%d -> %s:%d through ports %d -> %d: %v; got %v", src, sport, dst, dport, in, out, err,
			describe(col.Reports()))
	}
	if lat := uint32(r.EgressTS) - uint32(r.IngressTS); lat >= 1<<31 {
		t.Errorf("egress before ingress: %d < %d", r.EgressTS, r.IngressTS)
	}
	return r
}

func describe(rs []intreport.Decoded) []string {
	var out []string
	for i, r := range rs {
		if i == 20 {
			break
		}
		out = append(out, r.Report.Flow.String()+" ports "+itoa(int(r.IngressPort))+"->"+itoa(int(r.EgressPort)))
	}
	return out
}

func TestUplinkReportsAcrossNodes(t *testing.T)        { testCrossNodeReports(t, false) }
func TestUplinkReportsAcrossVXLANOverlay(t *testing.T) { testCrossNodeReports(t, true) }
