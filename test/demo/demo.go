// Package demo runs podint's demo: two simulated nodes joined by a VXLAN
// overlay, pods wired by real CNI plugins through libcni, a podintd per
// node, a traffic mix with real drops, and a live view of the INT reports
// an embedded collector receives. It is what `make demo` runs (podint-demo, a development
// binary that is not shipped).
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/podint/podint/cli/collect"
	"github.com/podint/podint/test/harness"
	"github.com/podint/podint/test/tools"
)

// Options of a demo run.
type Options struct {
	BinDir   string        // podint binaries and reference CNI plugins
	Duration time.Duration // 0 runs until ctx ends
	Out      io.Writer
	Live     bool   // redraw a live view (a terminal); else print report lines
	DotPath  string // where to write the topology as Graphviz DOT ("" skips)
	// ClusterView also runs podint-collector with a private PostgreSQL and
	// prints the paths it joined at the end (ClusterViewAvailable says
	// whether this machine can).
	ClusterView bool
}

// ClusterViewAvailable is nil when the cluster view can run here (the
// PostgreSQL server programs are installed), else what is missing.
func ClusterViewAvailable() error { return clusterViewAvailable() }

// Run builds the demo cluster, drives traffic and shows reports until ctx
// ends or the duration passes; everything it created is removed on return,
// and what a killed run left behind is removed first.
func Run(ctx context.Context, o Options) error {
	if err := tools.Need("ip", "nft", "sysctl", "dot"); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	harness.RemoveLeftovers()
	fmt.Fprintln(o.Out, "building two nodes (network namespaces) joined by a VXLAN overlay...")
	cluster, err := harness.NewCluster(harness.ClusterConfig{BinDir: o.BinDir, Overlay: true, DualStack: true})
	if err != nil {
		return err
	}
	defer cluster.Close()
	var view *clusterView
	if o.ClusterView {
		if err := clusterViewAvailable(); err != nil {
			return fmt.Errorf("demo: the cluster view needs PostgreSQL (make deps installs it): %w", err)
		}
		fmt.Fprintln(o.Out, "starting podint-collector in the fabric with a private PostgreSQL...")
		if view, err = startClusterView(ctx, cluster, o.BinDir); err != nil {
			return err
		}
		defer view.Close()
	}

	col := collect.NewCollector()
	// Without a terminal every report is printed: subscribe before the
	// daemons start, so that none is missed, with room for the whole run.
	var lines <-chan collect.Received
	if !o.Live {
		ch, unsubscribe := col.Subscribe(1 << 16)
		defer unsubscribe()
		lines = ch
	}
	cctx, stopCollect := context.WithCancel(context.Background())
	defer stopCollect()
	for i, n := range cluster.Nodes {
		// Each node's daemon reports to the collector on its own loopback,
		// so the reports themselves never cross the probed uplink.
		var conn net.PacketConn
		if err := n.NS.Do(func() (err error) {
			conn, err = net.ListenPacket("udp", "127.0.0.1:32766")
			return err
		}); err != nil {
			return err
		}
		go col.Serve(cctx, conn)
		n.Config.Collectors = []string{"127.0.0.1:32766"}
		if view != nil {
			n.Config.Collectors = append(n.Config.Collectors, view.collector())
			n.Config.DaemonArgs = append(n.Config.DaemonArgs, view.nodeArgs(i+1)...)
		}
		if err := n.StartDaemon(ctx); err != nil {
			return err
		}
		fmt.Fprintf(o.Out, "node %s: podintd running, instance root %s, log %s\n", n.Config.Name, n.Paths.Root, n.LogPath)
	}

	pods, err := addPods(ctx, cluster, o.Out)
	if err != nil {
		return err
	}
	defer func() {
		for _, p := range pods.all() {
			_ = p.node.DelPod(context.Background(), p.Pod)
		}
	}()
	if err := addFaults(cluster, pods); err != nil {
		return err
	}

	if o.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Duration)
		defer cancel()
	}
	start := time.Now()
	go runTraffic(ctx, pods)
	if o.Live {
		err = liveView(ctx, o.Out, col, cluster)
	} else {
		err = printLines(ctx, o.Out, lines)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		err = nil
	}
	time.Sleep(300 * time.Millisecond) // the last reports in flight
	if !o.Live {
		drainLines(o.Out, lines)
	}
	fmt.Fprintf(o.Out, "\nSUMMARY after %s: every report both nodes sent, by flow and drop reason\n\n",
		time.Since(start).Round(time.Second))
	collect.WriteSummary(o.Out, col.Summary(), time.Now(), 15)
	fmt.Fprintln(o.Out)
	writeLosses(context.Background(), o.Out, cluster)
	fmt.Fprintln(o.Out)
	if terr := printTopology(o.Out, cluster, o.DotPath); terr != nil && err == nil {
		err = terr
	}
	if view != nil {
		fmt.Fprintln(o.Out)
		if verr := view.print(o.Out, time.Since(start)+time.Minute); verr != nil && err == nil {
			err = verr
		}
		fmt.Fprintln(o.Out)
	}
	fmt.Fprintln(o.Out, "cleaning up")
	return err
}

// printLines prints one line per report (for logs and pipes) until ctx ends.
func printLines(ctx context.Context, w io.Writer, lines <-chan collect.Received) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case r := <-lines:
			fmt.Fprintln(w, collect.FormatLine(&r))
		}
	}
}

// drainLines prints the reports that arrived after the traffic stopped.
func drainLines(w io.Writer, lines <-chan collect.Received) {
	for {
		select {
		case r := <-lines:
			fmt.Fprintln(w, collect.FormatLine(&r))
		default:
			return
		}
	}
}
