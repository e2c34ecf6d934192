package e2e

import (
	"context"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/podint/podint/internal/intreport"
	podintv1 "github.com/podint/podint/proto/podint/v1"
	"github.com/podint/podint/test/harness"
)

// startDaemonNode is startNode for tests whose daemon flags name the node's
// own paths (known only once the node exists).
func startDaemonNode(t *testing.T, cfg harness.NodeConfig, args func(*harness.Node) []string) *testNode {
	t.Helper()
	n := newBareNode(t, cfg)
	col, err := harness.NewCollector(n.NS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { col.Close() })
	n.Config.Collectors = append(n.Config.Collectors, col.Addr())
	if args != nil {
		n.Config.DaemonArgs = append(n.Config.DaemonArgs, args(n)...)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("podintd log:\n%s", n.DaemonLog())
			t.Logf("plugin stderr:\n%s", n.PluginLog())
		}
	})
	if err := n.StartDaemon(testContext(t)); err != nil {
		t.Fatal(err)
	}
	return &testNode{Node: n, Collector: col}
}

// udpFlows sends one datagram per flow from a to b:dstPort, each flow from
// its own source port (counting up from firstPort, below the ephemeral
// range, so no two flows share one), and remembers which ports it used.
type udpFlows struct {
	from, to  *harness.Pod
	dstPort   uint16
	firstPort uint16
	mu        sync.Mutex
	sent      []uint16
}

// send opens a socket in the sending pod and sends one datagram from it:
// a new flow, which the probes report once.
func (f *udpFlows) send(t *testing.T) uint16 {
	t.Helper()
	f.mu.Lock()
	port := f.firstPort + uint16(len(f.sent))
	f.sent = append(f.sent, port)
	f.mu.Unlock()
	c, err := f.from.ListenUDP(int(port))
	if err != nil {
		t.Error(err)
		return 0
	}
	defer c.Close()
	if _, err := c.WriteToUDPAddrPort([]byte("podint restart test"), netip.AddrPortFrom(f.to.IP, f.dstPort)); err != nil {
		t.Error(err)
		return 0
	}
	return port
}

// reportedPorts are the source ports of the flows of f the collector saw.
func (f *udpFlows) reportedPorts(col *harness.Collector) map[uint16]bool {
	seen := map[uint16]bool{}
	for _, r := range col.Reports() {
		fl := r.Report.Flow
		if r.Kind == intreport.KindFlow && fl.Proto == intreport.ProtoUDP && fl.Src == f.from.IP && fl.Dst == f.to.IP && fl.DstPort == f.dstPort {
			seen[fl.SrcPort] = true
		}
	}
	return seen
}

// waitReported waits until every port in ports was reported, and returns
// those that were not when ctx ended.
func (f *udpFlows) waitReported(ctx context.Context, col *harness.Collector, ports []uint16) []uint16 {
	for {
		seen := f.reportedPorts(col)
		var missing []uint16
		for _, p := range ports {
			if !seen[p] {
				missing = append(missing, p)
			}
		}
		if len(missing) == 0 {
			return nil
		}
		_, err := col.WaitFor(ctx, func(d *intreport.Decoded) bool {
			return d.Report.Flow.Src == f.from.IP && slices.Contains(missing, d.Report.Flow.SrcPort)
		})
		if err != nil {
			return missing
		}
	}
}

// probeIDs lists the daemon's probes as "<ifindex>/<interface>/<container>",
// failing on a probe listed twice.
func probeIDs(t *testing.T, ctx context.Context, n *harness.Node) []string {
	t.Helper()
	c, closeFn, err := n.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer closeFn()
	var ids []string
	for _, p := range listProbes(t, ctx, c) {
		id := itoa(int(p.GetIfindex())) + "/" + p.GetHostInterface() + "/" + p.GetPod().GetContainerId()
		if slices.Contains(ids, id) {
			t.Errorf("probe %s listed twice", id)
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// client dials the node's daemon for the length of the test.
func client(t *testing.T, n *harness.Node) podintv1.PodintClient {
	t.Helper()
	c, closeFn, err := n.Client()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeFn() })
	return c
}

// count is how many flows were sent so far.
func (f *udpFlows) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.sent)
}

// waitFlows waits until at least n flows were sent by the sender, which
// closes done when it stops.
func waitFlows(ctx context.Context, done <-chan struct{}, f *udpFlows, n int) {
	for f.count() < n {
		select {
		case <-ctx.Done():
			return
		case <-done:
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func netipAddrPort(p *harness.Pod, port uint16) netip.AddrPort { return netip.AddrPortFrom(p.IP, port) }

func afterSecond() <-chan time.Time { return time.After(time.Second) }

// grpcWaitForReady makes a call wait for the connection instead of failing
// while the daemon starts.
func grpcWaitForReady() grpc.CallOption { return grpc.WaitForReady(true) }
