package e2e

import (
	"net/netip"
	"testing"
	"time"

	"github.com/podint/podint/internal/intreport"
	"github.com/podint/podint/test/harness"
)

// A broadcast the bridge floods leaves through every other port: one copy
// keeps the sender's sk_buff (and its ingress record), the others are
// clones without one. Those copies must not count as port changes, or a
// broadcast or multicast stream to n pods is reported n times per packet
// instead of once per interval; the flow is still reported, through the
// port its paired copy left by, with its hop latency.
func TestFloodedCopiesAreNoPortChanges(t *testing.T) {
	n := startNode(t, harness.NodeConfig{Subnet: "10.44.0.0/24", DaemonArgs: []string{"--report-interval", "30s"}})
	ctx := testContext(t)
	a := addPod(t, n.Node, "a")
	for _, name := range []string{"b", "c", "d"} {
		addPod(t, n.Node, name)
	}
	bcast := netip.MustParseAddr("10.44.0.255")
	const packets, dport = 200, 6000
	c := broadcastConn(t, a, 46000)
	defer c.Close()
	for i := 0; i < packets; i++ {
		if _, err := c.WriteToUDPAddrPort([]byte("flooded"), netip.AddrPortFrom(bcast, dport)); err != nil {
			t.Fatal(err)
		}
	}
	ours := func(d *intreport.Decoded) bool {
		f := d.Report.Flow
		return d.Kind == intreport.KindFlow && f.Proto == intreport.ProtoUDP && f.Src == a.IP && f.Dst == bcast && f.DstPort == dport
	}
	if _, err := n.Collector.WaitFor(ctx, ours); err != nil {
		t.Fatalf("the broadcast flow was never reported: %v", err)
	}
	time.Sleep(2 * time.Second) // whatever else the probes report of it arrives
	var reports, paired int
	for _, d := range n.Collector.Reports() {
		if ours(&d) {
			reports++
			if !d.NoIngress {
				paired++
			}
		}
	}
	// The flow's first copy (new flow), at most one port change to the
	// paired copy's port, and latency moves: a handful, not one per copy.
	if reports > 10 {
		t.Errorf("%d broadcast packets flooded to 3 pods and the node: %d reports of the flow, want a handful, not one per copy", packets, reports)
	}
	if paired == 0 {
		t.Errorf("no report of the broadcast flow has its ingress port and hop latency (%d reports)", reports)
	}
	t.Logf("%d packets: %d reports, %d with their ingress", packets, reports, paired)
}
