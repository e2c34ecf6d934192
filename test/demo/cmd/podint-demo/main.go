// Command podint-demo runs podint's demo (see test/demo): a development
// tool built by `make demo`, never shipped in the image, since it drives
// test namespaces and the reference CNI plugins.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/podint/podint/cli/collect"
	"github.com/podint/podint/test/demo"
)

func main() {
	if err := newDemoCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "podint-demo:", err)
		os.Exit(1)
	}
}

func newDemoCmd() *cobra.Command {
	var binDir string
	var duration time.Duration
	var live bool
	var dotPath string
	var clusterView bool
	cmd := &cobra.Command{
		Use:          "podint-demo",
		SilenceUsage: true, SilenceErrors: true,
		Short: "Run a demo node (pods in network namespaces, real CNI plugins, podintd) and print its INT reports",
		Long: "demo builds two simulated nodes in network namespaces joined by a VXLAN overlay, adds pods\n" +
			"through libcni with the bridge, host-local and podint plugins, starts a podintd per node, runs a\n" +
			"traffic mix (TCP, UDP, ICMP, IPv4 and IPv6, a burst, an nftables drop and a routing miss) and\n" +
			"shows the INT reports an embedded collector receives; with PostgreSQL installed it also runs\n" +
			"podint-collector and prints the paths it joined from both nodes. It needs root. Everything is removed on\n" +
			"exit or Ctrl-C, and leftovers of a killed run are removed on the next start.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if os.Geteuid() != 0 {
				return fmt.Errorf("demo needs root (network namespaces, bpffs, TCX)")
			}
			if binDir == "" {
				exe, err := os.Executable()
				if err != nil {
					return err
				}
				binDir = filepath.Dir(exe)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return demo.Run(ctx, demo.Options{BinDir: binDir, Duration: duration, Out: cmd.OutOrStdout(),
				Live: live && collect.IsTerminal(os.Stdout), DotPath: dotPath, ClusterView: clusterView})
		},
	}
	cmd.Flags().StringVar(&binDir, "bin-dir", "", "directory with podintd, podint and the reference CNI plugins (default: podint-demo's own)")
	cmd.Flags().DurationVar(&duration, "duration", 30*time.Second, "how long to run; 0 runs until Ctrl-C")
	cmd.Flags().BoolVar(&live, "live", true, "redraw a live view on a terminal (otherwise one line per report)")
	cmd.Flags().BoolVar(&clusterView, "collector", demo.ClusterViewAvailable() == nil,
		"also run podint-collector with a private PostgreSQL and print the paths it joined (default: on when PostgreSQL is installed)")
	cmd.Flags().StringVar(&dotPath, "dot", "podint-demo-topology.dot", "write the topology as Graphviz DOT here (\"\" to skip); a PNG beside it when Graphviz is installed")
	return cmd
}
