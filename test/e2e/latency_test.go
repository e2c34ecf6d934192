package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"testing"
	"time"

	"github.com/podint/podint/internal/intreport"
	podintv1 "github.com/podint/podint/proto/podint/v1"
	"github.com/podint/podint/test/harness"
)

// TestHopLatencyReflectsAHeldPacket holds packets of some flows in an
// NFQUEUE handler on node 1 between the pod's veth (ingress) and the uplink
// (egress): their reported hop latency must include the hold, while many
// other flows in both directions cross at the same time.
func TestHopLatencyReflectsAHeldPacket(t *testing.T) {
	const hold = 50 * time.Millisecond
	c, cols := startCluster(t, false)
	ctx := testContext(t)
	n1, n2 := c.Nodes[0], c.Nodes[1]
	a, b := addPod(t, n1, "a"), addPod(t, n2, "b")
	va, _ := a.HostVeth()
	up1 := uplinkIndex(t, n1)

	h, err := harness.NewHolder(n1.NS, 7, hold)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	// iptables-legacy: these kernels have the xtables NFQUEUE target but
	// not nftables' queue expression.
	if err := n1.NS.Do(func() error {
		out, err := exec.Command("iptables-legacy", "-A", "FORWARD", "-d", b.IP.String(), "-p", "udp",
			"--dport", "9000:9019", "-j", "NFQUEUE", "--queue-num", "7").CombinedOutput()
		if err != nil {
			return fmt.Errorf("iptables-legacy: %v: %s", err, out)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	// 20 held flows to ports 9000-9019 and 20 free ones to 9100-9119, a to b,
	// plus 20 free ones b to a, all at once.
	srv, err := b.ListenUDP(0)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	type sent struct {
		src, dst netip.Addr
		sport    uint16
		dport    uint16
		held     bool
	}
	var flows []sent
	for i := 0; i < 20; i++ {
		for _, d := range []struct {
			from *harness.Pod
			to   netip.Addr
			port uint16
			held bool
		}{{a, b.IP, uint16(9000 + i), true}, {a, b.IP, uint16(9100 + i), false}, {b, a.IP, uint16(9200 + i), false}} {
			sp := sendUDP(t, d.from, netip.AddrPortFrom(d.to, d.port), 0)
			flows = append(flows, sent{d.from.IP, d.to, sp, d.port, d.held})
		}
	}
	for _, f := range flows {
		if !f.held {
			continue
		}
		r, err := cols[0].WaitFor(ctx, func(d *intreport.Decoded) bool {
			x := d.Report.Flow
			return d.Kind == intreport.KindFlow && x.Src == f.src && x.Dst == f.dst && x.SrcPort == f.sport && x.DstPort == f.dport
		})
		if err != nil {
			t.Fatalf("no report for held flow to port %d: %v", f.dport, err)
		}
		if int(r.IngressPort) != va.Attrs().Index || int(r.EgressPort) != up1 {
			t.Errorf("held flow %d: ports %d -> %d, want %d -> %d", f.dport, r.IngressPort, r.EgressPort, va.Attrs().Index, up1)
		}
		if ns, ok := r.HopLatency(); !ok || time.Duration(ns) < hold {
			t.Errorf("held flow %d: hop latency %s (known %v), want at least the %s hold", f.dport, time.Duration(ns), ok, hold)
		}
	}
	if h.Held() < 20 {
		t.Errorf("the queue held %d packets, want at least 20", h.Held())
	}
	t.Log(fmt.Sprintf("%d packets held %s each", h.Held(), hold))
}

// TestALatencyStepIsReportedBeforeTheInterval holds the packets of a flow
// that was crossing freely for 50 ms in an NFQUEUE handler: the step is a
// latency change (a move by more than a factor of 2), reported with the
// first held packet a quarter interval after the flow's last report, not
// only with the next interval's report.
func TestALatencyStepIsReportedBeforeTheInterval(t *testing.T) {
	const hold = 50 * time.Millisecond
	const interval = 2 * time.Second // latency changes: at most every 500 ms
	c, cols := startClusterWith(t, harness.ClusterConfig{Node: harness.NodeConfig{
		DaemonArgs: []string{"--report-interval", interval.String()}}})
	ctx := testContext(t)
	n1, n2 := c.Nodes[0], c.Nodes[1]
	a, b := addPod(t, n1, "a"), addPod(t, n2, "b")
	srv, err := b.ListenUDP(9300)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	conn, err := a.ListenUDP(0)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sport := uint16(conn.LocalAddr().(interface{ AddrPort() netip.AddrPort }).AddrPort().Port())
	dst := netip.AddrPortFrom(b.IP, 9300)
	send := func() {
		if _, err := conn.WriteToUDPAddrPort([]byte("step"), dst); err != nil {
			t.Fatal(err)
		}
	}
	flowReport := func(held bool) (*intreport.Decoded, error) {
		return cols[0].WaitFor(ctx, func(d *intreport.Decoded) bool {
			f := d.Report.Flow
			if d.Kind != intreport.KindFlow || f.Src != a.IP || f.SrcPort != sport || f.DstPort != 9300 {
				return false
			}
			ns, ok := d.HopLatency()
			return ok && (time.Duration(ns) >= hold) == held
		})
	}

	send()
	if _, err := flowReport(false); err != nil {
		t.Fatalf("the flow's first packet was not reported: %v", err)
	}
	before := kernelCounter(t, ctx, n1, "kernel_events_latency")

	h, err := harness.NewHolder(n1.NS, 8, hold)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := n1.NS.Do(func() error {
		out, err := exec.Command("iptables-legacy", "-A", "FORWARD", "-d", b.IP.String(), "-p", "udp",
			"--dport", "9300", "-j", "NFQUEUE", "--queue-num", "8").CombinedOutput()
		if err != nil {
			return fmt.Errorf("iptables-legacy: %v: %s", err, out)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(interval/4 + 100*time.Millisecond) // past the latency rate limit, inside the interval
	send()
	r, err := flowReport(true)
	if err != nil {
		t.Fatalf("no report of the held packet: %v", err)
	}
	if after := kernelCounter(t, ctx, n1, "kernel_events_latency"); after <= before {
		t.Fatalf("the held packet's report (hop latency %v) was not counted as a latency change (kernel_events_latency %d, before %d)",
			r.Report.EgressTS-r.Report.IngressTS, after, before)
	}
}

// kernelCounter reads one of the probes' counters from the daemon's stats.
func kernelCounter(t *testing.T, ctx context.Context, n *harness.Node, name string) uint64 {
	t.Helper()
	c, closeFn, err := n.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer closeFn()
	st, err := c.Stats(ctx, &podintv1.StatsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var v uint64
	for _, c := range st.GetCounters() {
		if c.GetName() == name {
			v += c.GetValue()
		}
	}
	return v
}
