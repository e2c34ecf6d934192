package e2e

import (
	"context"
	"net"
	"net/netip"
	"testing"

	"github.com/podint/podint/bpf/attach"
	"github.com/podint/podint/internal/intreport"
	"github.com/podint/podint/test/harness"
)

// switchID10001 is 10.0.0.1, the default test node's switch id.
const switchID10001 = 0x0a000001

// expectFlowReport waits for a flow report of flow (any source port when
// srcPort is 0) that crossed the node from in to out.
func expectFlowReport(t *testing.T, ctx context.Context, col *harness.Collector, proto uint8,
	src, dst netip.Addr, srcPort, dstPort uint16, in, out int) *intreport.Decoded {
	t.Helper()
	r, err := col.WaitFor(ctx, func(d *intreport.Decoded) bool {
		f := d.Report.Flow
		return d.Kind == intreport.KindFlow && f.Proto == proto && f.Src == src && f.Dst == dst &&
			(srcPort == 0 || f.SrcPort == srcPort) && f.DstPort == dstPort
	})
	if err != nil {
		t.Fatalf("%s %s -> %s:%d: %v; got %d reports: %v", intreport.ProtoName(proto), src, dst, dstPort, err,
			len(col.Reports()), summarize(col.Reports()))
	}
	if r.SwitchID != switchID10001 {
		t.Errorf("switch id %#x, want %#x (10.0.0.1)", r.SwitchID, switchID10001)
	}
	if int(r.IngressPort) != in || int(r.EgressPort) != out {
		t.Errorf("ports %d -> %d, want the veths %d -> %d", r.IngressPort, r.EgressPort, in, out)
	}
	// v0.5 timestamps are 32-bit: egress is after ingress modulo 2^32.
	// (A report without a probed ingress carries no ingress time to compare.)
	if lat := uint32(r.EgressTS) - uint32(r.IngressTS); !r.NoIngress && lat >= 1<<31 {
		t.Errorf("egress_ts %d is before ingress_ts %d", r.EgressTS, r.IngressTS)
	}
	return r
}

func summarize(rs []intreport.Decoded) []string {
	var out []string
	for i, r := range rs {
		if i == 20 {
			out = append(out, "...")
			break
		}
		out = append(out, r.Report.Flow.String())
	}
	return out
}

func TestPodToPodTCPAndUDPBecomeFlowReports(t *testing.T) {
	n := startNode(t, harness.NodeConfig{})
	ctx := testContext(t)
	a, b := addPod(t, n.Node, "a"), addPod(t, n.Node, "b")
	va, err := a.HostVeth()
	if err != nil {
		t.Fatal(err)
	}
	vb, err := b.HostVeth()
	if err != nil {
		t.Fatal(err)
	}
	ia, ib := va.Attrs().Index, vb.Attrs().Index

	// TCP a -> b:5201, with data both ways.
	sport := echoTCP(t, a, b, 5201)
	expectFlowReport(t, ctx, n.Collector, intreport.ProtoTCP, a.IP, b.IP, sport, 5201, ia, ib)
	expectFlowReport(t, ctx, n.Collector, intreport.ProtoTCP, b.IP, a.IP, 5201, sport, ib, ia)

	// UDP b -> a:6000.
	u, err := a.ListenUDP(6000)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	s, err := b.ListenUDP(0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.WriteToUDPAddrPort([]byte("ping"), netip.AddrPortFrom(a.IP, 6000)); err != nil {
		t.Fatal(err)
	}
	uport := uint16(s.LocalAddr().(*net.UDPAddr).Port)
	r := expectFlowReport(t, ctx, n.Collector, intreport.ProtoUDP, b.IP, a.IP, uport, 6000, ib, ia)
	if len(r.Frame) < 14+20+8 || !r.FrameL2 {
		t.Errorf("report carries %d bytes of frame (l2 %v), want the packet from its Ethernet header", len(r.Frame), r.FrameL2)
	}
	if errs := n.Collector.Errors(); len(errs) > 0 {
		t.Errorf("collector could not decode %d datagrams: %v", len(errs), errs[0])
	}
}

func TestDelLeavesNoProbeBehind(t *testing.T) {
	n := startNode(t, harness.NodeConfig{})
	ctx := testContext(t)
	p, err := n.AddPod(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	defer p.NS.Delete()
	veth, err := p.HostVeth()
	if err != nil {
		t.Fatal(err)
	}
	if in, eg, err := n.TCXPrograms(veth.Attrs().Index); err != nil || in != 1 || eg != 1 {
		t.Fatalf("after ADD: %d ingress and %d egress programs on %s (err %v), want 1 and 1", in, eg, veth.Attrs().Name, err)
	}
	if ids, _ := attach.AttachedProbes(n.Paths.PinDir); len(ids) != 1 {
		t.Fatalf("after ADD: pinned probes %v, want one", ids)
	}

	// podint's DEL alone, while the veth still exists.
	if err := n.CNIDelPlugin(ctx, p, "podint"); err != nil {
		t.Fatal(err)
	}
	if in, eg, err := n.TCXPrograms(veth.Attrs().Index); err != nil || in != 0 || eg != 0 {
		t.Fatalf("after DEL: %d ingress and %d egress programs still on %s (err %v)", in, eg, veth.Attrs().Name, err)
	}
	if ids, err := attach.AttachedProbes(n.Paths.PinDir); err != nil || len(ids) != 0 {
		t.Fatalf("after DEL: pinned probes %v remain (err %v)", ids, err)
	}
	c, closeFn, err := n.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer closeFn()
	if probes := listProbes(t, ctx, c); len(probes) != 0 {
		t.Fatalf("after DEL the daemon still holds %d probes", len(probes))
	}
	// DEL again, of the whole chain: idempotent.
	for i := 0; i < 2; i++ {
		if err := n.CNIDel(ctx, p); err != nil {
			t.Fatalf("repeated DEL failed: %v", err)
		}
	}
}
