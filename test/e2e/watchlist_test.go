package e2e

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/podint/podint/internal/intreport"
	podintv1 "github.com/podint/podint/proto/podint/v1"
	"github.com/podint/podint/test/harness"
)

func counter(t *testing.T, ctx context.Context, n *harness.Node, name string) uint64 {
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
	var sum uint64
	for _, c := range st.GetCounters() {
		if c.GetName() == name {
			sum += c.GetValue()
		}
	}
	return sum
}

func waitCounter(t *testing.T, ctx context.Context, n *harness.Node, name string, atLeast uint64) {
	t.Helper()
	for counter(t, ctx, n, name) < atLeast {
		select {
		case <-ctx.Done():
			t.Fatalf("counter %s stayed below %d", name, atLeast)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func TestWatchlistSelectsFlowsAndReloads(t *testing.T) {
	dir := t.TempDir()
	wl := filepath.Join(dir, "watchlist.yaml")
	write := func(s string) {
		tmp := filepath.Join(dir, "tmp")
		if err := os.WriteFile(tmp, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, wl); err != nil {
			t.Fatal(err)
		}
	}
	write("rules:\n  - protocol: UDP\n    dst-ports: 7300\n")
	n := startNode(t, harness.NodeConfig{DaemonArgs: []string{"--watchlist", wl}})
	ctx := testContext(t)
	a, b := addPod(t, n.Node, "a"), addPod(t, n.Node, "b")
	reported := func(sport, dport uint16) bool {
		for _, r := range n.Collector.Reports() {
			f := r.Report.Flow
			if f.Src == a.IP && f.SrcPort == sport && f.DstPort == dport {
				return true
			}
		}
		return false
	}
	watched := sendUDP(t, a, netip.AddrPortFrom(b.IP, 7300), 0)
	unwatched := sendUDP(t, a, netip.AddrPortFrom(b.IP, 7301), 0)
	if _, err := n.Collector.WaitFor(ctx, func(d *intreport.Decoded) bool {
		return d.Report.Flow.SrcPort == watched && d.Report.Flow.DstPort == 7300
	}); err != nil {
		t.Fatalf("flow selected by the watchlist not reported: %v", err)
	}
	// The unwatched packet was sent right after the watched one; the kernel
	// counts it as unwatched rather than reporting it.
	waitCounter(t, ctx, n.Node, "kernel_unwatched", 1)
	if reported(unwatched, 7301) {
		t.Fatal("flow outside the watchlist was reported")
	}

	// A new file takes effect without a restart.
	write("rules:\n  - protocol: UDP\n    dst-ports: 7301\n")
	waitCounter(t, ctx, n.Node, "watchlist_reloads", 1)
	again := sendUDP(t, a, netip.AddrPortFrom(b.IP, 7301), 0)
	if _, err := n.Collector.WaitFor(ctx, func(d *intreport.Decoded) bool {
		return d.Report.Flow.SrcPort == again && d.Report.Flow.DstPort == 7301
	}); err != nil {
		t.Fatalf("flow selected after reload not reported: %v", err)
	}

	// A broken file is rejected and the rules in force stay.
	write("rules:\n  - protocol: UDP\n    dst-addr: 10.0.0.0/33\n")
	waitCounter(t, ctx, n.Node, "watchlist_rejected", 1)
	still := sendUDP(t, a, netip.AddrPortFrom(b.IP, 7301), 0)
	if _, err := n.Collector.WaitFor(ctx, func(d *intreport.Decoded) bool {
		return d.Report.Flow.SrcPort == still && d.Report.Flow.DstPort == 7301
	}); err != nil {
		t.Fatalf("after a rejected file the previous rules are not in force: %v", err)
	}
}
