package e2e

import (
	"net/netip"
	"testing"
	"time"

	"github.com/podint/podint/internal/intreport"
	"github.com/podint/podint/test/harness"
)

// TestReportFilterBoundsSteadyFlowsAndReportsEveryNewOne sends a steady
// flow of thousands of packets and hundreds of one-packet flows: the steady
// flow yields no more reports than its duration allows, and every new
// flow's first packet is reported.
func TestReportFilterBoundsSteadyFlowsAndReportsEveryNewOne(t *testing.T) {
	const interval = 200 * time.Millisecond
	// A latency quantum larger than any hop latency here isolates the
	// interval: no report is due to a latency bucket change.
	n := startNode(t, harness.NodeConfig{DaemonArgs: []string{
		"--report-interval", interval.String(), "--latency-quantum", "10s"}})
	ctx := testContext(t)
	a, b := addPod(t, n.Node, "a"), addPod(t, n.Node, "b")
	srv, err := b.ListenUDP(7100)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c, err := a.ListenUDP(0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	dst := netip.AddrPortFrom(b.IP, 7100)

	const packets = 5000
	start := time.Now()
	for i := 0; i < packets; i++ {
		if _, err := c.WriteToUDPAddrPort([]byte("steady"), dst); err != nil {
			t.Fatal(err)
		}
		if i%100 == 0 {
			time.Sleep(time.Millisecond) // spread the flow over some intervals
		}
	}
	elapsed := time.Since(start)
	sport := uint16(c.LocalAddr().(interface{ AddrPort() netip.AddrPort }).AddrPort().Port())

	// One-packet flows, each from its own port.
	const newFlows = 200
	var ports []uint16
	for i := 0; i < newFlows; i++ {
		ports = append(ports, sendUDP(t, a, netip.AddrPortFrom(b.IP, 7200), 0))
	}
	for _, p := range ports {
		if _, err := n.Collector.WaitFor(ctx, func(d *intreport.Decoded) bool {
			f := d.Report.Flow
			return f.Src == a.IP && f.SrcPort == p && f.DstPort == 7200
		}); err != nil {
			t.Fatalf("first packet of new flow from port %d not reported: %v", p, err)
		}
	}
	// Every report of the steady flow has arrived by now: the one-packet
	// flows were sent after it and the exporter keeps order per collector.
	steady := 0
	for _, r := range n.Collector.Reports() {
		f := r.Report.Flow
		if f.Src == a.IP && f.SrcPort == sport && f.DstPort == 7100 {
			steady++
		}
	}
	// The first packet, then at most one per interval, plus one for an
	// interval boundary the flow straddles.
	limit := 2 + int(elapsed/interval)
	if steady < 1 || steady > limit {
		t.Fatalf("%d packets over %s gave %d reports, want 1..%d", packets, elapsed, steady, limit)
	}
	t.Logf("%d packets over %s: %d reports (limit %d); %d/%d new flows reported", packets, elapsed, steady, limit, newFlows, newFlows)
}
