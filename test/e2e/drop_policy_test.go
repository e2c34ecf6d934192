package e2e

import (
	"context"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/podint/podint/internal/intreport"
	podintv1 "github.com/podint/podint/proto/podint/v1"
	"github.com/podint/podint/test/harness"
)

// dropBarrier makes a drop the node reports (UDP to b:7000, dropped by an
// nftables rule) and waits for its report: the daemon sends reports in the
// order the probes wrote them, so every report of an earlier drop is in
// the collector by then.
func dropBarrier(t *testing.T, ctx context.Context, n *testNode, a, b *harness.Pod) {
	t.Helper()
	nft(t, n.Node, "add", "table", "inet", "podint_barrier")
	nft(t, n.Node, "add", "chain", "inet", "podint_barrier", "forward_filter", "{ type filter hook forward priority 0; }")
	nft(t, n.Node, "add", "rule", "inet", "podint_barrier", "forward_filter", "ip", "daddr", b.IP.String(), "udp", "dport", "7000", "drop")
	sport := sendUDP(t, a, netip.AddrPortFrom(b.IP, 7000), 0)
	_, err := n.Collector.WaitFor(ctx, func(d *intreport.Decoded) bool {
		f := d.Report.Flow
		return d.Kind == intreport.KindDrop && f.Src == a.IP && f.SrcPort == sport && f.DstPort == 7000
	})
	if err != nil {
		t.Fatalf("no report of the barrier drop: %v; reports: %v", err, summarize(n.Collector.Reports()))
	}
}

func isGroup(a netip.Addr) bool {
	return a.IsMulticast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255})
}

// Every pod start sends IPv6 neighbour and router solicitations and MLD
// reports to groups nobody joined; the kernel frees them without a reason.
// By default they are counted (kernel_drops_excluded), not reported; with
// --drop-reasons=all they are, which shows the first half can fail.
func TestPodStartMulticastFreesAreNotReported(t *testing.T) {
	for _, policy := range []string{"", "all"} {
		t.Run("drop-reasons="+policy, func(t *testing.T) {
			cfg := harness.NodeConfig{Primary: "ptp"}
			if policy != "" {
				cfg.DaemonArgs = []string{"--drop-reasons=" + policy}
			}
			n := startNode(t, cfg)
			ctx := testContext(t)
			a, b := addPod(t, n.Node, "a"), addPod(t, n.Node, "b")
			groupDrop := func(d *intreport.Decoded) bool {
				return d.Kind == intreport.KindDrop && d.DropReason == intreport.DropReasonUnknown && isGroup(d.Report.Flow.Dst)
			}
			if policy == "all" {
				if _, err := n.Collector.WaitFor(ctx, groupDrop); err != nil {
					t.Fatalf("no reason-0 drop report of a multicast frame with every reason reported: %v", err)
				}
				return
			}
			// The frees happened (and were held back) ...
			waitCounter(t, ctx, n.Node, "kernel_drops_excluded", 2)
			dropBarrier(t, ctx, n, a, b)
			// ... and none was reported, nor any other reason-0 drop.
			for _, r := range n.Collector.Reports() {
				if r.Kind == intreport.KindDrop && r.DropReason == intreport.DropReasonUnknown {
					t.Errorf("reason-0 drop reported: %s -> %s proto %d", r.Report.Flow.Src, r.Report.Flow.Dst, r.Report.Flow.Proto)
				}
			}
		})
	}
}

// kube-proxy's DNAT of a ClusterIP (10.96.0.10:80 to pod b:8080, nftables
// prerouting): successful Service connections are not drops. Each used to
// raise a reason-71 report: pod a's socket purging, at close, the server's
// FIN it never read (QUEUE_PURGE, in pod a's namespace), attributed to the
// node through the ingress record NAT had kept the egress probe from
// pairing.
func TestServiceConnectionsRaiseNoDropReports(t *testing.T) {
	n := startNode(t, harness.NodeConfig{Primary: "ptp"})
	ctx := testContext(t)
	a, b := addPod(t, n.Node, "a"), addPod(t, n.Node, "b")
	service := netip.MustParseAddrPort("10.96.0.10:80")
	nft(t, n.Node, "add", "table", "ip", "podint_svc")
	nft(t, n.Node, "add", "chain", "ip", "podint_svc", "pre", "{ type nat hook prerouting priority -100; }")
	nft(t, n.Node, "add", "rule", "ip", "podint_svc", "pre", "ip", "daddr", service.Addr().String(), "tcp", "dport", "80",
		"dnat", "to", b.IP.String()+":8080")
	l, err := b.ListenTCP(8080)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	for range 3 {
		c, err := a.DialTCP(ctx, service.String())
		if err != nil {
			t.Fatalf("connect to the service: %v", err)
		}
		if _, err := c.Write([]byte("hello podint")); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, make([]byte, 12)); err != nil {
			t.Fatalf("echo through the service: %v", err)
		}
		// Close without reading the server's FIN: it stays queued in pod
		// a's socket until the socket is gone.
		c.Close()
	}
	// The service connections produced reports (so the probes saw them) ...
	if _, err := n.Collector.WaitFor(ctx, func(d *intreport.Decoded) bool {
		return d.Kind == intreport.KindFlow && d.Report.Flow.Src == service.Addr() && d.Report.Flow.Dst == a.IP
	}); err != nil {
		t.Fatalf("no flow report of the service's replies: %v", err)
	}
	dropBarrier(t, ctx, n, a, b)
	// ... and no drop report.
	for _, r := range n.Collector.Reports() {
		f := r.Report.Flow
		if r.Kind == intreport.KindDrop && f.Proto == intreport.ProtoTCP {
			t.Errorf("drop report of a successful service connection: %s:%d -> %s:%d reason %d (%s)",
				f.Src, f.SrcPort, f.Dst, f.DstPort, r.DropReason, intreport.DropReasonName(r.DropReason))
		}
	}
}

// excludedDrops reads kernel_drops_excluded for one kernel reason.
func excludedDrops(t *testing.T, ctx context.Context, n *harness.Node, reason string) uint64 {
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
	for _, c := range st.GetCounters() {
		if c.GetName() == "kernel_drops_excluded" && c.GetLabels()["reason"] == reason {
			return c.GetValue()
		}
	}
	return 0
}

// --drop-reasons changes with the --config file: an nftables drop is
// reported, then, once the file excludes NETFILTER_DROP, counted and not
// reported; a bad name is refused and the policy in force stays.
func TestDropReasonsReloadWithTheConfigFile(t *testing.T) {
	var file string
	n := startDaemonNode(t, harness.NodeConfig{}, func(n *harness.Node) []string {
		file = filepath.Join(n.Paths.Root, "podintd.yaml")
		if err := os.WriteFile(file, []byte("drop-reasons: [default]\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return []string{"--config", file}
	})
	ctx := testContext(t)
	a, b := addPod(t, n.Node, "a"), addPod(t, n.Node, "b")
	nft(t, n.Node, "add", "table", "inet", "podint_test")
	nft(t, n.Node, "add", "chain", "inet", "podint_test", "forward_filter", "{ type filter hook forward priority 0; }")
	nft(t, n.Node, "add", "rule", "inet", "podint_test", "forward_filter", "ip", "daddr", b.IP.String(), "udp", "dport", "7200", "drop")
	dst := netip.AddrPortFrom(b.IP, 7200)
	nftDrop := func(sport uint16) func(*intreport.Decoded) bool {
		return func(d *intreport.Decoded) bool {
			f := d.Report.Flow
			return d.Kind == intreport.KindDrop && f.Src == a.IP && f.SrcPort == sport && f.DstPort == 7200
		}
	}
	if _, err := n.Collector.WaitFor(ctx, nftDrop(sendUDP(t, a, dst, 0))); err != nil {
		t.Fatalf("no report of the nftables drop before the change: %v", err)
	}

	if err := os.WriteFile(file, []byte("drop-reasons: [-NO_SUCH_REASON]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Valid syntax, unknown to this kernel: the change is rejected.
	waitCounter(t, ctx, n.Node, "config_rejected", 1)
	if !strings.Contains(n.DaemonLog(), "NO_SUCH_REASON") {
		t.Errorf("the log does not name the unknown reason:\n%s", n.DaemonLog())
	}

	if err := os.WriteFile(file, []byte("drop-reasons: [-NETFILTER_DROP]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitCounter(t, ctx, n.Node, "config_reloads", 1)
	sport := sendUDP(t, a, dst, 0)
	for excludedDrops(t, ctx, n.Node, "NETFILTER_DROP") == 0 {
		select {
		case <-ctx.Done():
			t.Fatal("the nftables drop after the change was not counted as excluded")
		case <-time.After(50 * time.Millisecond):
		}
	}
	// A routing miss is still reported; once it is in, the excluded drop
	// would have been too.
	miss := sendUDP(t, a, netip.MustParseAddrPort("10.99.0.1:7201"), 0)
	if _, err := n.Collector.WaitFor(ctx, func(d *intreport.Decoded) bool {
		return d.Kind == intreport.KindDrop && d.Report.Flow.SrcPort == miss && d.DropReason == intreport.DropReasonRoutingMiss
	}); err != nil {
		t.Fatalf("no report of a routing miss after the change: %v", err)
	}
	for _, r := range n.Collector.Reports() {
		if nftDrop(sport)(&r) {
			t.Errorf("the nftables drop was reported after --drop-reasons excluded NETFILTER_DROP")
		}
	}
}

// A drop reason this kernel does not have stops the start, named.
func TestUnknownDropReasonStopsTheStart(t *testing.T) {
	n := newBareNode(t, harness.NodeConfig{})
	n.Config.DaemonArgs = []string{"--drop-reasons=+QUEUE_PURGE,-NO_SUCH_REASON"}
	err := n.StartDaemon(testContext(t))
	if err == nil || !strings.Contains(err.Error(), "drop-reasons") || !strings.Contains(err.Error(), "NO_SUCH_REASON") {
		t.Fatalf("start with --drop-reasons=-NO_SUCH_REASON: %v; want an exit naming the setting and the reason", err)
	}
}
